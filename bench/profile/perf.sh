#!/usr/bin/env bash
# perf record of a server under load: the binary on CPU 0 beside an in-memory Azurite (plain HTTP connection
# string), wrk at concurrency 16 with bench/lua/mcp.lua on CPU 1, perf sampling the server's threads with
# DWARF call graphs for the measured seconds (after a 2 s warm-up).
#
#   bench/profile/perf.sh BIN MODE [SECONDS] [OUT.data]     MODE: hello | save | get   (default 5 s,
#                                                           OUT: bench/results/perf-MODE.data)
#   perf report -i OUT.data --no-children                   then read it, or fold it for a flame graph
#
# Needs perf (Debian: linux-perf) and wrk; get mode saves the 256 names it reads (seed-0 .. seed-255) first.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(dirname "$BENCH")"
[[ $# -ge 2 ]] || { sed -n '2,10p' "$0"; exit 2; }
BIN="$(realpath "$1")" MODE="$2" SECS="${3:-5}" OUT="${4:-$BENCH/results/perf-$2.data}"
case "$MODE" in hello|save|get) ;; *) echo "perf.sh: MODE must be hello, save or get" >&2; exit 2 ;; esac
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 && "$SECS" -le 120 ]] || { echo "perf.sh: SECONDS must be 1-120" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "perf.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
PY="$BENCH/.venv/bin/python"
[[ -x "$PY" ]] || PY=python3
mkdir -p "$(dirname "$OUT")"
WORK="$(mktemp -d)"
AZ_PID="" SERVER_PID=""
cleanup() {
  local pid
  for pid in "$SERVER_PID" "$AZ_PID"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Azurite through the repository's dev stack, until this script ends it (SIGTERM stops Azurite too).
"$PY" - "$ROOT" "$WORK" <<'PY' &
import signal, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from devstack.azurite import Azurite
work = Path(sys.argv[2])
az = Azurite(work / "azurite", log_dir=work, services=("blob",), in_memory=True, silent=True).start(timeout=60)
signal.signal(signal.SIGTERM, lambda *_: (az.stop(), sys.exit(0)))
(work / "conn.tmp").write_text(az.connection_string())
(work / "conn.tmp").rename(work / "conn")
while True:
    time.sleep(1)
PY
AZ_PID=$!
for _ in $(seq 600); do [[ -f "$WORK/conn" ]] && break; sleep 0.1; done
[[ -f "$WORK/conn" ]] || { echo "perf.sh: Azurite did not start (logs in $WORK)" >&2; exit 1; }

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env -i PATH="$PATH" HOME="$HOME" AzureWebJobsStorage="$(cat "$WORK/conn")" \
  taskset -c 0 "$BIN" --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Ready once tools/list answers; get mode then saves the names it reads, through the server itself.
"$PY" - "$PORT" "$MODE" <<'PY'
import http.client, json, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2025-06-18"}
def call(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", "/mcp", json.dumps(body), headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()
end = time.monotonic() + 60
while True:
    try:
        if call({"jsonrpc": "2.0", "id": 0, "method": "tools/list"})[0] == 200:
            break
    except OSError:
        pass
    if time.monotonic() > end:
        sys.exit("perf.sh: the server did not answer tools/list within 60 s")
    time.sleep(0.1)
if mode == "get":
    snippet = 'fn main() { println!("hello, snippets"); }\n' * 24
    for i in range(256):
        status, text = call({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
            "name": "save_snippet", "arguments": {"snippetname": f"seed-{i}", "snippet": snippet}}})
        if status != 200 or b'"isError":true' in text:
            sys.exit(f"perf.sh: seeding seed-{i} failed: {status} {text[:200]!r}")
PY

load() {  # $1 = duration, $2 = name tag (saves of the two runs write different names)
  taskset -c 1 wrk -t1 -c16 -d"$1" --timeout 10s -s "$BENCH/lua/mcp.lua" "http://127.0.0.1:$PORT" \
    -- "$MODE" /mcp "" "" "$2"
}
load 2s warm >/dev/null
perf record -F 999 -g --call-graph dwarf,16384 -p "$SERVER_PID" -o "$OUT" -- sleep "$SECS" 2>"$WORK/perf.log" &
PERF_PID=$!
load "${SECS}s" perf | grep -v '^BENCHJSON' | tail -n 4
wait "$PERF_PID" || { cat "$WORK/perf.log" >&2; exit 1; }
echo "perf.sh: $OUT ($MODE, ${SECS} s at concurrency 16); perf report -i $OUT --no-children"
