"""Fixtures for the conformance area: Azurite, the bare server (no token check), and the local
perimeter (APIM policy runner + Entra ID stand-in in auto-login mode) in front of a second
server that checks the gateway's session tokens. All on 127.0.0.1, once per session.

Logs and the suite's raw results go to test-artifacts/conformance/ (fresh each run, and attached to a
failing test's report, by tests/conftest.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

import conformance_support as cs
from devstack.azurite import Azurite
from devstack.processes import free_port
from devstack.session_token import generate_keys

sys.path.insert(0, str(cs.REPO / "tests" / "e2e"))
from e2e_support import Server, base_env  # noqa: E402  (the e2e area's server launcher)

sys.path.insert(0, str(cs.REPO / "tests" / "gateway"))
import gw_support  # noqa: E402  (the gateway area's local perimeter launcher)


@pytest.fixture(scope="session")
def azurite():
    state = Path(tempfile.mkdtemp(prefix="conf-azurite-"))
    az = Azurite(state, log_dir=cs.ARTIFACTS, services=("blob",))
    try:
        az.start()
    except Exception as e:  # noqa: BLE001
        az.stop()
        pytest.fail(str(e), pytrace=False)
    yield {"blob": az.endpoint("blob"), "connection_string": az.connection_string()}
    az.stop()
    shutil.rmtree(state, ignore_errors=True)


def _start_server(label: str, env: dict[str, str]) -> Server:
    try:
        return Server(base_env(env), label=label).start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def direct_url(azurite):
    """The bare server, as `GATEWAY=0 scripts/run-local.sh` runs it."""
    server = _start_server("server-direct", {"AzureWebJobsStorage": azurite["connection_string"]})
    yield f"{server.base_url}/mcp"
    server.stop()


@pytest.fixture(scope="session")
def gateway(azurite):
    """The local perimeter in front of a server that accepts only the gateway's session tokens."""
    keys = generate_keys()
    gw_port = free_port()
    # The suite reaches the gateway through the bearer shim (below), so the shim's URL plays the
    # gateway's public URL: its origin is the one an operator lists in MCP_ALLOWED_ORIGINS.
    shim_port = free_port()
    server = _start_server("server-behind-gateway", {
        "MCP_ALLOWED_ORIGINS": f"http://localhost:{shim_port},http://127.0.0.1:{shim_port}",
        "AzureWebJobsStorage": azurite["connection_string"],
        "SESSION_TOKEN_ENC_KEY": keys["enc"], "SESSION_TOKEN_MAC_KEY": keys["mac"],
        "MCP_RESOURCE_URL": f"http://127.0.0.1:{gw_port}/mcp",
    })  # fmt: skip
    try:
        with gw_support.local_gateway(
            "conformance", cs.ARTIFACTS / "gateway", cs.LOGS, backend_url=server.base_url, blob_endpoint=azurite["blob"],
            port=gw_port, auto_login="alice", session_keys=keys,
        ) as gw:  # fmt: skip
            gw.shim_port = shim_port
            yield gw
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gateway_mcp_url(gateway):
    """The gateway's /mcp with a token it issued through the real OAuth flow, added by a
    forwarding shim (the conformance suite cannot send an Authorization header)."""
    import oauth_flow

    shim = cs.BearerShim(gateway.port, oauth_flow.gateway_token(gateway.url), port=gateway.shim_port)
    yield f"http://127.0.0.1:{shim.port}/mcp"
    shim.stop()
