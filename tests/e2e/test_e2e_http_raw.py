"""Both transports at the HTTP level, with httpx and no SDK: status codes, framing, limits."""

from __future__ import annotations

import json
import re
import time

import anyio
import httpx
import pytest

import e2e_support as sup
from e2e_support import MCP_HEADERS, Deadline, RawSseSession, jsonrpc, mcp_response_messages

pytestmark = pytest.mark.anyio


def init_msg(id=1) -> dict:
    return jsonrpc(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e-raw", "version": "0"}},
        id=id,
    )


def oversized_save_body(name: str) -> bytes:
    """A well-formed tools/call just over MCP_MAX_BODY_BYTES."""
    msg = jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": name, "snippet": ""}}, id=9)
    skeleton = json.dumps(msg)
    pad = sup.MAX_BODY_BYTES + 1 - len(skeleton)
    msg["params"]["arguments"]["snippet"] = "z" * pad
    body = json.dumps(msg).encode()
    assert len(body) == sup.MAX_BODY_BYTES + 1
    return body


async def test_root_answers_200_at_once(server):
    async with httpx.AsyncClient() as c:
        t = time.monotonic()
        r = await c.get(server.base_url + "/", timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t < 1.0


# ------------------------------------------------------------------------- Streamable HTTP


async def test_streamable_http_is_stateless(server):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(server.base_url + "/mcp", json=init_msg(), headers=MCP_HEADERS)
        assert r.status_code == 200, r.text
        assert "mcp-session-id" not in r.headers, "stateless server handed out a session id"
        [msg] = mcp_response_messages(r)
        assert msg["id"] == 1 and "protocolVersion" in msg["result"]
        assert "tools" in msg["result"]["capabilities"]

        # Any request, on any connection, without a session: what lets any instance answer.
        call = jsonrpc("tools/call", {"name": "hello_mcp", "arguments": {}}, id=2)
        r = await c.post(server.base_url + "/mcp", json=call, headers=MCP_HEADERS)
        assert r.status_code == 200, r.text
        [msg] = mcp_response_messages(r)
        assert msg["id"] == 2
        assert msg["result"]["content"][0]["text"] == "Hello I am MCPTool!"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not_json"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"jsonrpc": "2.0", "method": "tools/list", "id": 1', id="truncated"),
        pytest.param(b"\xff\xfe\x00garbage", id="not_utf8"),
    ],
)
async def test_malformed_body_on_mcp_is_a_clean_4xx(server, body):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(server.base_url + "/mcp", content=body, headers=MCP_HEADERS)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


@pytest.mark.parametrize(
    "msg",
    [
        pytest.param({"hello": "world"}, id="not_jsonrpc"),
        pytest.param({"jsonrpc": "1.0", "method": "tools/list", "id": 1}, id="wrong_version"),
        pytest.param({"jsonrpc": "2.0", "id": 1}, id="no_method"),
        pytest.param(42, id="number"),
    ],
)
async def test_invalid_jsonrpc_on_mcp_is_refused_cleanly(server, msg):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(server.base_url + "/mcp", json=msg, headers=MCP_HEADERS)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code == 200:
        # A JSON-RPC error object is a clean refusal too.
        msgs = mcp_response_messages(r)
        assert msgs and all("error" in m for m in msgs), msgs
    else:
        assert 400 <= r.status_code < 500


async def test_oversized_body_on_mcp_is_413_and_nothing_written(server, blobs, uid):
    before = blobs.snapshot()
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(server.base_url + "/mcp", content=oversized_save_body(f"{uid}-big"), headers=MCP_HEADERS)
    assert r.status_code == 413, (r.status_code, r.text[:500])
    assert blobs.snapshot() == before


async def test_body_just_under_the_limit_on_mcp_is_not_413(server):
    async with httpx.AsyncClient(timeout=60) as c:
        msg = jsonrpc("tools/call", {"name": "hello_mcp", "arguments": {}}, id=3)
        skeleton = json.dumps(msg)
        # Pad with insignificant JSON whitespace up to exactly the limit.
        body = (skeleton[:-1] + " " * (sup.MAX_BODY_BYTES - len(skeleton)) + "}").encode()
        assert len(body) == sup.MAX_BODY_BYTES
        r = await c.post(server.base_url + "/mcp", content=body, headers=MCP_HEADERS)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    [m] = mcp_response_messages(r)
    assert m["result"]["content"][0]["text"] == "Hello I am MCPTool!"


# ------------------------------------------------------------------------------ legacy SSE


