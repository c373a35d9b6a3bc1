#!/usr/bin/env bash
# Rotates the session-token keys with an overlap window (docs/session-token.md, "Rotation"):
# tokens, refresh-token families and authorization codes sealed under the old keys keep opening
# until the window ends, so nobody is signed out at once.
#  1. previous <- current: the vault's session-token-previous-enc-key / -mac-key get the current keys;
#  2. session-token-previous-until <- now + the window (--window-hours, default 24);
#  3. new random current keys (32 bytes each, generated here, piped to the vault, never printed);
#  4. the Function App restarts, so its Key Vault references read the new values;
#  5. only then refreshSecret on API Management's five named values (previous ones first), so the
#     server accepts the new keys before the gateway seals anything with them.
# Run from the repository with the azd environment selected (`azd env select`) and `az login`.
# Usage: scripts/rotate-session-keys.sh [--window-hours N]
set -euo pipefail

APIM_API_VERSION=2024-05-01
WINDOW_HOURS=24

die() { printf 'rotate-session-keys: %s\n' "$*" >&2; exit 1; }
say() { printf 'rotate-session-keys: %s\n' "$*"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --window-hours)
      [[ $# -ge 2 ]] || die "--window-hours needs a value"
      WINDOW_HOURS="$2"
      shift 2
      ;;
    -h | --help)
      sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument: $1 (usage: rotate-session-keys.sh [--window-hours N])" ;;
  esac
done
# At least the one-hour session-token lifetime plus time for both sides to reload; at most 30 days.
if ! [[ "$WINDOW_HOURS" =~ ^[0-9]{1,3}$ ]] || ((WINDOW_HOURS < 2 || WINDOW_HOURS > 720)); then
  die "--window-hours must be a whole number from 2 to 720"
fi

# shellcheck source=scripts/lib/azure-env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib/azure-env.sh"

read_deployment
require_signed_in_az

KEY_RE='^[A-Za-z0-9+/]{43}=$'

# The value of a vault secret on stdout, for a variable assignment (never echoed).
read_secret() {
  local value
  value="$("$AZ" keyvault secret show --vault-name "$vault" --name "$1" --query value --output tsv 2>/dev/null)" \
    || die "reading $1 from $vault failed; nothing was changed"
  printf '%s' "${value%$'\r'}"
}

# Writes stdin to a vault secret (the value never reaches a command line).
write_secret() {
  "$AZ" keyvault secret set --vault-name "$vault" --name "$1" --file /dev/stdin --encoding utf-8 \
    --output none >/dev/null || die "writing $1 to $vault failed; $2"
}

# 32 random bytes, standard base64 (44 characters).
new_key() {
  head -c 32 /dev/urandom | base64 | tr -d '\n'
}

current_enc="$(read_secret session-token-enc-key)"
current_mac="$(read_secret session-token-mac-key)"
[[ "$current_enc" =~ $KEY_RE && "$current_mac" =~ $KEY_RE ]] \
  || die "the current session-token keys in $vault are missing or malformed; nothing was changed"

# 1. previous <- current.
printf '%s' "$current_enc" | write_secret session-token-previous-enc-key "nothing was changed yet"
printf '%s' "$current_mac" | write_secret session-token-previous-mac-key \
  "the previous keys may be half written; rerun to finish (the current keys are unchanged)"
unset current_enc current_mac
# 2. The window.
until_unix=$(($(date +%s) + WINDOW_HOURS * 3600))
printf '%s' "$until_unix" | write_secret session-token-previous-until \
  "rerun to finish (the current keys are unchanged)"
say "previous keys = the current ones, accepted until $(date -u -d "@$until_unix" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || printf '%s' "$until_unix")"
# 3. New current keys.
new_key | write_secret session-token-enc-key "the current keys are unchanged: rerun to finish"
new_key | write_secret session-token-mac-key \
  "only the new encryption key is written: write a new session-token-mac-key by hand, then restart $app and refresh the named values (a rerun would make the new key a previous one)"
say "new current keys written to $vault"

# 4. The server first: a restart makes the Function App read its Key Vault references again.
"$AZ" functionapp restart --resource-group "$rg" --name "$app" --output none \
  || die "restarting $app failed; API Management still seals with the old keys: restart $app, then rerun from refreshSecret"
say "restarted $app: it accepts the new keys and, until the window ends, the old ones"

# 5. Then the gateway: the previous pair and the window first, the current pair last.
apim_url="/subscriptions/$subscription/resourceGroups/$rg/providers/Microsoft.ApiManagement/service/$apim/namedValues"
for named_value in SessionTokenPreviousEncKey SessionTokenPreviousMacKey SessionTokenPreviousUntil SessionTokenEncKey SessionTokenMacKey; do
  "$AZ" rest --method post --output none --url "$apim_url/$named_value/refreshSecret?api-version=$APIM_API_VERSION" \
    || die "refreshSecret on $named_value failed; API Management picks the new value up within 4 hours, or rerun"
done
say "API Management reads the new keys: rotation done; the old keys stop working after the window"
