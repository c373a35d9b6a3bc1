#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run).
#
#   scripts/test.sh                 everything: installs, fmt, clippy, cargo test, build, pytest tests/ bench/tests/
#                                   (long fuzzing is its own command: fuzz/run.sh [SECONDS])
#   scripts/test.sh tests/e2e -k sse    same, but pytest gets these arguments instead of `tests/ bench/tests/`
#
# Installs what is missing, project-locally and idempotently: Debian packages listed in
# tests/*/apt-packages.txt, npm packages (npm ci), the .venv with every tests/*/requirements.txt.
# Environment: SNIPPETS_MCP_BIN (server binary for the e2e tests; default: the debug build),
# PYTHON (interpreter that creates .venv; default python3).
set -Eeuo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

# shellcheck source=scripts/lib/steps.sh
source "$REPO_ROOT/scripts/lib/steps.sh"
trap steps_summary EXIT

have cargo || die "cargo is not installed (the Rust toolchain is required: https://rustup.rs)"
cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: rustup component add clippy"

step apt ensure_apt_packages
step npm ensure_npm_deps
step venv ensure_venv

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
step cargo-test cargo test --workspace --locked
step build cargo build --bin snippets-mcp --locked
# The fuzz targets are their own workspace: type-checking them here (sharing the clippy step's
# artifacts, seconds) keeps them in step with the library; fuzzing itself is fuzz/run.sh.
step fuzz-check env CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}" \
  cargo check --manifest-path fuzz/Cargo.toml --bins --locked

TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
export SNIPPETS_MCP_BIN="${SNIPPETS_MCP_BIN:-$TARGET_DIR/debug/snippets-mcp}"
[[ -x "$SNIPPETS_MCP_BIN" ]] || die "server binary $SNIPPETS_MCP_BIN not found after the build"

run_pytest() {
  local rc=0
  "$VENV/bin/python" -m pytest "$@" || rc=$?
  if ((rc == 5)); then
    echo "pytest collected no tests from: $*" >&2
  fi
  return "$rc"
}
if (($#)); then
  step pytest run_pytest -q "$@"
else
  step pytest run_pytest -q tests/ bench/tests/
fi
