#!/usr/bin/env bash
# azd preprovision hook (posix): the policy check (prepare-environment.sh), then the Key Vault and
# its secrets (ensure-key-vault.sh), which main.bicep's deployment needs to exist already.
set -euo pipefail

HOOKS="$(cd "$(dirname "$0")" && pwd)"

"$HOOKS/prepare-environment.sh"
"$HOOKS/ensure-key-vault.sh"
