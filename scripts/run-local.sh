#!/usr/bin/env bash
# Runs the MCP server locally against Azurite (local Azure Storage). Ctrl-C stops both.
#
#   scripts/run-local.sh             server on http://127.0.0.1:7071 (PORT=8080 scripts/run-local.sh to change)
#
# Installs the project-local npm packages if missing (npm ci), starts Azurite on loopback with its
# data in .azurite/ (ports 10000-10002, or free ports when those are busy), builds the release binary
# and runs it like the Functions host would (FUNCTIONS_CUSTOMHANDLER_PORT, AzureWebJobsStorage).
# Environment: PORT, RUST_LOG (default info), LOG_FORMAT (text|json, default text),
# SNIPPETS_MAX_BYTES, MCP_MAX_BODY_BYTES, SNIPPETS_CONTAINER are passed to the server.
# SNIPPETS_MCP_BIN=path runs that binary instead of building the release one;
# AZURITE_DIR=path keeps Azurite's data there instead of .azurite/.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

PORT="${PORT:-7071}"
[[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "PORT must be a TCP port number, got '$PORT'"

ensure_npm_deps
have cargo || die "cargo is not installed (the Rust toolchain is required: https://rustup.rs)"
port_free "$PORT" || die "port $PORT on 127.0.0.1 is in use: choose another with PORT=<port> $0"

AZ_PID=""; SRV_PID=""
# stop_pid PID SECONDS: SIGTERM, wait (bounded), then SIGKILL.
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
cleanup() {
  trap - EXIT INT TERM
  # The server first (it drains in-flight calls, up to 20s, and may still talk to storage), then Azurite.
  stop_pid "$SRV_PID" 25
  stop_pid "$AZ_PID" 10
  log "stopped"
}
trap cleanup EXIT
trap 'echo; log "stopping (Ctrl-C)"; exit 130' INT
trap 'log "stopping (SIGTERM)"; exit 143' TERM

# --- Azurite -------------------------------------------------------------------------------------
AZ_DIR="${AZURITE_DIR:-$REPO_ROOT/.azurite}"
mkdir -p "$AZ_DIR"
BP=10000 QP=10001 TP=10002
if ! port_free $BP || ! port_free $QP || ! port_free $TP; then
  warn "ports 10000-10002 are busy: Azurite will use free ports"
  BP=0 QP=0 TP=0
fi
AZ_LOG="$AZ_DIR/azurite.log"
log "starting Azurite (data and log in ${AZ_DIR#"$REPO_ROOT/"}/)"
# Its own session: a terminal's Ctrl-C must not stop storage under a server that is still draining.
SETSID=(); have setsid && SETSID=(setsid)
"${SETSID[@]}" node "$REPO_ROOT/node_modules/azurite/dist/src/azurite.js" \
  --location "$AZ_DIR" --disableTelemetry --skipApiVersionCheck --loose \
  --blobHost 127.0.0.1 --blobPort $BP --queueHost 127.0.0.1 --queuePort $QP \
  --tableHost 127.0.0.1 --tablePort $TP >"$AZ_LOG" 2>&1 </dev/null &
AZ_PID=$!

# Port 0 means "any free port": read the real ones from Azurite's log (bounded wait).
for ((i = 0; i < 600; i++)); do
  kill -0 "$AZ_PID" 2>/dev/null || { cat "$AZ_LOG" >&2; die "Azurite exited (log above)"; }
  n="$(grep -c 'successfully listening' "$AZ_LOG" || true)"
  ((n >= 3)) && break
  sleep 0.1
done
((n >= 3)) || { cat "$AZ_LOG" >&2; die "Azurite did not start within 60s"; }
port_of() { sed -n "s|.*Azurite $1 service is successfully listening at http://127.0.0.1:\([0-9]*\).*|\1|p" "$AZ_LOG" | tail -1; }
BP="$(port_of Blob)" QP="$(port_of Queue)" TP="$(port_of Table)"
CONN="$(azurite_connection_string "$BP" "$QP" "$TP")"
ok "Azurite: blob http://127.0.0.1:$BP  queue http://127.0.0.1:$QP  table http://127.0.0.1:$TP"

# --- Server --------------------------------------------------------------------------------------
if [[ -n "${SNIPPETS_MCP_BIN:-}" ]]; then
  BIN="$SNIPPETS_MCP_BIN"
  [[ -x "$BIN" ]] || die "SNIPPETS_MCP_BIN=$BIN is not an executable file"
else
  log "cargo build --release --bin snippets-mcp"
  cargo build --release --bin snippets-mcp
  BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/snippets-mcp"
fi

log "starting snippets-mcp on 127.0.0.1:$PORT"
FUNCTIONS_CUSTOMHANDLER_PORT="$PORT" AzureWebJobsStorage="$CONN" \
  RUST_LOG="${RUST_LOG:-info}" LOG_FORMAT="${LOG_FORMAT:-text}" \
  "$BIN" </dev/null &
SRV_PID=$!
wait_http "http://127.0.0.1:$PORT/" 60 "$SRV_PID" || die "snippets-mcp did not answer GET / on port $PORT (log above)"

cat <<INFO

${_G}snippets-mcp is running${_N} (Ctrl-C stops it and Azurite)
  Streamable HTTP:  http://127.0.0.1:$PORT/mcp
  SSE (legacy):     http://127.0.0.1:$PORT/sse
  Storage:          Azurite, data in ${AZ_DIR#"$REPO_ROOT/"}/ (blob container "snippets")

MCP Inspector (project-local, Node 22), from another terminal in $REPO_ROOT:
  scripts/lib/inspector.sh --cli http://127.0.0.1:$PORT/mcp --transport http --method tools/list
  scripts/lib/inspector.sh --cli http://127.0.0.1:$PORT/sse --transport sse --method tools/call \\
      --tool-name save_snippet --tool-arg snippetname=hello --tool-arg snippet='print("hi")'
  scripts/lib/inspector.sh --cli http://127.0.0.1:$PORT/mcp --transport http --method tools/call \\
      --tool-name get_snippet --tool-arg snippetname=hello
  scripts/lib/inspector.sh          (web UI; connect it to one of the URLs above)

INFO

# Wait for whichever exits first; the EXIT trap stops the other one.
set +e
wait -n "$SRV_PID" "$AZ_PID"
rc=$?
set -e
if ! kill -0 "$SRV_PID" 2>/dev/null; then warn "snippets-mcp exited (status $rc)"; else warn "Azurite exited (log: $AZ_LOG)"; fi
exit "$rc"
