"""scripts/preflight.sh, the check `azd up` runs first (preup) and that users run on their own:
every prerequisite missing from PATH is named with its install command and makes it exit
non-zero; with everything present it exits 0.

Each test runs the script with PATH set to a temporary directory that holds only some tools:
small stand-ins for azd, az, cargo, rustc, rustup and cc (they print plausible versions and
`az account show` output), and this interpreter as python3. The Windows twin
(scripts/preflight.ps1; no PowerShell here) is held to the same checks and install commands as
text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra_helpers import REPO_ROOT

PREFLIGHT = REPO_ROOT / "scripts" / "preflight.sh"
PREFLIGHT_PS1 = REPO_ROOT / "scripts" / "preflight.ps1"
BASH = shutil.which("bash")
PYTHON = os.path.realpath(sys.executable)

STUBS = {
    # `azd version` as azd prints it; `azd config get alpha.language.custom` prints the value.
    "azd": """case "$1" in
  version) echo "azd version ${STUB_AZD_VERSION:-1.21.3} (commit 6d0bd2d1bb4b5c2e6e5c3f2b9b8d7f6e5d4c3b2a)" ;;
  config) echo "${STUB_AZD_ALPHA:-on}" ;;
  *) exit 2 ;;
esac""",
    "az": """if [ "$1 $2" = "account show" ]; then
  [ -n "$STUB_AZ_LOGGED_OUT" ] && { echo "Please run 'az login' to setup account." >&2; exit 1; }
  echo '{"environmentName": "AzureCloud", "id": "00000000-0000-0000-0000-000000000000", "isDefault": true, "name": "Dev", "state": "Enabled", "tenantId": "11111111-1111-1111-1111-111111111111", "user": {"name": "dev@example.org", "type": "user"}}'
  exit 0
fi
exit 2""",
    "cargo": 'echo "cargo ${STUB_RUST_VERSION:-1.90.0} (840b83a10 2025-07-30)"',
    "rustc": """case "$1" in
  --version) echo "rustc ${STUB_RUST_VERSION:-1.90.0} (1159e78c4 2025-09-14)" ;;
  --print) echo "${STUB_SYSROOT:-/nonexistent}" ;;
