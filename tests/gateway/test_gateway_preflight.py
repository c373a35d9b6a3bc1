"""CORS preflights under APIM's OPTIONS rule: a request that matches an explicit `OPTIONS`
operation is that operation's request, and the `cors` policy does not answer it (APIM cors
policy reference, usage notes). With no `OPTIONS` operation, a preflight from a browser
origin gets the API's cors answer, and any other `OPTIONS` request matches no operation
(404) and never reaches the backend."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

ORIGIN = "https://app.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
REPO_POLICIES = sup.REPO / "infra" / "policies"


@pytest.fixture
def recorder():
    r = sup.RecordingBackend()
    yield r
    r.close()


@pytest.fixture
async def http(client_ip):
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as c:
        yield c


def assert_cors_answer(r: httpx.Response) -> None:
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "www-authenticate" not in r.headers


@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/mcp/sse", "/mcp/message"])
async def test_mcp_preflight_gets_the_cors_answer(stack, http, path):
    assert_cors_answer(await http.options(f"{stack.url}{path}", headers=PREFLIGHT))


@pytest.mark.parametrize("path", ["/token", "/register", "/revoke", "/.well-known/oauth-authorization-server"])
async def test_oauth_preflight_gets_the_cors_answer(stack, http, path):
    assert_cors_answer(await http.options(f"{stack.url}{path}", headers=PREFLIGHT))


async def test_non_preflight_options_is_never_forwarded(start_gateway, recorder, client_ip):
    gw = start_gateway("options-recording", backend_url=recorder.url)
    token = sup.seal_token(sup.claims_for(f"{gw.url}/mcp"), gw.session_keys["enc"], gw.session_keys["mac"])
    attempts = [
        ("/mcp/x", {}),
        ("/mcp/x", {"Authorization": f"Bearer {token}"}),
        ("/mcp", {"Authorization": f"Bearer {token}", "Origin": ORIGIN}),  # no Access-Control-Request-Method
        ("/mcp/sse", {"Access-Control-Request-Method": "GET"}),  # no Origin
        ("/token", {}),
        ("/authorize", {"Origin": ORIGIN}),
    ]
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as http:
        for path, headers in attempts:
            r = await http.options(f"{gw.url}{path}", headers=headers)
            assert r.status_code == 404, (path, headers, r.status_code, r.text)
            assert r.json() == {"statusCode": 404, "message": "Resource not found"}
        # The same gateway does forward an authorised POST: the recorder is wired in.
        assert (await http.post(f"{gw.url}/mcp", json={}, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert [(r["method"], r["path"]) for r in recorder.requests] == [("POST", "/mcp")]


async def test_explicit_options_operation_skips_cors_preflight_handling(start_gateway, recorder, client_ip):
    """The rule itself, on a copy of the policies whose manifest still declares `OPTIONS /*`
    operations: the /mcp preflight meets the token check (401), and the OAuth API's preflight
    falls through to forward-request without a backend service (500 here; in Azure the API's
    service URL, which serves nothing)."""
    work = Path(tempfile.mkdtemp(prefix="gw-options-op-"))
    try:
        policies = work / "policies"
        shutil.copytree(REPO_POLICIES, policies)
        manifest = json.loads((policies / "manifest.json").read_text())
        for api in manifest["apis"]:
            if not any(o["method"] == "OPTIONS" for o in api["operations"]):
                api["operations"].append({"name": "preflight", "displayName": "CORS preflight", "method": "OPTIONS", "urlTemplate": "/*", "templateParameters": [], "policy": None})
        (policies / "manifest.json").write_text(json.dumps(manifest, indent=2))
        gw = start_gateway("options-operation", backend_url=recorder.url, policies_dir=policies)
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as http:
            r = await http.options(f"{gw.url}/mcp", headers=PREFLIGHT)
            assert r.status_code == 401
            assert "access-control-allow-methods" not in r.headers
            assert recorder.requests == []
            r = await http.options(f"{gw.url}/token", headers=PREFLIGHT)
            assert r.status_code == 500
            assert "access-control-allow-methods" not in r.headers
        assert recorder.requests == []
    finally:
        shutil.rmtree(work, ignore_errors=True)
