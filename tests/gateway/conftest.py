"""Fixtures for the local-gateway tests: Azurite, the snippets-mcp server (checking session
tokens with the gateway's keys), and the local perimeter (local/localgw.py: the APIM policy
runner executing infra/policies + the Entra ID stand-in), all on 127.0.0.1, once per session.

Logs go to test-artifacts/gateway/; a failing test's report carries the tail of each log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

import gw_support as sup

sys.path.insert(0, str(sup.REPO / "local"))
import localgw  # noqa: E402  (local/localgw.py, the same launcher local/run-gateway.sh uses)

# The well-known Azurite development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT = localgw.AZURITE_ACCOUNT
DEV_KEY = localgw.AZURITE_KEY
LOGS = sup.LOGS


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "<no log>"


# A fixture, not `pytest_sessionstart`: that hook is not called for conftests below the
# directory pytest starts from, so `pytest tests/` would never create the log directory.
@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts() -> None:
    """Fresh logs for each run (only this area's part of test-artifacts/)."""
    if sup.ARTIFACTS.exists():
        shutil.rmtree(sup.ARTIFACTS, ignore_errors=True)
    sup.ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and item.path.parent == Path(__file__).parent:
        for log in LOGS:
            report.sections.append((f"log: {log.name}", _tail(log)))
    return report


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _spawn(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    out, err = sup.ARTIFACTS / f"{name}.stdout.log", sup.ARTIFACTS / f"{name}.stderr.log"
    LOGS.extend([out, err])
    with open(out, "wb") as o, open(err, "wb") as e:
        return subprocess.Popen(argv, env=env, cwd=sup.REPO, stdin=subprocess.DEVNULL, stdout=o, stderr=e, start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def azurite():
    workdir = Path(tempfile.mkdtemp(prefix="gw-azurite-"))
    script = sup.REPO / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
    if not script.exists():
        pytest.fail(f"{script} is missing: run npm ci (scripts/test.sh does it)", pytrace=False)
    p = _spawn("azurite", [
        "node", str(script), "--location", str(workdir), "--blobHost", "127.0.0.1", "--blobPort", "0",
        "--queueHost", "127.0.0.1", "--queuePort", "0", "--tableHost", "127.0.0.1", "--tablePort", "0",
        "--skipApiVersionCheck", "--loose", "--disableTelemetry",
    ], _env({}))  # fmt: skip
    ports: dict[str, int] = {}
    end = time.monotonic() + 60
    while len(ports) < 3 and time.monotonic() < end and p.poll() is None:
        text = (sup.ARTIFACTS / "azurite.stdout.log").read_text(errors="replace")
        for kind, port in re.findall(r"Azurite (Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(\d+)", text):
            ports[kind.lower()] = int(port)
        time.sleep(0.05)
    if len(ports) < 3:
        _stop(p)
        pytest.fail("Azurite did not start:\n" + _tail(sup.ARTIFACTS / "azurite.stdout.log"), pytrace=False)
    endpoints = {k: f"http://127.0.0.1:{v}/{DEV_ACCOUNT}" for k, v in ports.items()}
    endpoints["connection_string"] = (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={endpoints['blob']};QueueEndpoint={endpoints['queue']};TableEndpoint={endpoints['table']};"
    )
    yield endpoints
    _stop(p)
    shutil.rmtree(workdir, ignore_errors=True)


def _server_binary() -> Path:
    explicit = os.environ.get("SNIPPETS_MCP_BIN")
    path = Path(explicit) if explicit else sup.REPO / "target" / "debug" / "snippets-mcp"
    if not path.exists():
        pytest.fail(f"server binary {path} is missing: cargo build --bin snippets-mcp", pytrace=False)
    return path


class Stack:
    """The running perimeter: gateway + IdP (LocalGateway) and the backend server."""

    def __init__(self, gateway: localgw.LocalGateway, backend_url: str, azurite: dict):
        self.gateway = gateway
        self.url = gateway.url
        self.idp_url = gateway.idp_url
        self.backend_url = backend_url
        self.azurite = azurite
        self.keys = gateway.session_keys
        self.named_values = gateway.named_values

    def gateway_log(self) -> str:
        return self.gateway.log("gateway")


def _wait_http(url: str, proc: subprocess.Popen, name: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n" + _tail(sup.ARTIFACTS / f"{name}.stderr.log"), pytrace=False)
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{name} did not answer {url} within {timeout}s", pytrace=False)


@pytest.fixture(scope="session")
def stack(azurite):
    """Session-wide: backend checking tokens (same keys as the gateway), gateway, IdP."""
    keys = localgw.session_token_keys()
    gw_port, backend_port = localgw.free_port(), localgw.free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    server = _spawn("server", [str(_server_binary()), "--port", str(backend_port)], _env({
        "AzureWebJobsStorage": azurite["connection_string"],
        "SESSION_TOKEN_ENC_KEY": keys["enc"], "SESSION_TOKEN_MAC_KEY": keys["mac"],
        "MCP_RESOURCE_URL": f"http://127.0.0.1:{gw_port}/mcp",
        "RUST_LOG": "info", "LOG_FORMAT": "text", "NO_COLOR": "1",
    }))  # fmt: skip
    _wait_http(backend_url + "/", server, "server")
    state = Path(tempfile.mkdtemp(prefix="gw-state-"))
    gw = localgw.LocalGateway(
        state, backend_url=backend_url, blob_endpoint=azurite["blob"], port=gw_port, auto_login="alice",
        session_keys=keys, log_dir=sup.ARTIFACTS,
    )  # fmt: skip
    for name in ("gateway", "idp"):
        LOGS.extend([sup.ARTIFACTS / f"{name}.stdout.log", sup.ARTIFACTS / f"{name}.stderr.log"])
    try:
        gw.start()
    except Exception as e:  # noqa: BLE001
        gw.stop()
        _stop(server)
        pytest.fail(f"local gateway did not start: {e}", pytrace=False)
    yield Stack(gw, backend_url, azurite)
    gw.stop()
    _stop(server)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def client_ip() -> str:
    return sup.next_client_ip()


@pytest.fixture
async def oauth(stack, client_ip):
    o = sup.OAuth(stack.url, client_ip)
    yield o
    await o.aclose()


@pytest.fixture
def blob_service(azurite):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite["connection_string"])


@pytest.fixture
def start_gateway(stack):
    """Factory for an extra gateway + IdP (own keys unless given), stopped at teardown."""
    started: list[localgw.LocalGateway] = []

    def start(name: str, **options) -> localgw.LocalGateway:
        options.setdefault("backend_url", stack.backend_url)
        options.setdefault("blob_endpoint", stack.azurite["blob"])
        options.setdefault("session_keys", stack.keys)
        logs = sup.ARTIFACTS / name
        for proc in ("gateway", "idp"):
            LOGS.extend([logs / f"{proc}.stdout.log", logs / f"{proc}.stderr.log"])
        gw = localgw.LocalGateway(Path(tempfile.mkdtemp(prefix=f"gw-{name}-")), log_dir=logs, **options)
        started.append(gw)
        gw.start()
        return gw

    yield start
    for gw in started:
        gw.stop()
        shutil.rmtree(gw.state, ignore_errors=True)
