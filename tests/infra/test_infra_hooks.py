"""The azd preup/preprovision hook: session token keys are generated once per azd
environment, only when absent, never overwritten, never printed; then the
committed policies are checked against the templates (never rewritten).

azd and cargo are replaced by small fakes on the command line (the hook
honours $AZD, $CARGO and $PYTHON); the real keygen's output format is checked
against the hook's parser separately."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from infra_helpers import REPO_ROOT

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
    tools = {}
    for name, body in (("azd", FAKE_AZD), ("cargo", FAKE_CARGO), ("python", FAKE_PYTHON)):
        path = tmp_path / f"fake-{name}"
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        tools[name] = path
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


def test_generates_both_keys_when_absent_and_checks_policies(fakes):
    proc, env = fakes()
    assert proc.returncode == 0, proc.stderr
    assert_key(env["SESSION_TOKEN_ENC_KEY"])
    assert_key(env["SESSION_TOKEN_MAC_KEY"])
    assert env["SESSION_TOKEN_ENC_KEY"] != env["SESSION_TOKEN_MAC_KEY"]
    out = proc.stdout + proc.stderr
    for value in env.values():
        assert value not in out, "the hook must not print key values"
    calls = fakes.log.read_text().splitlines()
    assert any("session-token-keygen" in c for c in calls)
    render = [c for c in calls if "render-policies" in c]
    assert len(render) == 1 and render[0].endswith("-- --check"), f"policies are checked, never rewritten: {calls}"
    assert not any(c.startswith("python") for c in calls), calls


def test_stale_policies_fail_the_hook(fakes):
    proc, env = fakes(drift=True)
    assert proc.returncode != 0, "a stale infra/policies/ must stop azd before it deploys"
    assert_key(env["SESSION_TOKEN_ENC_KEY"]), "keys generated before the check are kept"


def test_existing_keys_are_kept(fakes):
    _, first = fakes()
    proc, second = fakes()
    assert proc.returncode == 0, proc.stderr
    assert second == first
    keygen_runs = [c for c in fakes.log.read_text().splitlines() if "session-token-keygen" in c]
    assert len(keygen_runs) == 1, "keys must be generated once per environment"
    assert "already set" in proc.stdout


def test_one_key_present_is_refused_and_nothing_changes(fakes):
    only = {"SESSION_TOKEN_ENC_KEY": base64.b64encode(b"k" * 32).decode()}
    proc, env = fakes(only)
    assert proc.returncode != 0
    assert env == only
    assert "refusing" in proc.stderr
    assert "render-policies" not in fakes.log.read_text()


def test_malformed_existing_key_is_refused_not_replaced(fakes):
    bad = {"SESSION_TOKEN_ENC_KEY": "not-a-key", "SESSION_TOKEN_MAC_KEY": base64.b64encode(b"m" * 32).decode()}
    proc, env = fakes(bad)
    assert proc.returncode != 0
    assert env == bad
    assert "SESSION_TOKEN_ENC_KEY" in proc.stderr
    assert "not-a-key" not in proc.stdout + proc.stderr, "values are never echoed"


def test_real_keygen_output_matches_the_hook_parser():
    proc = subprocess.run(
        ["cargo", "run", "-q", "--locked", "-p", "session-token", "--bin", "session-token-keygen"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert set(lines) >= {"SESSION_TOKEN_ENC_KEY", "SESSION_TOKEN_MAC_KEY"}, proc.stdout.splitlines()[:2]
    for name in ("SESSION_TOKEN_ENC_KEY", "SESSION_TOKEN_MAC_KEY"):
        assert_key(lines[name])


@pytest.mark.parametrize(
    "script",
    [
        "infra/hooks/prepare-environment.sh",
        "infra/hooks/bind-function-key.sh",
        "infra/hooks/preup.sh",
        "infra/hooks/delete-entra-app.sh",
        "scripts/package.sh",
        "scripts/preflight.sh",
    ],
)
def test_shell_scripts_pass_shellcheck(script: str):
    import sys

    shellcheck = Path(sys.executable).with_name("shellcheck")
    proc = subprocess.run([str(shellcheck), "-S", "style", str(REPO_ROOT / script)], capture_output=True, text=True)
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
