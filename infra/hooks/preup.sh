#!/usr/bin/env bash
# azd preup hook (posix): the first thing `azd up` runs.
#  1. scripts/preflight.sh: every prerequisite of azd up, each missing one named
#     with its install command, before anything slow (the build) or billed
#     (provisioning) starts.
#  2. prepare-environment.sh: the policy check, before anything slow or billed.
# `azd provision` on its own runs step 2 and the Key Vault step (its preprovision hook).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

"$REPO_ROOT/scripts/preflight.sh"
"$REPO_ROOT/infra/hooks/prepare-environment.sh"
