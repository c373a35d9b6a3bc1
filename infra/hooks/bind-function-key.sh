#!/usr/bin/env bash
# azd postdeploy hook (posix): gives API Management the Function App's key.
#
# The Functions host serves its keys only once code is deployed (on Flex
# Consumption, host keys cannot be read or set before the first deployment),
# so provisioning creates the McpFunctionKey named value with a placeholder.
# After each deployment this hook reads the host's default key, stores it in
# the azd environment (MCP_FUNCTION_KEY, so later provisions pass it back to
# Bicep instead of the placeholder) and writes it into the named value.
# Needs the Azure CLI, signed in (`az login`). The key is never printed.
set -euo pipefail

AZD="${AZD:-azd}"
AZ="${AZ:-az}"
NAMED_VALUE=McpFunctionKey

die() { printf 'bind-function-key: %s\n' "$*" >&2; exit 1; }

env_value() {
  "$AZD" env get-value "$1" 2>/dev/null || true
}

# Every value below reaches an az command line: accept only what Azure
# itself allows in these names (and nothing that could become an option).
require() {
  local name="$1" value="$2" pattern="$3"
  [[ -n "$value" ]] || die "$name is not set in the azd environment (run azd provision first)"
  [[ "$value" =~ $pattern ]] || die "$name in the azd environment is not a valid name: refusing to use it"
}

rg="$(env_value AZURE_RESOURCE_GROUP)"
app="$(env_value SERVICE_API_NAME)"
apim="$(env_value AZURE_APIM_NAME)"
require AZURE_RESOURCE_GROUP "$rg" '^[A-Za-z0-9._()][-A-Za-z0-9._()]{0,89}$'
require SERVICE_API_NAME "$app" '^[A-Za-z0-9][-A-Za-z0-9]{0,58}[A-Za-z0-9]$'
require AZURE_APIM_NAME "$apim" '^[A-Za-z][-A-Za-z0-9]{0,48}[A-Za-z0-9]$'

command -v "$AZ" >/dev/null || die "the Azure CLI (az) is required: https://aka.ms/azure-cli, then az login"
"$AZ" account show --output none 2>/dev/null || die "the Azure CLI is not signed in: run az login (same tenant as azd)"

key="$("$AZ" functionapp keys list --resource-group "$rg" --name "$app" \
  --query functionKeys.default --output tsv 2>/dev/null || true)"
key="${key%$'\r'}"
[[ -n "$key" ]] || die "the Function App $app has no default host key yet (is the deployment finished? rerun: azd hooks run postdeploy)"
[[ "$key" =~ ^[A-Za-z0-9_=-]{20,200}$ ]] || die "the default host key of $app has an unexpected form: not binding it"

if [[ "$(env_value MCP_FUNCTION_KEY)" != "$key" ]]; then
  "$AZD" env set MCP_FUNCTION_KEY "$key" >/dev/null
fi
"$AZ" apim nv update --resource-group "$rg" --service-name "$apim" \
  --named-value-id "$NAMED_VALUE" --secret true --value "$key" --output none \
  || die "updating the named value $NAMED_VALUE of $apim failed"
echo "bind-function-key: $NAMED_VALUE of $apim now holds the default host key of $app"
