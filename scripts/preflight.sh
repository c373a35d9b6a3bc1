#!/usr/bin/env bash
# Checks every prerequisite of `azd up` on this machine and names the install
# command for each one that is missing. Runs first in azd's preup hook
# (infra/hooks/preup.sh) and on its own:
#
#   scripts/preflight.sh          (Linux, macOS, WSL; Windows: scripts/preflight.ps1)
#
# Exit 0 when everything `azd up` needs is there, 1 otherwise (every missing
# item is listed, not just the first). It changes nothing on the machine.
#
# Only bash builtins and `uname` are used besides the tools being checked, so
# the script's own needs never hide a missing prerequisite.
# PREFLIGHT_OS=debian|fedora|linux|macos|windows overrides the detected system
# (the install commands differ per system).
set -uo pipefail

script_dir="${BASH_SOURCE[0]%/*}"
[[ "$script_dir" != "${BASH_SOURCE[0]}" ]] || script_dir=.
REPO_ROOT="$(cd "$script_dir/.." && pwd)"
RUST_TARGET=x86_64-unknown-linux-gnu
PYTHON_MIN=3.9

failures=0
ok() { printf 'preflight: ok       %s\n' "$*"; }
note() { printf 'preflight: note     %s\n' "$*"; }
missing() {
  # $1: check id, $2: what is wrong, $3: how to fix it on this system
  printf 'preflight: MISSING  %s: %s\n' "$1" "$2" >&2
  printf 'preflight:          install: %s\n' "$3" >&2
  failures=$((failures + 1))
}

# --- which system, for the install commands -------------------------------------
detect_os() {
  if [[ -n "${PREFLIGHT_OS:-}" ]]; then printf '%s' "$PREFLIGHT_OS"; return; fi
  case "$(uname -s 2>/dev/null)" in
    Darwin) printf macos; return ;;
    MINGW* | MSYS* | CYGWIN*) printf windows; return ;;
  esac
  local id="" like="" key value
  if [[ -r /etc/os-release ]]; then
    while IFS='=' read -r key value; do
      value="${value//\"/}"
      case "$key" in ID) id="$value" ;; ID_LIKE) like="$value" ;; esac
    done </etc/os-release
  fi
  case " $id $like " in
    *" debian "* | *" ubuntu "*) printf debian ;;
    *" fedora "* | *" rhel "* | *" centos "*) printf fedora ;;
    *) printf linux ;;
  esac
}
OS="$(detect_os)"

install_cmd() {
  local what="$1"
  case "$what:$OS" in
    azd:macos) echo "brew tap azure/azd && brew install azd" ;;
    azd:windows) echo "winget install microsoft.azd" ;;
    azd:*) echo "curl -fsSL https://aka.ms/install-azd.sh | bash" ;;
    az:macos) echo "brew install azure-cli" ;;
    az:debian) echo "curl -sL https://aka.ms/InstallAzureCLIDeb | sudo bash" ;;
    az:fedora) echo "sudo dnf install azure-cli (after adding Microsoft's repository: https://aka.ms/azure-cli)" ;;
    az:windows) echo "winget install -e --id Microsoft.AzureCLI" ;;
    az:*) echo "see https://aka.ms/azure-cli (or: pip install azure-cli)" ;;
    pwsh:windows) echo "winget install --id Microsoft.PowerShell --source winget" ;;
    pwsh:macos) echo "brew install --cask powershell" ;;
    pwsh:*) echo "see https://aka.ms/powershell" ;;
    rust:windows) echo "winget install Rustlang.Rustup, then: rustup default stable" ;;
    rust:*) echo "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh   (then open a new shell)" ;;
    cc:macos) echo "xcode-select --install" ;;
    cc:debian) echo "sudo apt-get install build-essential" ;;
    cc:fedora) echo "sudo dnf install gcc" ;;
    cc:windows) echo "winget install Microsoft.VisualStudio.2022.BuildTools --override \"--wait --passive --add Microsoft.VisualStudio.Workload.VCTools --includeRecommended\"" ;;
    cc:*) echo "install gcc or clang with your distribution's package manager" ;;
    python:macos) echo "brew install python@3.12" ;;
    python:debian) echo "sudo apt-get install python3 python3-venv" ;;
    python:fedora) echo "sudo dnf install python3" ;;
    python:windows) echo "winget install Python.Python.3.12" ;;
    python:*) echo "install Python 3 (with its venv module) with your distribution's package manager" ;;
  esac
}

