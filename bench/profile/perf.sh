#!/usr/bin/env bash
# perf record of a server under load (bench/profile/perf.py): the binary on CPU 0 beside an in-memory Azurite,
# wrk at concurrency 16 with bench/lua/mcp.lua on CPU 1, perf sampling the server with DWARF call graphs.
#
#   bench/profile/perf.sh BIN MODE [SECONDS] [OUT.data]     MODE: hello | save | get   (default 5 s,
#                                                           OUT: bench/results/perf-MODE.data)
#   perf report -i OUT.data --no-children                   then read it, or fold it for a flame graph
#
# Needs perf (Debian: linux-perf) and wrk; get mode saves the 256 names it reads (seed-0 .. seed-255) first.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 2 ]] || { sed -n '2,9p' "$0"; exit 2; }
BIN="$(realpath "$1")" MODE="$2" SECS="${3:-5}" OUT="${4:-$BENCH/results/perf-$2.data}"
case "$MODE" in hello|save|get) ;; *) echo "perf.sh: MODE must be hello, save or get" >&2; exit 2 ;; esac
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 && "$SECS" -le 120 ]] || { echo "perf.sh: SECONDS must be 1-120" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "perf.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
PY="$BENCH/.venv/bin/python"
[[ -x "$PY" ]] || PY=python3
mkdir -p "$(dirname "$OUT")"
exec "$PY" "$BENCH/profile/perf.py" "$BIN" "$MODE" "$SECS" "$OUT"
