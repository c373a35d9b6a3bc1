"""The azd preup/preprovision hook's policy step: the committed policies are checked against the
templates (never rewritten). No key is generated there any more (the Key Vault hook,
tests/infra/test_infra_key_vault.py). cargo is replaced by a small fake (the hook honours $CARGO)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from infra_helpers import REPO_ROOT, fake_tools

HOOK = REPO_ROOT / "infra" / "hooks" / "prepare-environment.sh"
KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")

FAKE_AZD = r"""#!/usr/bin/env python3
import json, os, sys
store = os.environ["FAKE_AZD_STORE"]
env = json.load(open(store)) if os.path.exists(store) else {}
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("azd " + " ".join(args[:3]) + "\n")  # never the value
if args[:2] == ["env", "get-value"]:
    if args[2] in env:
        print(env[args[2]])
        sys.exit(0)
    print(f"ERROR: key '{args[2]}' not found in the environment values", file=sys.stderr)
    sys.exit(1)
if args[:2] == ["env", "set"]:
    env[args[2]] = args[3]
    json.dump(env, open(store, "w"))
    sys.exit(0)
sys.exit(f"fake azd: unexpected {args}")
"""

FAKE_CARGO = r"""#!/usr/bin/env python3
import base64, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("cargo " + " ".join(args) + "\n")
if "session-token-keygen" in args:
    for name in ("SESSION_TOKEN_ENC_KEY", "SESSION_TOKEN_MAC_KEY"):
        print(f"{name}={base64.b64encode(os.urandom(32)).decode()}")
    sys.exit(0)
if "render-policies" in args:
    sys.exit(3 if os.environ.get("FAKE_RENDER_DRIFT") else 0)
sys.exit(f"fake cargo: unexpected {args}")
"""

FAKE_PYTHON = r"""#!/usr/bin/env python3
import os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("python " + " ".join(sys.argv[1:]) + "\n")
"""


@pytest.fixture
def fakes(tmp_path: Path):
    tools = fake_tools(tmp_path, {"azd": FAKE_AZD, "cargo": FAKE_CARGO, "python": FAKE_PYTHON})
    store = tmp_path / "azd-env.json"
    log = tmp_path / "calls.log"

    def run(preset: dict | None = None, drift: bool = False):
        if preset is not None:
            store.write_text(json.dumps(preset))
        env = dict(
            os.environ,
            AZD=str(tools["azd"]),
            CARGO=str(tools["cargo"]),
            PYTHON=str(tools["python"]),
            FAKE_AZD_STORE=str(store),
            FAKE_LOG=str(log),
        )
        if drift:
            env["FAKE_RENDER_DRIFT"] = "1"
        proc = subprocess.run(["bash", str(HOOK)], capture_output=True, text=True, env=env, timeout=60)
        values = json.loads(store.read_text()) if store.exists() else {}
        return proc, values

    run.log = log
    return run


def assert_key(value: str):
    assert KEY_RE.match(value), value
    assert len(base64.b64decode(value)) == 32


def test_checks_policies_and_touches_no_key(fakes):
    proc, values = fakes({})
    assert proc.returncode == 0, proc.stderr
    log = fakes.log.read_text()
    assert "render-policies -- --check" in log
    assert "keygen" not in log and "azd" not in log
    assert values == {}


def test_stale_policies_fail_the_hook(fakes):
    proc, _ = fakes({}, drift=True)
    assert proc.returncode != 0


@pytest.mark.parametrize(
    "script",
    [
        "infra/hooks/prepare-environment.sh",
        "infra/hooks/preprovision.sh",
        "infra/hooks/ensure-key-vault.sh",
        "infra/hooks/bind-function-key.sh",
        "scripts/rotate-function-key.sh",
        "scripts/rotate-session-keys.sh",
        "scripts/lib/azure-env.sh",
        "infra/hooks/preup.sh",
        "infra/hooks/delete-entra-app.sh",
        "scripts/package.sh",
        "scripts/preflight.sh",
    ],
)
def test_shell_scripts_pass_shellcheck(script: str):
    import sys

    shellcheck = Path(sys.executable).with_name("shellcheck")
    # -x from the repository root: a sourced library (`# shellcheck source=scripts/lib/...`) is
    # checked with the script, so a variable it sets counts as assigned.
    proc = subprocess.run([str(shellcheck), "-x", "-S", "style", script], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def powershell_code(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]


def test_prepackage_ps1_never_redirects_a_native_commands_stderr():
    # Windows PowerShell 5.1 turns a native command's redirected stderr into a terminating
    # error under $ErrorActionPreference = 'Stop' (no PowerShell here: checked as text).
    code = powershell_code(REPO_ROOT / "infra" / "hooks" / "prepackage.ps1")
    assert "$ErrorActionPreference = 'Stop'" in code
    assert not [line for line in code if re.search(r"\b2>", line)]


def test_prepackage_ps1_ziglang_probe_answers_by_exit_code_alone():
    import importlib.metadata
    import sys

    code = "\n".join(powershell_code(REPO_ROOT / "infra" / "hooks" / "prepackage.ps1"))
    probe = re.search(r'& \$venvPy -c "([^"]+)"', code).group(1)
    assert "$ziglangVersion" in probe and "'ziglang'" in probe
    # Absent (or another version): 1 and a silent stderr; present at the version: 0 (shown
    # with pytest, which this interpreter has, in place of ziglang).
    cases = (("ziglang", "0.0.0-absent", 1), ("pytest", importlib.metadata.version("pytest"), 0))
    for name, version, want in cases:
        argv = [sys.executable, "-c", probe.replace("'ziglang'", f"'{name}'").replace("$ziglangVersion", version)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert (proc.returncode, proc.stderr) == (want, ""), (name, proc.returncode, proc.stderr)