async def test_sse_endpoint_event_is_relative_and_session_works(server):
    async with httpx.AsyncClient(timeout=30) as c, RawSseSession(server.base_url, c) as sse:
        assert sse.response.status_code == 200
        assert sse.response.headers["content-type"].startswith("text/event-stream")
        data = await sse.endpoint()
        # Relative, so it resolves behind APIM (/mcp/sse -> /mcp/message) and directly alike.
        assert re.fullmatch(r"message\?sessionId=[A-Za-z0-9._~-]+", data), data
        assert sse.message_url().startswith(server.base_url + "/message?sessionId=")

        init = await sse.initialize()
        assert init["id"] == "init" and "tools" in init["result"]["capabilities"]
        listed = await sse.request(jsonrpc("tools/list", {}, id=2))
        assert {t["name"] for t in listed["result"]["tools"]} == sup.TOOL_NAMES
        hello = await sse.request(jsonrpc("tools/call", {"name": "hello_mcp", "arguments": {}}, id=3))
        assert hello["result"]["content"][0]["text"] == "Hello I am MCPTool!"


async def test_two_sse_sessions_get_distinct_ids(server):
    async with httpx.AsyncClient(timeout=30) as c:
        async with RawSseSession(server.base_url, c) as a, RawSseSession(server.base_url, c) as b:
            assert await a.endpoint() != await b.endpoint()


async def test_message_with_unknown_session_is_404(server):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(
            server.base_url + "/message?sessionId=does-not-exist-0123456789", json=init_msg(), headers=MCP_HEADERS
        )
    assert r.status_code == 404, (r.status_code, r.text)


async def test_message_without_session_is_400(server):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(server.base_url + "/message", json=init_msg(), headers=MCP_HEADERS)
        assert r.status_code == 400, (r.status_code, r.text)
        r = await c.post(server.base_url + "/message?sessionId=", json=init_msg(), headers=MCP_HEADERS)
        assert r.status_code in (400, 404), (r.status_code, r.text)


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe"], ids=["not_json", "empty", "not_utf8"])
async def test_malformed_body_on_message_is_400_and_session_survives(server, body):
    async with httpx.AsyncClient(timeout=30) as c, RawSseSession(server.base_url, c) as sse:
        await sse.endpoint()
        r = await sse.post(body)
        assert r.status_code == 400, (r.status_code, r.text)
        # The stream and the session are still usable afterwards.
        init = await sse.initialize()
        assert "result" in init


async def test_oversized_body_on_message_is_413_and_nothing_written(server, blobs, uid):
    before = blobs.snapshot()
    async with httpx.AsyncClient(timeout=60) as c, RawSseSession(server.base_url, c) as sse:
        await sse.endpoint()
        await sse.initialize()
        r = await sse.post(oversized_save_body(f"{uid}-big"), headers={"Connection": "close"})
        assert r.status_code == 413, (r.status_code, r.text[:500])
    assert blobs.snapshot() == before


async def test_closing_the_stream_frees_the_session(server):
    async with httpx.AsyncClient(timeout=30) as c:
        async with RawSseSession(server.base_url, c) as sse:
            await sse.endpoint()
            url = sse.message_url()
            r = await sse.post(init_msg())
            assert r.status_code == 202
        # The stream is closed now; the server notices the disconnect and drops the session.
        deadline = Deadline(10)
        status = None
        while not deadline.expired():
            status = (await c.post(url, json=jsonrpc("ping", id=5), headers=MCP_HEADERS)).status_code
            if status == 404:
                break
            await anyio.sleep(0.1)
        assert status == 404, f"session still accepts messages 10s after its stream closed (last status {status})"


async def test_sse_stream_sends_keepalive_within_15_seconds(server):
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=30)) as c, RawSseSession(server.base_url, c) as sse:
        await sse.endpoint()
        start = time.monotonic()
        line = ""
        with anyio.fail_after(20):
            # Nothing is requested, so the only thing that can arrive is a keep-alive.
            for _ in range(1000):
                line = await sse.next_line()
                if line:
                    break
        waited = time.monotonic() - start
        assert line.startswith(":"), f"expected a comment keep-alive, got {line!r}"
        assert waited <= 16.0, f"first keep-alive after {waited:.1f}s"


async def test_lone_surrogate_in_snippet_is_refused_cleanly(server, blobs, uid):
    """`\\ud800` is valid JSON text but no Unicode scalar value: refuse it, write nothing, no 5xx."""
    before = blobs.snapshot()
    raw = (
        '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"save_snippet",'
        f'"arguments":{{"snippetname":"{uid}-surrogate","snippet":"a\\ud800b"}}}}}}'
    ).encode()
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(server.base_url + "/mcp", content=raw, headers=MCP_HEADERS)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code == 200:
        [m] = mcp_response_messages(r)
        assert "error" in m or m["result"].get("isError") is True, m
    assert blobs.snapshot() == before


@pytest.mark.parametrize(
    "msg",
    [pytest.param({"hello": "world"}, id="not_jsonrpc"), pytest.param([], id="empty_batch"), pytest.param(42, id="number")],
)
async def test_invalid_jsonrpc_on_message_is_refused_and_session_survives(server, msg):
    async with httpx.AsyncClient(timeout=30) as c, RawSseSession(server.base_url, c) as sse:
        await sse.endpoint()
        r = await sse.post(msg)
        assert r.status_code in (202, 400), (r.status_code, r.text)
        init = await sse.initialize()
        assert "result" in init
