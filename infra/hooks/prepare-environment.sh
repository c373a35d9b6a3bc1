#!/usr/bin/env bash
# azd preup and preprovision hook (posix).
# `azd up` resolves the Bicep parameters (main.parameters.json) before its
# provision step runs the preprovision hook, so the keys are generated in
# preup; preprovision runs the same script for a standalone `azd provision`.
# Idempotent: the second run in one `azd up` finds the keys and keeps them.
#  1. Session token keys: generated once per azd environment, only when absent,
#     and stored as azd environment values (.azure/<env>/.env, git-ignored).
#     Existing keys are never overwritten: rotating them invalidates every
#     session token, so that is a deliberate manual step (docs/deploy.md).
#  2. Checks that the committed infra/policies/ (XML, manifest.json and
#     policy-files.bicep) is what the Rust templates render; it rewrites
#     nothing (render-policies is the only generator, run by developers).
# The key values are never printed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"

AZD="${AZD:-azd}"
CARGO="${CARGO:-cargo}"
ENC=SESSION_TOKEN_ENC_KEY
MAC=SESSION_TOKEN_MAC_KEY

# Prints the value of an azd environment key, or nothing when it is unset
# (`azd env get-value` exits non-zero for a missing key on recent versions and
# prints an empty line on older ones).
env_value() {
  "$AZD" env get-value "$1" 2>/dev/null || true
}

# A key is 32 random bytes in standard base64: 44 characters ending in '='.
valid_key() {
  [[ "$1" =~ ^[A-Za-z0-9+/]{43}=$ ]]
}

enc="$(env_value "$ENC")"
mac="$(env_value "$MAC")"

if [[ -n "$enc" && -n "$mac" ]]; then
  valid_key "$enc" || { echo "prepare-environment: $ENC in the azd environment is not base64 of 32 bytes; fix or unset it (azd env set $ENC \"\")" >&2; exit 1; }
  valid_key "$mac" || { echo "prepare-environment: $MAC in the azd environment is not base64 of 32 bytes; fix or unset it (azd env set $MAC \"\")" >&2; exit 1; }
  echo "prepare-environment: session token keys already set in this azd environment (kept)"
elif [[ -n "$enc" || -n "$mac" ]]; then
  echo "prepare-environment: only one of $ENC / $MAC is set in this azd environment; refusing to generate the other." >&2
  echo "prepare-environment: set both, or unset both to generate a new pair (this invalidates existing sessions)." >&2
  exit 1
else
  echo "prepare-environment: generating session token keys for this azd environment"
  out="$("$CARGO" run -q --locked -p session-token --bin session-token-keygen)"
  new_enc=""; new_mac=""
  while IFS= read -r line; do
    case "$line" in
      "$ENC="*) new_enc="${line#"$ENC="}" ;;
      "$MAC="*) new_mac="${line#"$MAC="}" ;;
    esac
  done <<<"$out"
  if ! valid_key "$new_enc" || ! valid_key "$new_mac"; then
    echo "prepare-environment: session-token-keygen printed no valid key pair" >&2
    exit 1
  fi
  [[ "$new_enc" != "$new_mac" ]] || { echo "prepare-environment: keygen returned identical keys" >&2; exit 1; }
  "$AZD" env set "$ENC" "$new_enc" >/dev/null
  "$AZD" env set "$MAC" "$new_mac" >/dev/null
  echo "prepare-environment: stored $ENC and $MAC in the azd environment"
fi

echo "prepare-environment: checking infra/policies/ against the policy templates"
"$CARGO" run -q --locked -p policies --bin render-policies -- --check
