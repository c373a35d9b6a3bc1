#!/usr/bin/env bash
# azd preprovision hook, second half (posix): the Key Vault and its secrets, before main.bicep.
#
# The vault is the system of record of the session-token keys and of the host key API Management
# calls the Function App with. Its secrets must exist before main.bicep runs: API Management
# fetches a Key Vault named value's secret when the named value is created, and the Function
# App's and API Management's roles are scoped to single secrets. So this hook
#  1. recovers this environment's vault if `azd down` left it soft-deleted (purge protection keeps
#     its name taken until the retention period ends; recovering it also keeps the keys);
#  2. deploys infra/key-vault.bicep: the resource group and the vault exactly as main.bicep
#     declares them, and the deployer's Key Vault Secrets Officer role on the vault;
#  3. writes each secret only when the vault lacks it: new session-token keys (32 random bytes,
#     standard base64, generated here and piped to az, never on a command line, never printed,
#     never stored in .azure/), `none` / `0` for the previous keys of a rotation, and a placeholder
#     host key that the postdeploy hook replaces.
# A provision from another machine, with an empty .azure/, finds the secrets and writes none.
# Needs the Azure CLI, signed in to the tenant azd uses (`az login`).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# Seconds to wait between attempts while a new role assignment propagates (tests set 0).
RBAC_WAIT_SECONDS="${RBAC_WAIT_SECONDS:-10}"
RBAC_ATTEMPTS="${RBAC_ATTEMPTS:-30}"

# Secret names: infra/core/security/key-vault-secrets.bicep (tests/infra checks they match).
SESSION_KEYS=(session-token-enc-key session-token-mac-key)
PREVIOUS_KEYS=(session-token-previous-enc-key session-token-previous-mac-key)
PREVIOUS_UNTIL=session-token-previous-until
FUNCTION_KEY='apim-function-key'
# Until the postdeploy hook stores the real host key, the backend answers API Management 401.
FUNCTION_KEY_PLACEHOLDER=unbound-until-first-deploy

die() { printf 'ensure-key-vault: %s\n' "$*" >&2; exit 1; }
say() { printf 'ensure-key-vault: %s\n' "$*"; }

# shellcheck source=scripts/lib/azure-env.sh
source "$REPO_ROOT/scripts/lib/azure-env.sh"

env_name="$(env_value AZURE_ENV_NAME)"
location="$(env_value AZURE_LOCATION)"
subscription="$(env_value AZURE_SUBSCRIPTION_ID)"
rg_name="$(env_value AZURE_RESOURCE_GROUP_NAME)"
require AZURE_ENV_NAME "$env_name" '^[A-Za-z0-9][-A-Za-z0-9_]{0,63}$'
require AZURE_LOCATION "$location" '^[a-z0-9]{1,40}$'
require AZURE_SUBSCRIPTION_ID "$subscription" '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
[[ -z "$rg_name" || "$rg_name" =~ ^[A-Za-z0-9._()][-A-Za-z0-9._()]{0,89}$ ]] || die "AZURE_RESOURCE_GROUP_NAME is not a valid name"

require_signed_in_az

# The signed-in principal, as azd sees it (AZURE_PRINCIPAL_TYPE: User, or ServicePrincipal in CI).
principal_type="User"
if [[ "$("$AZ" account show --query user.type --output tsv 2>/dev/null)" == "servicePrincipal" ]]; then
  principal_type="ServicePrincipal"
  client_id="$("$AZ" account show --query user.name --output tsv)"
  principal_id="$("$AZ" ad sp show --id "$client_id" --query id --output tsv)"
else
  principal_id="$("$AZ" ad signed-in-user show --query id --output tsv)"
fi
principal_id="${principal_id%$'\r'}"
require "the signed-in principal's object id" "$principal_id" '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'

# 1. A vault of this environment that `azd down` deleted: recover it (and its keys).
deleted="$("$AZ" keyvault list-deleted --subscription "$subscription" --resource-type vault \
  --query "[?properties.tags.\"azd-env-name\"=='$env_name' && properties.location=='$location'].name" \
  --output tsv 2>/dev/null || true)"
deleted="${deleted%$'\r'}"
if [[ -n "$deleted" ]]; then
  [[ "$deleted" =~ ^[A-Za-z0-9-]{3,24}$ ]] || die "unexpected deleted vault name"
  say "recovering the soft-deleted vault $deleted of this environment"
  "$AZ" keyvault recover --subscription "$subscription" --name "$deleted" --output none \
    || die "recovering the vault $deleted failed"
fi

# 2. The vault as main.bicep declares it.
say "deploying the Key Vault (infra/key-vault.bicep)"
vault="$("$AZ" deployment sub create --subscription "$subscription" --location "$location" \
  --name "$env_name-key-vault" --template-file "$REPO_ROOT/infra/key-vault.bicep" \
  --parameters environmentName="$env_name" location="$location" resourceGroupName="$rg_name" \
  principalId="$principal_id" principalType="$principal_type" \
  --query properties.outputs.AZURE_KEY_VAULT_NAME.value --output tsv)" || die "deploying infra/key-vault.bicep failed"
vault="${vault%$'\r'}"
[[ "$vault" =~ ^[A-Za-z0-9-]{3,24}$ ]] || die "the Key Vault deployment returned no vault name"

# 3. Each secret, only when absent. `secret show` exits non-zero both for a missing secret and
# while the deployer's new role is still propagating; only SecretNotFound means absent.
secret_exists() {
  local name="$1" attempt err
  for ((attempt = 1; attempt <= RBAC_ATTEMPTS; attempt++)); do
    if err="$("$AZ" keyvault secret show --vault-name "$vault" --name "$name" --query id --output none 2>&1)"; then
      return 0
    fi
    case "$err" in
      *SecretNotFound* | *"was not found"*) return 1 ;;
      *Forbidden* | *"not authorized"*) sleep "$RBAC_WAIT_SECONDS" ;;
      *) die "reading secret $name of $vault failed" ;;
    esac
  done
  die "no access to the secrets of $vault after $RBAC_ATTEMPTS attempts (role assignment not propagated?)"
}

# The value comes on stdin and goes to az through a file descriptor: never an argument.
write_secret() {
  local name="$1"
  "$AZ" keyvault secret set --vault-name "$vault" --name "$name" --file /dev/stdin --encoding utf-8 \
    --output none >/dev/null || die "writing secret $name of $vault failed"
  say "wrote $name"
}

new_key() {
  head -c 32 /dev/urandom | base64 | tr -d '\n'
}

written=0
for name in "${SESSION_KEYS[@]}"; do
  if ! secret_exists "$name"; then
    new_key | write_secret "$name"
    written=$((written + 1))
  fi
done
for name in "${PREVIOUS_KEYS[@]}"; do
  if ! secret_exists "$name"; then
    printf '%s' none | write_secret "$name"
    written=$((written + 1))
  fi
done
if ! secret_exists "$PREVIOUS_UNTIL"; then
  printf '%s' 0 | write_secret "$PREVIOUS_UNTIL"
  written=$((written + 1))
fi
if ! secret_exists "$FUNCTION_KEY"; then
  printf '%s' "$FUNCTION_KEY_PLACEHOLDER" | write_secret "$FUNCTION_KEY"
  written=$((written + 1))
fi
say "$vault holds every secret ($written written, the others kept)"
