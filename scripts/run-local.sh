#!/usr/bin/env bash
# Runs the MCP server locally against Azurite (local Azure Storage), behind the local APIM gateway
# (local/run-gateway.sh: the generated policies on Mono + an Entra ID stand-in). Ctrl-C stops all.
#
#   scripts/run-local.sh             server on http://127.0.0.1:7071 (PORT=8080 scripts/run-local.sh to change)
#                                    behind the local gateway on http://127.0.0.1:7080 (docs/local-gateway.md)
#   GATEWAY=0 scripts/run-local.sh   the server alone: no gateway, no token check
#
# Installs the project-local npm packages if missing (npm ci), builds the release binary (its output
# goes to target/run-local-build.log, shown when the build fails), starts Azurite on loopback with
# its data in .azurite/ (ports 10000-10002, or free ports when those are busy; devstack/azurite.py)
# and runs the server like the Functions host would (FUNCTIONS_CUSTOMHANDLER_PORT, AzureWebJobsStorage).
# One run-local.sh per Azurite directory: a second one is refused (a lock in it) instead of sharing
# its data. Ctrl-C (or SIGTERM) stops everything and exits 130 (143).
# Environment: PORT, RUST_LOG (default info), LOG_FORMAT (text|json, default text),
# SNIPPETS_MAX_BYTES, MCP_MAX_BODY_BYTES, SNIPPETS_CONTAINER are passed to the server.
# SNIPPETS_MCP_BIN=path runs that binary instead of building the release one;
# AZURITE_DIR=path keeps Azurite's data there instead of .azurite/.
# TELEMETRY=1 sends the server's traces, metrics and audit events to a local receiver that speaks
# Application Insights' ingestion protocol (devstack/ingestion.py), one JSON envelope per line in
# target/run-local-telemetry.log (docs/operations.md shows what to look for).
# GATEWAY_PORT (default 7080) is the local gateway's port. With the gateway, the server gets fresh
# session-token keys shared with it (SESSION_TOKEN_ENC_KEY/MAC_KEY, MCP_RESOURCE_URL) and so
# accepts only tokens the gateway issued.
# The gateway throttles the MCP API as API Management does (docs/local-gateway.md): at most
# MCP_RATE_LIMIT_CALLS calls per user (default 120) every MCP_RATE_LIMIT_PERIOD_SECONDS (default 60,
# at most 300); MCP_CLIENT_RATE_LIMIT_CALLS, MCP_QUOTA_CALLS, MCP_QUOTA_PERIOD_SECONDS and
# OAUTH_RATE_LIMIT_CALLS, OAUTH_RATE_LIMIT_PERIOD_SECONDS, OAUTH_TOKEN_CLIENT_RATE_LIMIT_CALLS set the
# other limits. Unset, each is the
# deployed default; the same variables set the deployed values through azd.
set -Eeuo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

PORT="${PORT:-7071}"
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }
is_port "$PORT" || die "PORT must be a TCP port number, got '$PORT'"
GATEWAY="${GATEWAY:-1}"
GATEWAY_PORT="${GATEWAY_PORT:-7080}"
[[ "$GATEWAY" == 0 || "$GATEWAY" == 1 ]] || die "GATEWAY must be 0 or 1, got '$GATEWAY'"
TELEMETRY="${TELEMETRY:-0}"
[[ "$TELEMETRY" == 0 || "$TELEMETRY" == 1 ]] || die "TELEMETRY must be 0 or 1, got '$TELEMETRY'"
is_port "$GATEWAY_PORT" || die "GATEWAY_PORT must be a TCP port number, got '$GATEWAY_PORT'"
if [[ "$GATEWAY" == 1 ]]; then
  # The throttling variables are checked now (bounds from the manifest), not after the build.
  LIMITS="$(PYTHONPATH="$REPO_ROOT" "$PYTHON" -m devstack limits)" || die "invalid throttling setting (above)"
fi

