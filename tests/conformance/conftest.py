"""Fixtures for the conformance area: Azurite, the bare server (no token check), and the local
perimeter (APIM policy runner + Entra ID stand-in in auto-login mode) in front of a second
server that checks the gateway's session tokens. All on 127.0.0.1, once per session.

Logs and the suite's raw results go to test-artifacts/conformance/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

import conformance_support as cs

sys.path.insert(0, str(cs.REPO / "local"))
import localgw  # noqa: E402  (local/localgw.py, the launcher local/run-gateway.sh uses)

LOGS: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts() -> None:
    shutil.rmtree(cs.ARTIFACTS, ignore_errors=True)
    cs.ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and item.path.parent == Path(__file__).parent:
        for log in LOGS:
            text = log.read_text(errors="replace") if log.exists() else "<no log>"
            report.sections.append((f"log: {log.name}", "\n".join(text.splitlines()[-60:])))
    return report


def _binary() -> Path:
    explicit = os.environ.get("SNIPPETS_MCP_BIN")
    path = Path(explicit) if explicit else cs.REPO / "target" / "debug" / "snippets-mcp"
    if not path.exists():
        pytest.fail(f"server binary {path} is missing: cargo build --bin snippets-mcp", pytrace=False)
    return path


def _start_server(name: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    log = cs.ARTIFACTS / f"{name}.log"
    LOGS.append(log)
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    with open(log, "wb") as out:
        p = subprocess.Popen([str(_binary()), "--port", str(port)], env={**base, "RUST_LOG": "info", "NO_COLOR": "1", **env},
                             cwd=cs.REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if p.poll() is not None:
            pytest.fail(f"{name} exited with {p.returncode}:\n{log.read_text(errors='replace')[-2000:]}", pytrace=False)
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0).status_code == 200:
                return p
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{name} did not answer on port {port} within 60s", pytrace=False)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture(scope="session")
def azurite():
    state = Path(tempfile.mkdtemp(prefix="conf-azurite-"))
    LOGS.append(state / "azurite.log")
    proc, blob = localgw.start_azurite(state)
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={localgw.AZURITE_ACCOUNT};AccountKey={localgw.AZURITE_KEY};"
        f"BlobEndpoint={blob};"
    )
    yield {"blob": blob, "connection_string": conn}
    _stop(proc)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def direct_url(azurite):
    """The bare server, as `GATEWAY=0 scripts/run-local.sh` runs it."""
    port = localgw.free_port()
    p = _start_server("server-direct", port, {"AzureWebJobsStorage": azurite["connection_string"]})
    yield f"http://127.0.0.1:{port}/mcp"
    _stop(p)


@pytest.fixture(scope="session")
def gateway(azurite):
    """The local perimeter in front of a server that accepts only the gateway's session tokens."""
    keys = localgw.session_token_keys()
    gw_port, backend_port = localgw.free_port(), localgw.free_port()
    server = _start_server("server-behind-gateway", backend_port, {
        "AzureWebJobsStorage": azurite["connection_string"],
        "SESSION_TOKEN_ENC_KEY": keys["enc"], "SESSION_TOKEN_MAC_KEY": keys["mac"],
        "MCP_RESOURCE_URL": f"http://127.0.0.1:{gw_port}/mcp",
    })  # fmt: skip
    state = Path(tempfile.mkdtemp(prefix="conf-gw-"))
    logs = cs.ARTIFACTS / "gateway"
    LOGS.extend([logs / "gateway.stdout.log", logs / "gateway.stderr.log", logs / "idp.stderr.log"])
    gw = localgw.LocalGateway(state, backend_url=f"http://127.0.0.1:{backend_port}", blob_endpoint=azurite["blob"],
                              port=gw_port, auto_login="alice", session_keys=keys, log_dir=logs)  # fmt: skip
    try:
        gw.start()
    except Exception as e:  # noqa: BLE001
        gw.stop()
        _stop(server)
        pytest.fail(f"local gateway did not start: {e}", pytrace=False)
    yield gw
    gw.stop()
    _stop(server)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def gateway_mcp_url(gateway):
    """The gateway's /mcp with a token it issued through the real OAuth flow, added by a
    forwarding shim (the conformance suite cannot send an Authorization header)."""
    import oauth_flow

    shim = cs.BearerShim(gateway.port, oauth_flow.gateway_token(gateway.url))
    yield f"http://127.0.0.1:{shim.port}/mcp"
    shim.stop()
