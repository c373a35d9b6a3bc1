#!/usr/bin/env bash
# Builds snippets-mcp as it was before the performance work (the baseline commit below), once, into
# bench/.baseline/<commit>/snippets-mcp, and prints that path. The CPU-per-call goals compare the binary under
# test with this one in the same run, side by side, so the figure does not depend on how fast the machine is.
#
#   bench/baseline.sh          build if missing, print the binary's path
#
# Exits 3 with a reason on stderr when the repository's history does not hold the commit (a shallow clone, a
# source archive): run.sh then measures without it and the goals that need it say "not measured".
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
# The parent of the first performance change (stateless tools calls answered without a session): glibc malloc,
# rmcp's service for every request, the SDK's default HTTP client.
COMMIT="${BENCH_BASELINE_COMMIT:-b51bf226fa5177db0b9d88169e81cc0e678f2802}"
DIR="$BENCH/.baseline/$COMMIT"
BIN="$DIR/snippets-mcp"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi
if ! git -C "$ROOT" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
  echo "baseline.sh: commit $COMMIT is not in this repository's history (shallow clone?)" >&2
  exit 3
fi
rm -rf "$DIR/src" "$DIR/target"
mkdir -p "$DIR/src"
git -C "$ROOT" archive "$COMMIT" | tar -x -C "$DIR/src"
echo "baseline.sh: cargo build --release of $COMMIT (once; a few minutes)" >&2
CARGO_TARGET_DIR="$DIR/target" cargo build --release --locked --quiet --bin snippets-mcp \
  --manifest-path "$DIR/src/Cargo.toml" >&2
cp "$DIR/target/release/snippets-mcp" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
# Only the binary is kept: the sources are in git and the build tree is over a gigabyte.
rm -rf "$DIR/src" "$DIR/target"
echo "$BIN"