ensure_npm_deps
have cargo || die "cargo is not installed (the Rust toolchain is required: https://rustup.rs)"
have flock || die "flock is not installed (Debian package util-linux)"

# One stack per Azurite directory: a second run-local.sh must not share (or delete) its data.
AZ_DIR="${AZURITE_DIR:-$REPO_ROOT/.azurite}"
mkdir -p "$AZ_DIR"
exec {LOCK_FD}>>"$AZ_DIR/run-local.lock"
flock -n "$LOCK_FD" || die "another scripts/run-local.sh is running with ${AZ_DIR#"$REPO_ROOT/"}/ (stop it first, or give this one AZURITE_DIR=<dir>)"

port_free "$PORT" || die "port $PORT on 127.0.0.1 is in use: choose another with PORT=<port> $0"
if [[ "$GATEWAY" == 1 ]]; then
  port_free "$GATEWAY_PORT" \
    || die "port $GATEWAY_PORT on 127.0.0.1 is in use: choose another with GATEWAY_PORT=<port> $0 (or GATEWAY=0)"
  # Mono for the policy runner (local/apt-packages.txt).
  mapfile -t GW_PKGS < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$REPO_ROOT/local/apt-packages.txt")
  apt_install "${GW_PKGS[@]}"
fi

AZ_PID=""; SRV_PID=""; GW_PID=""; TEL_PID=""; STOPPED_BY=""
# stop_pid PID SECONDS: SIGTERM, wait (bounded), then SIGKILL.
# shellcheck disable=SC2329 # called from the EXIT trap
stop_pid() {
  local p="$1" i
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    warn "pid $p did not stop in $2s; killing it"
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
}
# shellcheck disable=SC2329 # the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  # Front to back: the gateway, the server (it drains in-flight calls, up to 20s, and may still talk
  # to storage), then Azurite.
  stop_pid "$GW_PID" 15
  stop_pid "$SRV_PID" 25
  stop_pid "$AZ_PID" 10
  stop_pid "$TEL_PID" 5
  if [[ -n "$STOPPED_BY" ]]; then log "stack stopped ($STOPPED_BY)"; else log "stopped"; fi
}
trap cleanup EXIT
trap 'echo; STOPPED_BY="Ctrl-C"; log "stopping (Ctrl-C)"; exit 130' INT
trap 'STOPPED_BY="SIGTERM"; log "stopping (SIGTERM)"; exit 143' TERM
# Children run in sessions of their own: a terminal's Ctrl-C reaches only this script, whose trap
# stops them in order (and reports a stop, not a crash).
SETSID=(); have setsid && SETSID=(setsid)

# --- Server binary -------------------------------------------------------------------------------
BUILD_LOG="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/run-local-build.log"
mkdir -p "$(dirname "$BUILD_LOG")"
if [[ -n "${SNIPPETS_MCP_BIN:-}" ]]; then
  BIN="$SNIPPETS_MCP_BIN"
  [[ -x "$BIN" ]] || die "SNIPPETS_MCP_BIN=$BIN is not an executable file"
else
  log "cargo build --release --bin snippets-mcp (the first build takes a few minutes; output in ${BUILD_LOG#"$REPO_ROOT/"})"
  if ! cargo build --release --bin snippets-mcp >"$BUILD_LOG" 2>&1; then
    tail -n 40 "$BUILD_LOG" >&2
    die "cargo build failed (last lines above; all of it in $BUILD_LOG)"
  fi
  BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/snippets-mcp"
fi

# --- Azurite -------------------------------------------------------------------------------------
AZ_INFO="$AZ_DIR/run-local.info"
rm -f "$AZ_INFO"
log "starting Azurite (data and log in ${AZ_DIR#"$REPO_ROOT/"}/)"
"${SETSID[@]}" env PYTHONPATH="$REPO_ROOT" "$PYTHON" -m devstack azurite --location "$AZ_DIR" --info-file "$AZ_INFO" \
  --prefer-ports 10000,10001,10002 </dev/null &
