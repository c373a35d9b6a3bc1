"""Origin validation on every MCP route (the MCP transports MUST check it): a page on another site
that a user's browser has open cannot drive the server. Attacks carry a valid Host, so only the
Origin check can refuse them; each asserts the 403 and that nothing was stored."""

from __future__ import annotations

import httpx
import pytest

import e2e_support as sup
from e2e_support import MCP_HEADERS, RawSseSession, jsonrpc

pytestmark = pytest.mark.anyio

ALLOWED = "http://localhost:6274"  # the Inspector's web UI, as an operator would list it
GATEWAY = "https://gw.example"  # origin of MCP_RESOURCE_URL, allowed without being listed
HOSTILE = ["https://evil.example", "null", "http://localhost:6275", "https://gw.example.evil.example", "http://gw.example"]


@pytest.fixture(scope="module")
def origin_server(azurite):
    srv = sup.Server(
        sup.base_env({
            "AzureWebJobsStorage": azurite.connection_string(),
            "MCP_ALLOWED_ORIGINS": ALLOWED,
            "MCP_RESOURCE_URL": f"{GATEWAY}/mcp",
        }),
        label="origin",
    )  # fmt: skip
    yield sup.started(srv)
    srv.stop()


def save(uid: str, id: str = "save") -> dict:
    return jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": uid, "snippet": "x"}}, id=id)


@pytest.mark.parametrize("origin", HOSTILE)
async def test_streamable_post_from_a_foreign_origin_is_refused(origin_server, blobs, uid, origin):
    before = blobs.snapshot()
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(f"{origin_server.base_url}/mcp", json=save(uid), headers={**MCP_HEADERS, "Origin": origin})
    assert r.status_code == 403, (r.status_code, r.text)
    assert "Origin not allowed" in r.text
    assert blobs.snapshot() == before


async def test_sse_stream_from_a_foreign_origin_is_refused(origin_server):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"{origin_server.base_url}/sse", headers={"Accept": "text/event-stream", "Origin": HOSTILE[0]})
    assert r.status_code == 403, (r.status_code, r.text)
    assert "endpoint" not in r.text


async def test_sse_message_from_a_foreign_origin_is_refused(origin_server, blobs, uid):
    """A live session (opened without Origin, like a native client) cannot be fed from a web page,
    even one that learned the session id."""
    before = blobs.snapshot()
    async with httpx.AsyncClient(timeout=30) as c:
        async with RawSseSession(origin_server.base_url, c) as sse:
            await sse.endpoint()
            assert "result" in await sse.initialize()
            r = await sse.post(save(uid, id="evil"), headers={"Origin": HOSTILE[0]})
            assert r.status_code == 403, (r.status_code, r.text)
            # The session still works for its client, and the refused call never ran.
            reply = await sse.request(jsonrpc("tools/call", {"name": "hello_mcp", "arguments": {}}, id="after"))
            assert reply["result"]["content"][0]["text"] == "Hello I am MCPTool!"
            assert not [m for m in sse.seen if m.get("id") == "evil"]
    assert blobs.snapshot() == before


async def test_two_origin_headers_are_refused(origin_server, blobs, uid):
    before = blobs.snapshot()
    headers = [*MCP_HEADERS.items(), ("Origin", ALLOWED), ("Origin", HOSTILE[0])]
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(f"{origin_server.base_url}/mcp", json=save(uid), headers=headers)
    assert r.status_code == 403, (r.status_code, r.text)
    assert blobs.snapshot() == before


@pytest.mark.parametrize("origin", [ALLOWED, GATEWAY, "HTTPS://GW.EXAMPLE:443", None])
async def test_allowed_or_absent_origin_is_served(origin_server, blobs, uid, origin):
    headers = dict(MCP_HEADERS) | ({"Origin": origin} if origin else {})
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(f"{origin_server.base_url}/mcp", json=save(uid), headers=headers)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json()["result"]["isError"] is False, r.text
        # The SSE transport serves the same origins.
        async with RawSseSession(origin_server.base_url, c, headers={"Origin": origin} if origin else {}) as sse:
            assert sse.response.status_code == 200
            await sse.endpoint()
            assert "result" in await sse.initialize()
    assert blobs.read(f"{uid}.json") == b"x"


async def test_same_origin_is_served_and_a_neighbouring_port_is_not(origin_server, blobs, uid):
    """A page served from the server's own origin (Origin = the Host it sends to, as the MCP conformance
    suite's DNS-rebinding scenario checks for localhost) is served; the same host on another port is
    another origin and is refused, with nothing stored."""
    own = f"http://127.0.0.1:{origin_server.port}"
    other = f"http://127.0.0.1:{origin_server.port + 1}"
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(f"{origin_server.base_url}/mcp", json=save(uid), headers={**MCP_HEADERS, "Origin": own})
        assert r.status_code == 200, (r.status_code, r.text)
        hostile = f"{uid}-other"
        r = await c.post(f"{origin_server.base_url}/mcp", json=save(hostile), headers={**MCP_HEADERS, "Origin": other})
        assert r.status_code == 403, (r.status_code, r.text)
    assert blobs.read(f"{uid}.json") == b"x"
    assert not blobs.exists(f"{hostile}.json")
