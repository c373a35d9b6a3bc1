"""Fixtures for the local-gateway tests: Azurite, the snippets-mcp server (checking session
tokens with the gateway's keys), and the local perimeter (devstack/gateway.py: the APIM policy
runner executing infra/policies + the Entra ID stand-in), all on 127.0.0.1, once per session.

Logs go to test-artifacts/gateway/; a failing test's report carries the tail of each log
(tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytest

import gw_support as sup
from devstack import azurite as devstack_azurite
from devstack.gateway import LocalGateway
from devstack.ingestion import IngestionReceiver
from devstack.processes import ManagedProcess, clean_env, free_port, http_ok
from devstack.session_token import generate_keys

# The well-known Azurite development account, from devstack/azurite.py.
DEV_ACCOUNT = devstack_azurite.ACCOUNT
DEV_KEY = devstack_azurite.KEY


@pytest.fixture(scope="session")
def azurite():
    workdir = Path(tempfile.mkdtemp(prefix="gw-azurite-"))
    az = devstack_azurite.Azurite(workdir, log_dir=sup.ARTIFACTS)
    try:
        az.start()
    except Exception as e:  # noqa: BLE001
        pytest.fail(str(e), pytrace=False)
    endpoints = {k: az.endpoint(k) for k in az.ports}
    endpoints["connection_string"] = az.connection_string()
    yield endpoints
    az.stop()
    shutil.rmtree(workdir, ignore_errors=True)


class Stack:
    """The running perimeter: gateway + IdP (LocalGateway) and the backend server."""

    def __init__(self, gateway: LocalGateway, backend_url: str, azurite: dict):
        self.gateway = gateway
        self.url = gateway.url
        self.idp_url = gateway.idp_url
        self.backend_url = backend_url
        self.azurite = azurite
        self.keys = gateway.session_keys
        self.named_values = gateway.named_values

    def gateway_log(self) -> str:
        return self.gateway.log("gateway")


@pytest.fixture(scope="session")
def ingestion():
    """The backend's Application Insights endpoint: a loopback receiver of its telemetry."""
    receiver = IngestionReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def stack(azurite, ingestion):
    """Session-wide: backend checking tokens (same keys as the gateway) and exporting telemetry, gateway, IdP."""
    keys = generate_keys()
    gw_port, backend_port = free_port(), free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    server = ManagedProcess("server", [str(sup.server_binary()), "--port", str(backend_port)], clean_env({
        "AzureWebJobsStorage": azurite["connection_string"], **keys.server_env(f"http://127.0.0.1:{gw_port}/mcp"),
        "RUST_LOG": "info", "LOG_FORMAT": "text", "NO_COLOR": "1",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string(), "TELEMETRY_FLUSH_MS": "200",
    }), log_dir=sup.ARTIFACTS).start()  # fmt: skip
    try:
        server.wait_until(lambda: http_ok(backend_url + "/", timeout=1.0), 60, f"answer on {backend_url}/")
    except RuntimeError as e:
        server.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        with sup.local_gateway(
            "state", sup.ARTIFACTS, backend_url=backend_url, blob_endpoint=azurite["blob"], port=gw_port,
            auto_login="alice", session_keys=keys,
        ) as gw:  # fmt: skip
            yield Stack(gw, backend_url, azurite)
    finally:
        server.stop()


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
    """Factory for an extra gateway + IdP (the session's keys unless given), stopped at teardown."""
    with contextlib.ExitStack() as started:

        def start(name: str, **options) -> LocalGateway:
            return started.enter_context(sup.extra_gateway(name, stack, **options))

        yield start


@pytest.fixture(scope="module")
def documents():
    """The stand-in host of Client ID Metadata Documents, one per test module (a module may
    override it, e.g. test_gateway_client_metadata.py)."""
    d = sup.DocumentServer()
    yield d
    d.close()
