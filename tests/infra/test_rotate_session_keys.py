"""scripts/rotate-session-keys.sh against a stub `az` (and `azd`) that keeps the vault's secrets in
a JSON file and records every call: the current keys become the previous ones, the deadline is
now + the window, new random current keys are written, the Function App restarts before API
Management refreshes its five named values, and no key value reaches the output or a command
line (docs/session-token.md, "Rotation")."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra_helpers import FAKE_AZD, REPO_ROOT, fake_tools

SCRIPT = REPO_ROOT / "scripts" / "rotate-session-keys.sh"
KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")
SUB = "00000000-0000-0000-0000-000000000001"
AZD_ENV = {
    "AZURE_SUBSCRIPTION_ID": SUB,
    "AZURE_RESOURCE_GROUP": "rg-dev",
    "SERVICE_API_NAME": "func-snippets-abc123",
    "AZURE_APIM_NAME": "apim-abc123",
    "AZURE_KEY_VAULT_NAME": "kv-abc123",
}
NAMED_VALUES = ["SessionTokenPreviousEncKey", "SessionTokenPreviousMacKey", "SessionTokenPreviousUntil",
                "SessionTokenEncKey", "SessionTokenMacKey"]  # fmt: skip

# Secrets live in files (one per secret, under FAKE_AZ_VAULT); calls are appended to a JSON list.
FAKE_AZ = r"""#!/usr/bin/env python3
import json, os, sys
from pathlib import Path
vault = Path(os.environ["FAKE_AZ_VAULT"])
log = Path(os.environ["FAKE_AZ_CALLS"])
args = sys.argv[1:]
calls = json.loads(log.read_text()) if log.exists() else []
calls.append(args)
log.write_text(json.dumps(calls))
def opt(name):
    return args[args.index(name) + 1] if name in args else None
if args[:2] == ["account", "show"]:
    sys.exit(0)
if args[:3] == ["keyvault", "secret", "show"]:
    path = vault / opt("--name")
    if not path.exists():
        print(f"ERROR: (SecretNotFound) {opt('--name')}", file=sys.stderr); sys.exit(3)
    assert opt("--query") == "value"
    print(path.read_text()); sys.exit(0)
if args[:3] == ["keyvault", "secret", "set"]:
    assert opt("--file") == "/dev/stdin" and "--value" not in args, args
    if os.environ.get("FAKE_AZ_FAIL_SET") == opt("--name"):
        sys.exit(1)
    (vault / opt("--name")).write_text(sys.stdin.read()); sys.exit(0)
if args[:2] == ["functionapp", "restart"]:
    sys.exit(0)
if args[:3] == ["rest", "--method", "post"]:
    sys.exit(0)
