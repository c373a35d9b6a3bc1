#!/usr/bin/env bash
# azd postdown hook (posix): removes the Entra app registration for good.
#
# The app registration is a Microsoft Graph object, not an Azure resource, so
# `azd down` (which deletes the resource group) leaves it behind. Deleting it
# is not enough either: Entra keeps a deleted application for 30 days in its
# deleted items, and a soft-deleted application still holds its uniqueName.
# The template names it snippets-mcp-<token>, the same for every deployment
# of one azd environment, so the next `azd up` in that environment would fail
# with "Another object with the same value for property uniqueName already
# exists". This hook therefore
#  1. deletes the application (az ad app delete), then
#  2. deletes it permanently from the deleted items
#     (DELETE https://graph.microsoft.com/v1.0/directory/deletedItems/<object id>),
#     which frees the uniqueName at once.
# An application deleted earlier by hand is found in the deleted items by its
# appId and purged the same way. If the permanent delete is refused (your
# account may delete the app but not purge it), the hook stores the next
# ENTRA_APP_GENERATION in the azd environment instead: the next `azd up`
# then names the new app snippets-mcp-<token>-g<N>, which is free.
#
# Runs after `azd down` succeeded (azd runs post-hooks only then), and on its
# own: `azd hooks run postdown`. Needs the Azure CLI, signed in to the tenant
# of the app registration.
set -euo pipefail

AZD="${AZD:-azd}"
AZ="${AZ:-az}"
GRAPH="https://graph.microsoft.com/v1.0"
# Entra replicates a deletion before the deleted item can be purged: retry.
PURGE_ATTEMPTS="${PURGE_ATTEMPTS:-6}"
PURGE_WAIT_SECS="${PURGE_WAIT_SECS:-10}"

log() { printf 'delete-entra-app: %s\n' "$*"; }
die() { printf 'delete-entra-app: %s\n' "$*" >&2; exit 1; }

env_value() {
  "$AZD" env get-value "$1" 2>/dev/null || true
}

GUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

app_id="$(env_value ENTRA_APP_CLIENT_ID)"
app_id="${app_id%$'\r'}"
if [[ -z "$app_id" ]]; then
  log "no ENTRA_APP_CLIENT_ID in this azd environment: no app registration to delete"
  exit 0
fi
# The value reaches az and a URL: accept only a GUID.
[[ "$app_id" =~ $GUID_RE ]] || die "ENTRA_APP_CLIENT_ID in the azd environment is not a GUID: refusing to use it"

command -v "$AZ" >/dev/null || die "the Azure CLI (az) is required: https://aka.ms/azure-cli, then az login"
"$AZ" account show --output none 2>/dev/null || die "the Azure CLI is not signed in: run az login (the tenant of the app registration)"

object_id="$("$AZ" ad app show --id "$app_id" --query id --output tsv 2>/dev/null || true)"
object_id="${object_id%$'\r'}"
if [[ -n "$object_id" ]]; then
  [[ "$object_id" =~ $GUID_RE ]] || die "az ad app show returned an unexpected object id: stopping"
  "$AZ" ad app delete --id "$app_id" || die "deleting the app registration $app_id failed (you must own it or be an application administrator)"
  log "deleted the app registration $app_id (it is now in Entra's deleted items)"
else
  # Already deleted (by hand, or by an earlier run that could not purge it).
  object_id="$("$AZ" rest --method GET \
    --url "$GRAPH/directory/deletedItems/microsoft.graph.application?\$filter=appId eq '$app_id'&\$select=id,appId" \
    --query 'value[0].id' --output tsv 2>/dev/null || true)"
  object_id="${object_id%$'\r'}"
  if [[ -z "$object_id" ]]; then
    log "the app registration $app_id no longer exists, not even in the deleted items: nothing to do"
    exit 0
  fi
  [[ "$object_id" =~ $GUID_RE ]] || die "the deleted items returned an unexpected object id: stopping"
  log "the app registration $app_id was already deleted; purging it from the deleted items"
fi

for ((attempt = 1; attempt <= PURGE_ATTEMPTS; attempt++)); do
  if "$AZ" rest --method DELETE --url "$GRAPH/directory/deletedItems/$object_id" --output none 2>/dev/null; then
    log "permanently deleted the app registration $app_id: its unique name is free for the next azd up"
    exit 0
  fi
  if ((attempt < PURGE_ATTEMPTS)); then sleep "$PURGE_WAIT_SECS"; fi
done

# Could not purge: make the next deployment of this environment use a new name.
generation="$(env_value ENTRA_APP_GENERATION)"
generation="${generation%$'\r'}"
[[ "$generation" =~ ^[0-9]{1,4}$ ]] || generation=1
next=$((10#$generation + 1))
"$AZD" env set ENTRA_APP_GENERATION "$next" >/dev/null
printf 'delete-entra-app: could not delete %s permanently (it stays in the deleted items for 30 days and keeps its unique name).\n' "$app_id" >&2
printf 'delete-entra-app: the next azd up in this environment creates the app as generation %s under a new unique name.\n' "$next" >&2
printf 'delete-entra-app: to purge it yourself (Application Administrator): az rest --method DELETE --url %s/directory/deletedItems/%s\n' "$GRAPH" "$object_id" >&2
