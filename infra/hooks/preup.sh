#!/usr/bin/env bash
# azd preup hook (posix): the first thing `azd up` runs.
#  1. scripts/preflight.sh: every prerequisite of azd up, each missing one named
#     with its install command, before anything slow (the build) or billed
#     (provisioning) starts.
#  2. prepare-environment.sh: session token keys and the policy check, which must
#     happen before azd resolves the Bicep parameters (see that script).
# `azd provision` on its own runs only step 2 (its preprovision hook).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

"$REPO_ROOT/scripts/preflight.sh"
"$REPO_ROOT/infra/hooks/prepare-environment.sh"
