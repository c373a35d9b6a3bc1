# shellcheck shell=bash
# The deployed environment as the azd hooks and operator scripts that drive `az` read it: values
# from the azd environment, each checked against what Azure allows in that name before it reaches
# a command line, and the Azure CLI checked to be there and signed in. Source it after defining
# die() (each caller names itself in its messages); do not run it.

AZD="${AZD:-azd}"
AZ="${AZ:-az}"

# A value of the azd environment, empty when it has none.
env_value() {
  "$AZD" env get-value "$1" 2>/dev/null || true
}

# Every value reaches an az command line: accept only what Azure itself allows in these names (and
# nothing that could become an option). REQUIRE_HINT, if set, says what to do when one is missing.
require() {
  local name="$1" value="$2" pattern="$3"
  [[ -n "$value" ]] || die "$name is not set in the azd environment${REQUIRE_HINT:-}"
  [[ "$value" =~ $pattern ]] || die "$name in the azd environment is not a valid name: refusing to use it"
}

# rg, app, apim, vault and subscription of a provisioned deployment, from its azd outputs.
read_deployment() {
  REQUIRE_HINT=' (run azd provision first)'
  rg="$(env_value AZURE_RESOURCE_GROUP)"
  app="$(env_value SERVICE_API_NAME)"
  apim="$(env_value AZURE_APIM_NAME)"
  vault="$(env_value AZURE_KEY_VAULT_NAME)"
  subscription="$(env_value AZURE_SUBSCRIPTION_ID)"
  require AZURE_RESOURCE_GROUP "$rg" '^[A-Za-z0-9._()][-A-Za-z0-9._()]{0,89}$'
  require SERVICE_API_NAME "$app" '^[A-Za-z0-9][-A-Za-z0-9]{0,58}[A-Za-z0-9]$'
  require AZURE_APIM_NAME "$apim" '^[A-Za-z][-A-Za-z0-9]{0,48}[A-Za-z0-9]$'
  require AZURE_KEY_VAULT_NAME "$vault" '^[A-Za-z][-A-Za-z0-9]{1,22}[A-Za-z0-9]$'
  require AZURE_SUBSCRIPTION_ID "$subscription" '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
}

require_signed_in_az() {
  command -v "$AZ" >/dev/null || die "the Azure CLI (az) is required: https://aka.ms/azure-cli, then az login"
  "$AZ" account show --output none 2>/dev/null || die "the Azure CLI is not signed in: run az login (same tenant as azd)"
}