AZ_PID=$!
# devstack writes the ports it read from Azurite's log once every service answers (bounded wait).
for ((i = 0; i < 600; i++)); do
  [[ -f "$AZ_INFO" ]] && break
  kill -0 "$AZ_PID" 2>/dev/null || die "Azurite did not start (see above)"
  sleep 0.1
done
[[ -f "$AZ_INFO" ]] || die "Azurite did not start within 60s (log: $AZ_DIR/azurite.stdout.log)"
while IFS= read -r line; do
  case "${line%%=*}" in
    BLOB_PORT) BP="${line#*=}" ;; QUEUE_PORT) QP="${line#*=}" ;; TABLE_PORT) TP="${line#*=}" ;;
    CONNECTION_STRING) CONN="${line#*=}" ;;
  esac
done <"$AZ_INFO"
ok "Azurite: blob http://127.0.0.1:$BP  queue http://127.0.0.1:$QP  table http://127.0.0.1:$TP"

# --- Server --------------------------------------------------------------------------------------

if [[ "$GATEWAY" == 1 ]]; then
  # Fresh session-token keys shared by the gateway (it reads them from the environment) and the
  # server, which then checks every token a second time (docs/server.md).
  while IFS= read -r line; do
    key="${line%%=*}"
    if [[ "$key" == SESSION_TOKEN_ENC_KEY || "$key" == SESSION_TOKEN_MAC_KEY ]]; then export "$key=${line#*=}"; fi
  done < <(cargo run -q -p session-token --bin session-token-keygen 2>>"$BUILD_LOG")
  [[ -n "${SESSION_TOKEN_ENC_KEY:-}" && -n "${SESSION_TOKEN_MAC_KEY:-}" ]] || die "session-token-keygen printed no keys"
  export MCP_RESOURCE_URL="http://127.0.0.1:$GATEWAY_PORT/mcp"
fi

if [[ "$TELEMETRY" == 1 ]]; then
  TEL_LOG="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/run-local-telemetry.log"
  TEL_INFO="$(dirname "$TEL_LOG")/run-local-telemetry.info"
  rm -f "$TEL_INFO"
  "${SETSID[@]}" env PYTHONPATH="$REPO_ROOT" "$PYTHON" -m devstack.ingestion >"$TEL_LOG" 2>"$TEL_INFO" </dev/null &
  TEL_PID=$!
  for ((i = 0; i < 100; i++)); do grep -q "IngestionEndpoint=" "$TEL_INFO" 2>/dev/null && break; sleep 0.1; done
  TEL_CS="$(sed -n 's/.*(\(InstrumentationKey=[^)]*\)).*/\1/p' "$TEL_INFO")"
  [[ -n "$TEL_CS" ]] || die "the telemetry receiver did not start (see $TEL_INFO)"
  export APPLICATIONINSIGHTS_CONNECTION_STRING="$TEL_CS" TELEMETRY_FLUSH_MS="${TELEMETRY_FLUSH_MS:-1000}"
  ok "telemetry: envelopes in ${TEL_LOG#"$REPO_ROOT/"}"
fi

log "starting snippets-mcp on 127.0.0.1:$PORT"
FUNCTIONS_CUSTOMHANDLER_PORT="$PORT" AzureWebJobsStorage="$CONN" \
  RUST_LOG="${RUST_LOG:-info}" LOG_FORMAT="${LOG_FORMAT:-text}" \
  "${SETSID[@]}" "$BIN" </dev/null &
SRV_PID=$!
wait_http "http://127.0.0.1:$PORT/" 60 "$SRV_PID" || die "snippets-mcp did not answer GET / on port $PORT (log above)"