sys.exit(f"fake az: unexpected {args}")
"""


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def rotate(tmp_path: Path):
    shebang = ("#!/usr/bin/env python3", f"#!{sys.executable}")
    tools = fake_tools(tmp_path, {"azd": FAKE_AZD.replace(*shebang, 1), "az": FAKE_AZ.replace(*shebang, 1)})
    store, vault, calls = tmp_path / "azd.json", tmp_path / "vault", tmp_path / "calls.json"
    store.write_text(json.dumps(AZD_ENV))

    def run(secrets: dict[str, str], *args: str, **env_extra: str):
        shutil.rmtree(vault, ignore_errors=True)
        vault.mkdir()
        calls.unlink(missing_ok=True)
        for name, value in secrets.items():
            (vault / name).write_text(value)
        env = dict(os.environ, AZD=str(tools["azd"]), AZ=str(tools["az"]), FAKE_AZD_STORE=str(store),
                   FAKE_AZ_VAULT=str(vault), FAKE_AZ_CALLS=str(calls), **env_extra)  # fmt: skip
        proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)
        after = {p.name: p.read_text() for p in vault.iterdir()}
        return proc, after, json.loads(calls.read_text()) if calls.exists() else []

    return run


def initial() -> dict[str, str]:
    return {
        "session-token-enc-key": key(),
        "session-token-mac-key": key(),
        "session-token-previous-enc-key": "none",
        "session-token-previous-mac-key": "none",
        "session-token-previous-until": "0",
    }


def writes(calls) -> list[str]:
    return [c[c.index("--name") + 1] for c in calls if c[:3] == ["keyvault", "secret", "set"]]


def assert_never_shown(proc, calls, *values: str):
    out = proc.stdout + proc.stderr
    for value in values:
        assert value not in out, "a key reached the script's output"
        assert not any(value in arg for call in calls for arg in call), "a key on a command line"


def test_a_rotation_moves_current_to_previous_and_writes_new_keys(rotate):
    before = initial()
    started = int(time.time())
    proc, after, calls = rotate(before)
    assert proc.returncode == 0, proc.stderr
    assert after["session-token-previous-enc-key"] == before["session-token-enc-key"]
    assert after["session-token-previous-mac-key"] == before["session-token-mac-key"]
    until = int(after["session-token-previous-until"])
    assert started + 24 * 3600 <= until <= int(time.time()) + 24 * 3600
    for name in ("session-token-enc-key", "session-token-mac-key"):
        assert KEY_RE.match(after[name]) and len(base64.b64decode(after[name])) == 32
        assert after[name] not in before.values()
    assert after["session-token-enc-key"] != after["session-token-mac-key"]
    shown = [before["session-token-enc-key"], before["session-token-mac-key"], after["session-token-enc-key"], after["session-token-mac-key"]]
    assert_never_shown(proc, calls, *shown)


def test_the_order_of_operations(rotate):
    proc, _, calls = rotate(initial())
    assert proc.returncode == 0, proc.stderr
    assert writes(calls) == [
        "session-token-previous-enc-key",
        "session-token-previous-mac-key",
        "session-token-previous-until",
        "session-token-enc-key",
        "session-token-mac-key",
    ]
    last_write = max(i for i, c in enumerate(calls) if c[:3] == ["keyvault", "secret", "set"])
    restart = next(i for i, c in enumerate(calls) if c[:2] == ["functionapp", "restart"])
    assert calls[restart][calls[restart].index("--name") + 1] == AZD_ENV["SERVICE_API_NAME"]
    refreshes = [(i, c[c.index("--url") + 1]) for i, c in enumerate(calls) if c[:3] == ["rest", "--method", "post"]]
    # The vault first, then the server, then the gateway.
    assert last_write < restart < min(i for i, _ in refreshes)
    prefix = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.ApiManagement/service/apim-abc123/namedValues/"
    assert [url for _, url in refreshes] == [f"{prefix}{nv}/refreshSecret?api-version=2024-05-01" for nv in NAMED_VALUES]
    # Every vault call names the azd environment's vault.
    assert all(c[c.index("--vault-name") + 1] == "kv-abc123" for c in calls if c[:1] == ["keyvault"])


def test_the_window_follows_window_hours(rotate):
    started = int(time.time())
    proc, after, _ = rotate(initial(), "--window-hours", "2")
    assert proc.returncode == 0, proc.stderr
    assert started + 7200 <= int(after["session-token-previous-until"]) <= int(time.time()) + 7200


@pytest.mark.parametrize("hours", ["1", "0", "721", "1.5", "-3", "abc"])
def test_a_window_shorter_than_the_token_lifetime_or_unparsable_is_refused(rotate, hours):
    before = initial()
    proc, after, calls = rotate(before, "--window-hours", hours)
    assert proc.returncode != 0 and "--window-hours" in proc.stderr
    assert after == before and writes(calls) == []


def test_missing_current_keys_change_nothing(rotate):
    before = initial()
    before["session-token-mac-key"] = "none"
    proc, after, calls = rotate(before)
    assert proc.returncode != 0
    assert after == before and writes(calls) == []
    assert not any(c[:2] == ["functionapp", "restart"] for c in calls)


def test_a_failed_write_stops_before_the_restart_and_the_refresh(rotate):
    before = initial()
    proc, after, calls = rotate(before, FAKE_AZ_FAIL_SET="session-token-enc-key")
    assert proc.returncode != 0 and "session-token-enc-key" in proc.stderr
    # The previous pair already holds the current keys: a rerun is safe.
    assert after["session-token-previous-enc-key"] == before["session-token-enc-key"]
    assert after["session-token-enc-key"] == before["session-token-enc-key"]
    assert not any(c[:2] in (["functionapp", "restart"], ["rest", "--method"]) for c in calls)
    assert_never_shown(proc, calls, before["session-token-enc-key"], before["session-token-mac-key"])

