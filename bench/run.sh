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
# shellcheck source=scripts/lib/common.sh
source "$BENCH/../scripts/lib/common.sh"
ROOT="$REPO_ROOT"
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

# Many SSE streams need many descriptors, in the client and in every server (children inherit it).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open-file limit $(ulimit -n)"

# Debian: wrk (load), taskset (util-linux), openssl (the per-run CA for Azurite's HTTPS), valgrind
# (callgrind: instructions per call). Python: bench/.venv (the Python peer, the harness, matplotlib).
# Node: bench/node_modules (the TypeScript peer), the repository's node_modules (Azurite).
apt_install wrk util-linux openssl valgrind
python_venv "$BENCH/.venv" -r "$BENCH/requirements.txt" -r "$BENCH/servers/python/requirements.txt"
PY="$BENCH/.venv/bin/python"
npm_ci_once "$BENCH" "the TypeScript peer"
ensure_npm_deps

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
  log "done: docs/benchmarks.md, docs/benchmarks/*.png, bench/results/latest.json"
else
  log "done: bench/results/latest.json (not rendered: --no-render)"
fi