if [[ "$GATEWAY" == 1 ]]; then
  log "starting the local APIM gateway on 127.0.0.1:$GATEWAY_PORT (local/run-gateway.sh; logs in local/.state/)"
  "${SETSID[@]}" "$REPO_ROOT/local/run-gateway.sh" --backend "http://127.0.0.1:$PORT" \
    --blob-endpoint "http://127.0.0.1:$BP/devstoreaccount1" --port "$GATEWAY_PORT" </dev/null &
  GW_PID=$!
  wait_http "http://127.0.0.1:$GATEWAY_PORT/.well-known/oauth-protected-resource" 180 "$GW_PID" \
    || die "the local gateway did not start (logs in local/.state/)"
fi

INSP="scripts/lib/inspector.sh"
LOGS="Azurite ${AZ_DIR#"$REPO_ROOT/"}/azurite.stdout.log"
[[ "$GATEWAY" == 1 ]] && LOGS+=", gateway ${LOCAL_GATEWAY_STATE_DIR:-local/.state}/"
[[ -z "${SNIPPETS_MCP_BIN:-}" ]] && LOGS+=", build ${BUILD_LOG#"$REPO_ROOT/"}"
# Composed first and printed with one write: whoever watches the output sees it whole, and the
# "Logs:" line last means it is complete.
BANNER="$(
  echo
  echo "${_G}snippets-mcp is running${_N} (Ctrl-C stops everything this script started)"
  if [[ "$GATEWAY" == 1 ]]; then
    cat <<INFO
  Through the local APIM gateway (OAuth with the local Entra ID stand-in, as in Azure):
    Streamable HTTP:  http://127.0.0.1:$GATEWAY_PORT/mcp
    SSE (legacy):     http://127.0.0.1:$GATEWAY_PORT/mcp/sse
    Throttling:       $LIMITS
  The server itself (it now accepts only the gateway's session tokens):
    Streamable HTTP:  http://127.0.0.1:$PORT/mcp
    SSE (legacy):     http://127.0.0.1:$PORT/sse
  Storage:            Azurite, data in ${AZ_DIR#"$REPO_ROOT/"}/ (blob container "snippets")

MCP Inspector (project-local, Node 22), from another terminal in $REPO_ROOT:
  $INSP          (web UI: connect to http://127.0.0.1:$GATEWAY_PORT/mcp, it runs the OAuth flow)
  For the CLI without OAuth, run the server alone (GATEWAY=0 $0) and:
    $INSP --cli http://127.0.0.1:$PORT/mcp --transport http --method tools/list
INFO
  else
    cat <<INFO
  Streamable HTTP:  http://127.0.0.1:$PORT/mcp
  SSE (legacy):     http://127.0.0.1:$PORT/sse
  Storage:          Azurite, data in ${AZ_DIR#"$REPO_ROOT/"}/ (blob container "snippets")

MCP Inspector (project-local, Node 22), from another terminal in $REPO_ROOT:
  $INSP --cli http://127.0.0.1:$PORT/mcp --transport http --method tools/list
  $INSP --cli http://127.0.0.1:$PORT/sse --transport sse --method tools/call \\
      --tool-name save_snippet --tool-arg snippetname=hello --tool-arg snippet='print("hi")'
  $INSP --cli http://127.0.0.1:$PORT/mcp --transport http --method tools/call \\
      --tool-name get_snippet --tool-arg snippetname=hello
  $INSP          (web UI; connect it to one of the URLs above)
INFO
  fi
  echo
  echo "Logs: $LOGS"
)"
printf '%s\n\n' "$BANNER"

# Wait for whichever exits first; the EXIT trap stops the other one.
set +e
wait -n "$SRV_PID" "$AZ_PID" ${GW_PID:+"$GW_PID"}
rc=$?
set -e
if ! kill -0 "$SRV_PID" 2>/dev/null; then
  warn "snippets-mcp exited (status $rc)"
elif [[ -n "$GW_PID" ]] && ! kill -0 "$GW_PID" 2>/dev/null; then
  warn "the local gateway exited (status $rc; logs in local/.state/)"
else
  warn "Azurite exited (log: $AZ_DIR/azurite.stdout.log)"
fi
exit "$rc"