# --- version helpers (bash only) --------------------------------------------------
# First X.Y[.Z] in a text.
version_in() {
  [[ "$1" =~ ([0-9]+)\.([0-9]+)(\.([0-9]+))? ]] || return 1
  printf '%s.%s.%s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[4]:-0}"
}
# version_ge A B: A >= B, both X.Y[.Z].
version_ge() {
  local -a a b
  IFS=. read -r -a a <<<"$1"
  IFS=. read -r -a b <<<"$2"
  local i
  for i in 0 1 2; do
    local x="${a[i]:-0}" y="${b[i]:-0}"
    ((10#$x > 10#$y)) && return 0
    ((10#$x < 10#$y)) && return 1
  done
  return 0
}

# The minimum azd version, from azure.yaml (requiredVersions.azd: ">= X.Y.Z"),
# and the project's rust-version, from Cargo.toml: one source of truth each.
read_azd_minimum() {
  local line
  while IFS= read -r line; do
    if [[ "$line" =~ ^[[:space:]]+azd:[[:space:]]*\"\>=[[:space:]]*([0-9.]+)\" ]]; then
      printf '%s' "${BASH_REMATCH[1]}"; return
    fi
  done <"$REPO_ROOT/azure.yaml"
}
read_rust_version() {
  local line
  while IFS= read -r line; do
    if [[ "$line" =~ ^rust-version[[:space:]]*=[[:space:]]*\"([0-9.]+)\" ]]; then
      printf '%s' "${BASH_REMATCH[1]}"; return
    fi
  done <"$REPO_ROOT/Cargo.toml"
}
AZD_MIN="$(read_azd_minimum)"
RUST_MIN="$(read_rust_version)"
[[ -n "$AZD_MIN" && -n "$RUST_MIN" ]] || { echo "preflight: cannot read the minimum versions from azure.yaml / Cargo.toml" >&2; exit 2; }

printf 'preflight: checking the prerequisites of azd up (%s)\n' "$OS"

# --- azd, its version, and the alpha feature azure.yaml needs ----------------------
if command -v azd >/dev/null; then
  azd_version="$(version_in "$(azd version 2>/dev/null)")" || azd_version=""
  if [[ -z "$azd_version" ]]; then
    missing azd "azd is on PATH but 'azd version' printed no version" "$(install_cmd azd)"
  elif ! version_ge "$azd_version" "$AZD_MIN"; then
    missing azd "azd $azd_version is older than $AZD_MIN (azure.yaml requiredVersions)" "$(install_cmd azd)"
  else
    ok "azd $azd_version (>= $AZD_MIN)"
    # azd refuses `language: custom` before any hook runs unless this alpha
    # feature is on; from inside a hook it is necessarily on already.
    # (The variable is read the way azd parses it: Go's strconv.ParseBool.)
    case "${AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM:-}" in
      1 | t | T | true | TRUE | True) alpha=on ;;
      *) alpha="$(azd config get alpha.language.custom 2>/dev/null)" ;;
    esac
    if [[ "$alpha" == *on* ]]; then
      ok "azd alpha feature language.custom is on"
    else
      missing azd-alpha "azd's alpha feature language.custom is off (azure.yaml uses language: custom)" \
        "azd config set alpha.language.custom on"
    fi
  fi
else
  missing azd "the Azure Developer CLI (azd) is not on PATH" "$(install_cmd azd)"
fi

# --- az, signed in ---------------------------------------------------------------
if command -v az >/dev/null; then
  if az account show --output none >/dev/null 2>&1; then
    ok "az is signed in"
  else
    missing az-login "the Azure CLI is not signed in (the postdeploy and postdown hooks use it)" "az login"
  fi
else
  missing az "the Azure CLI (az) is not on PATH (the postdeploy and postdown hooks use it)" "$(install_cmd az)"
fi

# --- PowerShell 7 (Windows only: azd runs the .ps1 hooks there) ----------------------
if [[ "$OS" == windows ]]; then
  if command -v pwsh >/dev/null; then
    # shellcheck disable=SC2016  # the $ is PowerShell's, not this shell's
    pwsh_version="$(version_in "$(pwsh -NoProfile -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null)")" || pwsh_version=""
    if [[ -n "$pwsh_version" ]] && version_ge "$pwsh_version" 7.2; then
      ok "pwsh $pwsh_version (>= 7.2)"
    else
      missing pwsh "pwsh ${pwsh_version:-(unknown)} is older than 7.2, which the hooks require" "$(install_cmd pwsh)"
    fi
  else
    missing pwsh "PowerShell 7 (pwsh) is not on PATH: azd would fall back to Windows PowerShell 5.1, which the hooks refuse" "$(install_cmd pwsh)"
  fi
fi

# --- Rust --------------------------------------------------------------------------
if command -v cargo >/dev/null && command -v rustc >/dev/null; then
  rust_version="$(version_in "$(rustc --version 2>/dev/null)")" || rust_version=""
  if [[ -z "$rust_version" ]] || ! version_ge "$rust_version" "$RUST_MIN"; then
    missing rust "rustc ${rust_version:-(unknown)} is older than $RUST_MIN (Cargo.toml rust-version)" "rustup update stable"
  else
    ok "rustc $rust_version (>= $RUST_MIN)"
  fi
  # The package step adds the Linux target with rustup; without rustup the
  # toolchain must already carry its standard library.
  if command -v rustup >/dev/null; then
    ok "rustup (the package step adds the $RUST_TARGET target if it is missing)"
  else
    sysroot="$(rustc --print sysroot 2>/dev/null)"
    if [[ -n "$sysroot" && -d "$sysroot/lib/rustlib/$RUST_TARGET" ]]; then
      ok "the Rust standard library for $RUST_TARGET"
    else
      missing rust-target "no rustup and no Rust standard library for $RUST_TARGET" "$(install_cmd rust)"
    fi
  fi
else
  missing rust "cargo/rustc are not on PATH" "$(install_cmd rust)"
fi

# --- a C linker for the host -----------------------------------------------------------
# Build scripts and proc-macros are compiled for the host and linked by the
# host's C toolchain; only the final binary is linked by zig.
cc_found=""
for c in cc gcc clang; do
  if command -v "$c" >/dev/null; then cc_found="$c"; break; fi
done
if [[ -n "$cc_found" ]]; then
  ok "C linker for the host: $cc_found"
else
  missing cc "no C compiler/linker (cc, gcc or clang) for the host" "$(install_cmd cc)"
fi

# --- Python 3 with venv and pip (zig comes from PyPI into .venv) ---------------------------
python=""
for p in "${PYTHON:-}" python3 python; do
  if [[ -n "$p" ]] && command -v "$p" >/dev/null; then python="$p"; break; fi
done
if [[ -z "$python" ]]; then
  missing python "Python 3 is not on PATH (python3)" "$(install_cmd python)"
else
  py_version="$(version_in "$("$python" --version 2>&1)")" || py_version=""
  if [[ -z "$py_version" ]] || ! version_ge "$py_version" "$PYTHON_MIN"; then
    missing python "$python is ${py_version:-not Python 3}; $PYTHON_MIN or newer is needed" "$(install_cmd python)"
  # Debian and Ubuntu split venv's pip bootstrap (ensurepip) into python3-venv:
  # without it `python3 -m venv` fails halfway.
  elif ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing python-venv "$python has no working venv module (ensurepip is missing)" "$(install_cmd python)"
  else
    ok "Python $py_version with venv"
  fi
fi

# --- the cross build's own tools: installed by the package step itself ---------------------
if [[ -x "$REPO_ROOT/.tools/bin/cargo-zigbuild" || -x "$REPO_ROOT/.tools/bin/cargo-zigbuild.exe" ]]; then
  ok "cargo-zigbuild in .tools/"
else
  note "cargo-zigbuild: the first package step installs it into .tools/ (cargo install from crates.io, a few minutes)"
fi
if compgen -G "$REPO_ROOT/.venv/lib/python*/site-packages/ziglang" >/dev/null \
  || [[ -d "$REPO_ROOT/.venv/Lib/site-packages/ziglang" ]]; then
  ok "zig (PyPI ziglang) in .venv/"
else
  note "zig: the first package step installs PyPI ziglang into .venv/ (needs access to PyPI)"
fi

if ((failures > 0)); then
  printf 'preflight: %d prerequisite(s) missing: install them, then rerun scripts/preflight.sh\n' "$failures" >&2
  exit 1
fi
echo "preflight: everything azd up needs is here"
