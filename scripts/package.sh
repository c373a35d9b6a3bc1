#!/usr/bin/env bash
# Builds the Function App package: a Linux x86-64 release binary of
# snippets-mcp that runs on the Flex Consumption image (glibc; linked against
# glibc 2.28 symbols at most) plus the repository's host.json, assembled in
# function_app/ and zipped to function_app.zip.
#
#   scripts/package.sh            (azd runs it as the prepackage hook)
#
# Works from any developer OS: the cross linker is zig (PyPI package ziglang,
# installed into the project venv .venv/) driven by cargo-zigbuild (installed
# from crates.io into the project-local .tools/). Nothing is installed
# globally. Idempotent: with nothing changed it only checks and exits.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

BIN=snippets-mcp
RUST_TARGET=x86_64-unknown-linux-gnu
GLIBC_VERSION=2.28
CARGO_ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.17.0
TOOLS="$REPO_ROOT/.tools"
VENV="$REPO_ROOT/.venv"
OUT_DIR="$REPO_ROOT/function_app"
ZIP="$REPO_ROOT/function_app.zip"
PYTHON="${PYTHON:-python3}"

log() { printf '==> package: %s\n' "$*"; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"

# --- zig, from PyPI into the project venv ----------------------------------
if [[ -x "$VENV/bin/python" ]]; then
  VENV_PY="$VENV/bin/python"; VENV_BIN="$VENV/bin"
elif [[ -x "$VENV/Scripts/python.exe" ]]; then
  VENV_PY="$VENV/Scripts/python.exe"; VENV_BIN="$VENV/Scripts"
else
  log "creating the project venv .venv/"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV with $PYTHON -m venv"
  if [[ -x "$VENV/bin/python" ]]; then VENV_PY="$VENV/bin/python"; VENV_BIN="$VENV/bin"
  else VENV_PY="$VENV/Scripts/python.exe"; VENV_BIN="$VENV/Scripts"; fi
fi
if ! "$VENV_PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('ziglang') != '$ZIGLANG_VERSION')" 2>/dev/null; then
  log "installing zig (PyPI ziglang==$ZIGLANG_VERSION) into .venv/"
  "$VENV_PY" -m pip install -q "ziglang==$ZIGLANG_VERSION" || die "pip install ziglang failed"
fi

# --- cargo-zigbuild, from crates.io into .tools/ ------------------------------
ZIGBUILD="$TOOLS/bin/cargo-zigbuild"
if ! "$ZIGBUILD" --version 2>/dev/null | grep -q " $CARGO_ZIGBUILD_VERSION\$"; then
  log "installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION into .tools/"
  cargo install --locked --quiet --root "$TOOLS" --version "$CARGO_ZIGBUILD_VERSION" cargo-zigbuild \
    || die "cargo install cargo-zigbuild failed"
fi

# --- the Rust standard library for the target ----------------------------------
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx "$RUST_TARGET"; then
  log "adding the Rust target $RUST_TARGET"
  rustup target add "$RUST_TARGET" || die "rustup target add $RUST_TARGET failed"
fi

# --- build -----------------------------------------------------------------------
# cargo-zigbuild finds zig as `python3 -m ziglang` from the venv on PATH.
export PATH="$VENV_BIN:$TOOLS/bin:$PATH"
export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$TOOLS/zig-cache}"
log "cargo zigbuild --release --target $RUST_TARGET.$GLIBC_VERSION --bin $BIN"
cargo zigbuild --release --locked --target "$RUST_TARGET.$GLIBC_VERSION" --bin "$BIN"

TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BUILT="$TARGET_DIR/$RUST_TARGET/release/$BIN"
[[ -f "$BUILT" ]] || die "build produced no $BUILT"

# --- assemble function_app/ and function_app.zip ----------------------------------
mkdir -p "$OUT_DIR"
cp -f "$REPO_ROOT/host.json" "$OUT_DIR/host.json"
if ! cmp -s "$BUILT" "$OUT_DIR/$BIN"; then
  cp -f "$BUILT" "$OUT_DIR/$BIN.tmp"
  chmod 0755 "$OUT_DIR/$BIN.tmp"
  mv -f "$OUT_DIR/$BIN.tmp" "$OUT_DIR/$BIN"
fi
chmod 0755 "$OUT_DIR/$BIN"

# The one zip writer (also prepackage.ps1's): reproducible, mode 0755 on the
# handler so the Linux host can run it, rewritten only when its content changes.
"$VENV_PY" "$REPO_ROOT/scripts/lib/zip_package.py" "$ZIP" "$OUT_DIR" --executable "$BIN" \
  || die "writing $ZIP failed"
log "ok: function_app/ ($(du -h "$OUT_DIR/$BIN" | cut -f1) binary) and function_app.zip"
