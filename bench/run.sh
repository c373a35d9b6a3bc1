#!/usr/bin/env bash
# The benchmark: snippets-mcp (Rust) against the official Python and TypeScript MCP SDKs and the limits
# (raw blob operations on Azurite, a minimal axum JSON echo), all on this machine, one server at a time.
#
#   bench/run.sh            full run (~30 min): 3 interleaved repetitions, 5 s per load point (+1 s warm-up),
#                           10 cold starts, 10,000 SSE sessions, 4 window pairs per comparison (hello_mcp vs
#                           the echo limit and each peer, storage vs the raw operation); every figure the median of the
#                           repetitions; instructions per call once
#   bench/run.sh --quick    quick run (~10 min): 3 repetitions, 2 s per point (no warm-up), 3 cold starts,
#                           1,000 SSE sessions, 2 window pairs
#   options: --reps N   --only rust,python,ts   --skip cold,load,limits,pairs,sse,instructions,package
#            --instr-runs N   --no-render
#   env:     BENCH_SERVER_CPUS / BENCH_LOAD_CPUS / BENCH_AZURITE_CPUS (taskset lists), BENCH_WRK_THREADS,
#            BENCH_NO_BUILD=1 (measure the existing target/release binary), BENCH_SKIP_PACKAGE_SH=1
#
# Installs what it needs project-locally (wrk, valgrind from Debian, bench/.venv, bench/node_modules, the root
# node_modules for Azurite), builds the release binaries (the baseline one once: bench/baseline.sh), writes
# bench/results/<stamp>-<mode>.json and renders docs/benchmarks.md + docs/benchmarks/*.png from it.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
cd "$ROOT"

MODE=full
HARNESS_ARGS=()
RENDER=1
CMDLINE="bench/run.sh${*:+ $*}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --only|--skip|--reps|--instr-runs) HARNESS_ARGS+=("$1" "$2"); shift ;;
    --no-render) RENDER=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '==> bench: %s\n' "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Many SSE streams need many descriptors, in the client and in every server (children inherit it).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open-file limit $(ulimit -n)"

# --- tools from Debian: wrk (load), taskset (util-linux), openssl (the per-run CA for Azurite's HTTPS),
# valgrind (callgrind: instructions per call) --------------------------------------------------------
if ! command -v wrk >/dev/null || ! command -v taskset >/dev/null || ! command -v openssl >/dev/null \
   || ! command -v callgrind_control >/dev/null; then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  log "installing wrk, valgrind from Debian"
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk util-linux openssl valgrind >/dev/null; }; then
    die "apt-get install wrk valgrind failed"
  fi
fi

# --- Python: bench/.venv (the Python peer + harness + matplotlib) ---------------------------------
PY="$BENCH/.venv/bin/python"
[[ -x "$PY" ]] || { log "creating bench/.venv"; python3 -m venv "$BENCH/.venv"; }
REQ_SUM="$(cat "$BENCH/requirements.txt" "$BENCH/servers/python/requirements.txt" | sha256sum | cut -c1-16)"
if [[ "$(cat "$BENCH/.venv/.bench-req" 2>/dev/null)" != "$REQ_SUM" ]]; then
  log "installing bench/requirements.txt into bench/.venv"
  (cd "$BENCH" && "$PY" -m pip install -q --disable-pip-version-check -r requirements.txt) || die "pip install failed"
  echo "$REQ_SUM" > "$BENCH/.venv/.bench-req"
fi

# --- Node: bench/node_modules (the TypeScript peer), root node_modules (Azurite) ------------------
# Whether node_modules holds every package of package-lock.json at its version (npm's hidden lock file
# records what is installed). By content, not mtime: a fresh checkout's lock file is newer than any install.
installed_per_lock() {
  "$PY" - "$1" <<'PY'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
try:
    want = json.loads((d / "package-lock.json").read_text())["packages"]
    have = json.loads((d / "node_modules" / ".package-lock.json").read_text())["packages"]
except (OSError, ValueError, KeyError):
    sys.exit(1)
missing = [k for k, v in want.items() if k and not v.get("optional")
           and have.get(k, {}).get("version") != v.get("version")]
sys.exit(1 if missing else 0)
PY
}
if ! installed_per_lock "$BENCH"; then
  # npm ci empties node_modules first: through a symlink that would wipe an install others share.
  [[ -L "$BENCH/node_modules" ]] && die "bench/node_modules is a symlink ($(readlink "$BENCH/node_modules")) \
and does not match bench/package-lock.json: run npm ci where it points"
  log "npm ci in bench/"
  (cd "$BENCH" && npm ci --no-audit --no-fund --silent) || die "npm ci in bench/ failed"
fi
if [[ ! -x "$ROOT/node_modules/.bin/azurite-blob" ]]; then
  log "npm ci at the repository root (Azurite)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --silent) || die "npm ci at the root failed"
fi

# --- Rust: the server under test and the echo limit, release builds -------------------------------
if [[ -n "${BENCH_NO_BUILD:-}" && -x "$ROOT/target/release/snippets-mcp" ]]; then
  log "BENCH_NO_BUILD set: measuring the existing target/release/snippets-mcp"
else
  log "cargo build --release --bin snippets-mcp"
  cargo build --release --bin snippets-mcp --quiet || die "release build of snippets-mcp failed"
fi
# The binary the CPU-per-call goals compare with (the commit before the performance work), built once.
if BASELINE_BIN="$("$BENCH/baseline.sh")"; then
  export BENCH_BASELINE_BIN="$BASELINE_BIN"
else
  log "no baseline binary (see above): the CPU-per-call goals will say not measured"
  export BENCH_BASELINE_BIN=""
fi
log "cargo build --release bench/echo (CARGO_TARGET_DIR=bench/target)"
CARGO_TARGET_DIR="$BENCH/target" cargo build --release --locked --quiet --manifest-path "$BENCH/echo/Cargo.toml" \
  || die "release build of bench/echo failed"

# --- the deployment package, as azd builds it -------------------------------------------------------
export BENCH_PACKAGE_DIR=""
if [[ -x "$ROOT/scripts/package.sh" && -z "${BENCH_SKIP_PACKAGE_SH:-}" ]]; then
  log "scripts/package.sh (function_app/)"
  if timeout 1200 "$ROOT/scripts/package.sh" >"$BENCH/.package.log" 2>&1; then
    BENCH_PACKAGE_DIR="$ROOT/function_app"
  else
    log "scripts/package.sh failed (see bench/.package.log): sizing host.json + target/release/snippets-mcp instead"
  fi
fi

# --- measure, then render (the harness pins itself to the load CPUs: BENCH_*_CPUS, bench/README.md) ---------
log "measuring ($MODE mode)"
"$PY" "$BENCH/harness/bench.py" --mode "$MODE" --command "$CMDLINE" "${HARNESS_ARGS[@]+"${HARNESS_ARGS[@]}"}"
if [[ "$RENDER" == 1 ]]; then
  "$PY" "$BENCH/harness/render.py" "$BENCH/results/latest.json"
fi
log "done: docs/benchmarks.md, docs/benchmarks/*.png, bench/results/latest.json"