esac""",
    "rustup": "exit 0",
    "cc": "exit 0",
    "pwsh": 'echo "${STUB_PWSH_VERSION:-7.4.6}"',
}
ALL = ("uname", "azd", "az", "cargo", "rustc", "rustup", "cc", "python3")


def make_bin(tmp_path: Path, tools: tuple[str, ...]) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        if tool == "uname":
            (bin_dir / "uname").symlink_to(shutil.which("uname"))
        elif tool == "python3":
            (bin_dir / "python3").symlink_to(PYTHON)
        else:
            stub = bin_dir / tool
            stub.write_text("#!/bin/sh\n" + STUBS[tool] + "\n")
            stub.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, tools=ALL, os_name="debian", **env_extra) -> subprocess.CompletedProcess:
    bin_dir = make_bin(tmp_path, tuple(tools))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PREFLIGHT_OS": os_name, "LANG": "C.UTF-8"}
    env.update(env_extra)
    return subprocess.run([BASH, str(PREFLIGHT)], capture_output=True, text=True, env=env, timeout=60)


def without(*names: str) -> tuple[str, ...]:
    return tuple(t for t in ALL if t not in names)


def test_everything_present_exits_zero(tmp_path):
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISSING" not in proc.stdout + proc.stderr
    for line in ("azd 1.21.3 (>= 1.20.0)", "az is signed in", "rustc 1.90.0 (>= 1.88)", "C linker for the host: cc", "with venv"):
        assert line in proc.stdout, (line, proc.stdout)
    assert proc.stdout.rstrip().endswith("everything azd up needs is here")


@pytest.mark.parametrize(
    "removed,check,os_name,install",
    [
        (("azd",), "azd", "debian", "curl -fsSL https://aka.ms/install-azd.sh | bash"),
        (("azd",), "azd", "macos", "brew tap azure/azd && brew install azd"),
        (("az",), "az", "debian", "curl -sL https://aka.ms/InstallAzureCLIDeb | sudo bash"),
        (("az",), "az", "macos", "brew install azure-cli"),
        (("cargo", "rustc", "rustup"), "rust", "linux", "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"),
        (("cc",), "cc", "debian", "sudo apt-get install build-essential"),
        (("cc",), "cc", "macos", "xcode-select --install"),
        (("cc",), "cc", "fedora", "sudo dnf install gcc"),
        (("python3",), "python", "debian", "sudo apt-get install python3 python3-venv"),
        (("python3",), "python", "macos", "brew install python@3.12"),
    ],
)
def test_each_missing_tool_is_named_with_its_install_command(tmp_path, removed, check, os_name, install):
    proc = run(tmp_path, tools=without(*removed), os_name=os_name)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"MISSING  {check}:" in proc.stderr, proc.stderr
    assert f"install: {install}" in proc.stderr, proc.stderr
    assert proc.stderr.count("MISSING") == 1, f"only {check} is missing: {proc.stderr}"
    assert "1 prerequisite(s) missing" in proc.stderr


def test_every_missing_tool_is_listed_not_just_the_first(tmp_path):
    proc = run(tmp_path, tools=("uname",))
    assert proc.returncode == 1
    for check in ("azd", "az", "rust", "cc", "python"):
        assert f"MISSING  {check}:" in proc.stderr, (check, proc.stderr)
    assert "5 prerequisite(s) missing" in proc.stderr


@pytest.mark.parametrize(
    "env,check,fix",
    [
        ({"STUB_AZD_VERSION": "1.19.2"}, "azd", "older than 1.20.0"),
        ({"STUB_AZD_ALPHA": "off"}, "azd-alpha", "install: azd config set alpha.language.custom on"),
        ({"STUB_AZ_LOGGED_OUT": "1"}, "az-login", "install: az login"),
        ({"STUB_RUST_VERSION": "1.80.1"}, "rust", "install: rustup update stable"),
    ],
)
def test_too_old_not_signed_in_or_not_enabled(tmp_path, env, check, fix):
    proc = run(tmp_path, **env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"MISSING  {check}:" in proc.stderr and fix in proc.stderr, proc.stderr


def test_alpha_feature_from_the_environment_variable_counts(tmp_path):
    proc = run(tmp_path, STUB_AZD_ALPHA="off", AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM="true")
    assert proc.returncode == 0, proc.stderr


def test_python_without_venv_names_python3_venv_on_debian(tmp_path):
    bin_dir = make_bin(tmp_path, without("python3"))
    fake = bin_dir / "python3"
    # Debian's python3 without python3-venv: runs, but `import ensurepip` fails.
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "Python 3.11.2"; exit 0; }\nexit 1\n')
    fake.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PREFLIGHT_OS": "debian"}
    proc = subprocess.run([BASH, str(PREFLIGHT)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "MISSING  python-venv:" in proc.stderr
    assert "install: sudo apt-get install python3 python3-venv" in proc.stderr


def test_without_rustup_the_linux_target_must_be_installed(tmp_path):
    proc = run(tmp_path, tools=without("rustup"))
    assert proc.returncode == 1 and "MISSING  rust-target:" in proc.stderr, proc.stderr
    sysroot = tmp_path / "sysroot"
    (sysroot / "lib" / "rustlib" / "x86_64-unknown-linux-gnu").mkdir(parents=True)
    (tmp_path / "bin").rename(tmp_path / "old-bin")
    proc = run(tmp_path, tools=without("rustup"), STUB_SYSROOT=str(sysroot))
    assert proc.returncode == 0, proc.stderr


def test_windows_needs_pwsh_7_2(tmp_path):
    proc = run(tmp_path, os_name="windows")
    assert proc.returncode == 1
    assert "MISSING  pwsh:" in proc.stderr
    assert "install: winget install --id Microsoft.PowerShell --source winget" in proc.stderr
    (tmp_path / "bin").rename(tmp_path / "old-bin")
    proc = run(tmp_path, tools=ALL + ("pwsh",), os_name="windows")
    assert proc.returncode == 0, proc.stderr
    assert "pwsh 7.4.6 (>= 7.2)" in proc.stdout


def test_minimum_versions_come_from_azure_yaml_and_cargo_toml():
    azd_min = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text(encoding="utf-8"))["requiredVersions"]["azd"]
    rust_min = re.search(r'^rust-version = "([0-9.]+)"', (REPO_ROOT / "Cargo.toml").read_text(encoding="utf-8"), re.M).group(1)
    assert azd_min.startswith(">= ")
    for script in (PREFLIGHT, PREFLIGHT_PS1):
        text = script.read_text(encoding="utf-8")
        assert "azure.yaml" in text and "Cargo.toml" in text and "rust-version" in text
        for literal in (azd_min[3:], rust_min):
            assert f"'{literal}'" not in text and f'"{literal}"' not in text and f"={literal}" not in text, (
                f"{script.name} hard-codes {literal}: read it from azure.yaml / Cargo.toml"
            )


def sh_checks() -> set[str]:
    return set(re.findall(r"\bmissing ([a-z-]+) ", PREFLIGHT.read_text(encoding="utf-8")))


def ps1_checks() -> set[str]:
    return set(re.findall(r"Write-Missing '([a-z-]+)'", PREFLIGHT_PS1.read_text(encoding="utf-8")))


def test_both_shells_check_the_same_prerequisites():
    assert sh_checks() == ps1_checks() == {
        "azd", "azd-alpha", "az", "az-login", "pwsh", "rust", "rust-target", "cc", "python", "python-venv"
    }


def test_both_shells_name_the_same_windows_install_commands():
    sh = PREFLIGHT.read_text(encoding="utf-8")
    ps1 = PREFLIGHT_PS1.read_text(encoding="utf-8")
    sh_windows = dict(re.findall(r"^\s+(\w+):windows\) echo \"(.*)\" ;;$", sh, re.M))
    windows_block = ps1[ps1.index("if ($onWindows) {\n        switch ($what)") :]
    windows_block = windows_block[: windows_block.index("\n    }\n")]
    ps1_windows = dict(re.findall(r"'(\w+)' \{ return '(.*)' \}", windows_block))
    # The .sh escapes the inner quotes of the Build Tools command.
    sh_windows = {k: v.replace('\\"', '"') for k, v in sh_windows.items()}
    assert sh_windows == ps1_windows and set(sh_windows) == {"azd", "az", "pwsh", "rust", "cc", "python"}


def test_preflight_ps1_runs_under_windows_powershell_5_1():
    # It is what tells a user on Windows PowerShell 5.1 to install PowerShell 7, so it
    # must parse and run there (no PowerShell here: checked as text).
    code = "\n".join(line for line in PREFLIGHT_PS1.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"^#Requires", PREFLIGHT_PS1.read_text(encoding="utf-8"), re.M | re.I)
    assert not re.search(r"\d>", code), "no redirection of a native command's stderr"
    # String literals aside (install commands quote shell syntax).
    bare = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", code)
    for token in ("??", "?.", " && ", " || ", "-Parallel", "$IsWindows", "$IsLinux", "$IsMacOS"):
        assert token not in bare, f"{token!r} is PowerShell 7 only"
    assert "$ErrorActionPreference = 'Continue'" in code
    # MSVC's link.exe on Windows, found through the Visual Studio installer.
    assert "vswhere.exe" in code and "Microsoft.VisualStudio.Component.VC.Tools.x86.x64" in code


def test_preup_runs_the_preflight_first(tmp_path):
    doc = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    preup = doc["hooks"]["preup"]
    assert preup["posix"]["run"] == "infra/hooks/preup.sh" and preup["windows"]["run"] == "infra/hooks/preup.ps1"
    for script, first, second in (
        (REPO_ROOT / "infra/hooks/preup.sh", "scripts/preflight.sh", "infra/hooks/prepare-environment.sh"),
        (REPO_ROOT / "infra/hooks/preup.ps1", "scripts\\preflight.ps1", "prepare-environment.ps1"),
    ):
        text = script.read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert code.index(first) < code.index(second), script
    # A missing prerequisite stops preup before the environment is touched.
    bin_dir = make_bin(tmp_path, without("azd"))
    log = tmp_path / "calls.log"
    fake_azd = tmp_path / "fake-azd"
    fake_azd.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\n")
    fake_azd.chmod(0o755)
    for tool in ("bash", "dirname"):
        if shutil.which(tool) and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": f"{bin_dir}", "HOME": str(tmp_path), "PREFLIGHT_OS": "debian", "AZD": str(fake_azd)}
    proc = subprocess.run([BASH, str(REPO_ROOT / "infra/hooks/preup.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    assert "MISSING  azd:" in proc.stderr
    assert not log.exists(), "prepare-environment must not run when the preflight fails"
