#!/usr/bin/env bash
# azd preup hook's second step and preprovision hook's first (posix): checks that the committed
# infra/policies/ (XML, manifest.json and policy-files.bicep) is what the Rust templates render; it
# rewrites nothing (render-policies is the only generator, run by developers). Run in preup too, so
# `azd up` stops before anything slow or billed when the policies are stale.
# No key is generated here any more: the session-token keys live in the Key Vault, written once by
# the preprovision hook's second step (ensure-key-vault.sh), never through a Bicep parameter.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"

CARGO="${CARGO:-cargo}"

echo "prepare-environment: checking infra/policies/ against the policy templates"
"$CARGO" run -q --locked -p policies --bin render-policies -- --check
