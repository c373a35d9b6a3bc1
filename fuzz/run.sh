#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a bounded time each.
#
#   fuzz/run.sh [SECONDS] [TARGET...]    default: 5 seconds, every target
#
# Installs cargo-fuzz into the project-local .tools/ on first use (git-ignored; a few minutes once).
# cargo-fuzz needs nightly compiler flags (-Z sanitizer); on a stable toolchain RUSTC_BOOTSTRAP=1
# unlocks them. Seeds are committed in fuzz/seeds/<target>; the growing corpus stays local in
# fuzz/corpus/<target> (git-ignored), and crashes land in fuzz/artifacts/<target>.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.1
TOOLS="$PWD/.tools"
SECONDS_EACH="${1:-5}"
shift || true

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz/run.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS" >&2
  cargo install --locked --quiet --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <("$TOOLS/bin/cargo-fuzz" list --fuzz-dir fuzz)
fi
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "fuzz/run.sh: $target for ${SECONDS_EACH}s" >&2
  # -rss_limit_mb bounds allocation: a target that allocates without bound fails here.
  "$TOOLS/bin/cargo-fuzz" run --fuzz-dir fuzz --debug-assertions "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=512 -max_len=65536 -print_final_stats=1
done
