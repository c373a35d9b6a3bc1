"""The README's MCP Inspector steps, executed: the shipped Inspector web UI (2.12, started the
way scripts/lib/inspector.sh starts it, minus its `npm ci` check) driven in headless Chromium over both transports, against the bare server and through the
local gateway (the consent page approved in the browser, the Entra ID stand-in in auto-login
mode), down to a save_snippet whose bytes are then read back from Azurite.

Screenshots go to test-artifacts/conformance/inspector/; with INSPECTOR_SCREENSHOTS=1 they
replace the README's pictures in docs/inspector/."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import conformance_support as cs
from devstack.gateway import ensure_local_npm
from devstack.processes import free_port

DRIVER = Path(__file__).with_name("inspector_ui.mjs")
PLAYWRIGHT = cs.REPO / "local" / "node_modules" / "playwright-core" / "index.mjs"
LAUNCHER = cs.REPO / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
DOCS_SHOTS = cs.REPO / "docs" / "inspector"
TRANSPORTS = {"sse": "/sse", "streamable-http": "/mcp"}
GATEWAY_PATHS = {"sse": "/mcp/sse", "streamable-http": "/mcp"}


@pytest.fixture(scope="module")
def playwright_core() -> Path:
    """playwright-core from local/package.json, installed here: the bare-server cases use no
    gateway, whose start would otherwise be what installs it."""
    ensure_local_npm()
    return PLAYWRIGHT


@pytest.fixture(scope="module")
def inspector_web():
    """The Inspector web UI on free ports with a throwaway catalog; yields its tokenized URL."""
    home = Path(tempfile.mkdtemp(prefix="conf-inspector-"))
    log = cs.ARTIFACTS / "inspector-web.log"
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "TMPDIR")}
    # Its own child processes must find Node 22 as `node` too (as in scripts/lib/inspector.sh).
    env.update(PATH=f"{cs.NODE22.parent}:{os.environ.get('PATH', '')}", HOME=str(home), MCP_CATALOG_PATH=str(home / "catalog.json"), CLIENT_PORT=str(free_port()),
               MCP_SANDBOX_PORT=str(free_port()), MCP_AUTO_OPEN_ENABLED="false", BROWSER="/bin/true",
               MCP_INSPECTOR_SECRET_STORE="memory", NO_COLOR="1")  # fmt: skip
    with open(log, "wb") as out:
        p = subprocess.Popen([str(cs.NODE22), str(LAUNCHER), "--web"], env=env, cwd=cs.REPO,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = None
    end = time.monotonic() + 60
    while url is None and time.monotonic() < end and p.poll() is None:
        m = re.search(r"(http://127\.0\.0\.1:\d+\?MCP_INSPECTOR_API_TOKEN=[0-9a-f]+)", log.read_text(errors="replace"))
        url = m.group(1) if m else None
        time.sleep(0.1)
    if url is None:
        os.killpg(p.pid, signal.SIGTERM)
        pytest.fail("the Inspector web UI did not start:\n" + log.read_text(errors="replace")[-2000:], pytrace=False)
    yield url
    os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize("path", ["direct", "gateway"])
def test_inspector_ui_readme_steps(request, playwright_core, inspector_web, azurite, path, transport):
    base = request.getfixturevalue("direct_url") if path == "direct" else request.getfixturevalue("gateway").url + "/mcp"
    from azure.storage.blob import BlobServiceClient

    shots = DOCS_SHOTS if os.environ.get("INSPECTOR_SCREENSHOTS") == "1" else cs.ARTIFACTS / "inspector"
    shots.mkdir(parents=True, exist_ok=True)
    name = f"inspector-{transport}-{uuid.uuid4().hex[:8]}"
    content = 'print("saved from the Inspector")'
    args = {
        "inspectorUrl": inspector_web, "transport": transport, "serverId": f"snippets-{path}-{transport.split('-')[0]}",
        "serverUrl": base.removesuffix("/mcp") + (TRANSPORTS[transport] if path == "direct" else GATEWAY_PATHS[transport]),
        "snippetName": name, "snippet": content, "shots": str(shots),
        "prefix": transport if path == "direct" else f"gateway-{transport}", "signIn": path == "gateway",
        "failedShot": str(cs.ARTIFACTS / f"inspector-ui-{path}-{transport}-failed.png"),
    }  # fmt: skip
    env = dict(os.environ, PLAYWRIGHT_CORE=str(playwright_core))
    p = subprocess.run([str(cs.NODE22), str(DRIVER), json.dumps(args)], capture_output=True, text=True, timeout=120, env=env, cwd=cs.REPO)
    (cs.ARTIFACTS / f"inspector-ui-{path}-{transport}.log").write_text(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["connected"] is True
    assert f'"name": "{name}"' in result["result"] and f'"bytes": {len(content)}' in result["result"], result["result"]
    assert {"save_snippet", "get_snippet", "list_snippets", "delete_snippet", "hello_mcp"} <= set(result["tools"])
    container = BlobServiceClient.from_connection_string(azurite["connection_string"]).get_container_client("snippets")
    stored = [b.name for b in container.list_blobs() if b.name.endswith(f"{name}.json")]
    # The bare server keeps the reference's flat layout; behind the gateway the snippet lands in the
    # signed-in user's namespace (u/<key>/<name>.json, docs/server.md).
    if path == "direct":
        assert stored == [f"{name}.json"]
    else:
        assert len(stored) == 1 and stored[0].startswith("u/") and stored[0].endswith(f"/{name}.json"), stored
    assert container.get_blob_client(stored[0]).download_blob().readall() == content.encode()
