"""The SSE relay between instances: on Flex Consumption a POST /message may land on another
instance than the one holding the stream. Two real server processes share one Azurite (blob and
queues); the stream is on A, every POST goes to B, and the replies must still arrive on A's stream.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

import e2e_support as sup
from e2e_support import MCP_HEADERS, RawSseSession, assert_ok, jsonrpc, mcp_session, result_text

pytestmark = pytest.mark.anyio


@pytest.fixture
def two_servers(start_server, azurite):
    env = {"AzureWebJobsStorage": azurite.connection_string()}
    return start_server(env, label="instance-a"), start_server(env, label="instance-b")


async def test_sdk_client_works_when_every_post_lands_on_another_instance(two_servers, blobs, uid):
    a, b = two_servers
    async with mcp_session(a.base_url, "sse", post_base=b.base_url) as s:
        tools = {t.name for t in (await s.list_tools()).tools}
        assert tools == sup.TOOL_NAMES
        assert result_text(assert_ok(await s.call_tool("hello_mcp", {}))) == "Hello I am MCPTool!"
        content = "relayed through a queue ✓\r\n\t"
        assert_ok(await s.call_tool("save_snippet", {"snippetname": uid, "snippet": content}))
        assert result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": uid}))) == content
    assert blobs.read(f"{uid}.json") == content.encode()


async def test_concurrent_relayed_calls_all_answer_on_the_right_stream(two_servers, blobs, uid):
    a, b = two_servers
    names = [f"{uid}-r{i:02d}" for i in range(30)]
    async with mcp_session(a.base_url, "sse", post_base=b.base_url) as s:
        rs = await asyncio.gather(
            *(s.call_tool("save_snippet", {"snippetname": n, "snippet": f"#{i}"}) for i, n in enumerate(names))
        )
        assert [r.structured_content["name"] for r in map(assert_ok, rs)] == names
        gs = await asyncio.gather(*(s.call_tool("get_snippet", {"snippetname": n}) for n in names))
        assert [result_text(assert_ok(g)) for g in gs] == [f"#{i}" for i in range(len(names))]
    assert blobs.names(uid) == sorted(f"{n}.json" for n in names)


async def test_relay_in_both_directions_at_once(two_servers, uid):
    """A stream on each instance, each posting to the other."""
    a, b = two_servers

    async def client(stream_on, post_to, tag):
        async with mcp_session(stream_on.base_url, "sse", post_base=post_to.base_url) as s:
            for i in range(5):
                name = f"{uid}-{tag}{i}"
                assert_ok(await s.call_tool("save_snippet", {"snippetname": name, "snippet": tag}))
                assert result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": name}))) == tag

    await asyncio.gather(client(a, b, "ab"), client(b, a, "ba"))


async def test_unknown_session_on_another_instance_is_404(two_servers):
    a, b = two_servers
    async with httpx.AsyncClient(timeout=30) as c:
        for sid in ("0123456789ab-00ff", "does-not-exist", "../../x-ff"):
            with sup.step(sid):
                r = await c.post(f"{b.base_url}/message?sessionId={sid}", json=jsonrpc("ping"), headers=MCP_HEADERS)
                assert r.status_code == 404, (r.status_code, r.text)


async def test_large_relayed_requests_overflow_to_a_blob_and_leave_nothing_behind(two_servers, blobs, uid):
    """Queue messages hold 64 KiB; a larger relayed request (here a 1 MiB snippet) travels as a blob
    in the relay container, which the owning instance reads and deletes."""
    a, b = two_servers
    content = ("0123456789abcdef" * 65536)[: 1024 * 1024 - 3] + "✓"
    assert len(content.encode()) == 1024 * 1024
    async with httpx.AsyncClient(timeout=60) as c, RawSseSession(a.base_url, c, post_base=b.base_url) as sse:
        await sse.endpoint()
        assert "result" in await sse.initialize()
        saved = await sse.request(
            jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": f"{uid}-big", "snippet": content}}, id=2)
        )
        assert saved["result"].get("isError") in (None, False), saved
        assert saved["result"]["structuredContent"] == {"name": f"{uid}-big", "bytes": 1024 * 1024}
        got = await sse.request(jsonrpc("tools/call", {"name": "get_snippet", "arguments": {"snippetname": f"{uid}-big"}}, id=3))
        assert got["result"]["content"][0]["text"] == content
    assert blobs.read(f"{uid}-big.json") == content.encode()
    snapshot = blobs.snapshot()
    assert "mcp-sse-relay" in snapshot, "the request should have overflowed into the relay container"
    leftovers = [n for n in snapshot["mcp-sse-relay"] if n.startswith(a_instance(a) + "/")]
    assert leftovers == [], leftovers


def a_instance(server) -> str:
    """The instance id prefix of server A's session ids, read from a fresh endpoint event."""
    with httpx.stream("GET", f"{server.base_url}/sse", timeout=10) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                return line.split("sessionId=", 1)[1].split("-", 1)[0]
    raise AssertionError("no endpoint event")


async def test_relayed_messages_keep_the_callers_identity(start_server, azurite, uid):
    """With tokens checked, a request relayed to another instance is still bound to its sender:
    Mallory cannot drive Alice's session by posting to the instance that does not hold it."""
    keys = sup.new_keys()
    env = {"AzureWebJobsStorage": azurite.connection_string(), **sup.auth_env(keys)}
    a = start_server(env, label="auth-a")
    b = start_server(env, label="auth-b")

    def token(sub):
        return sup.bearer(sup.seal(*keys, sup.claims(sub=sub)))

    async with httpx.AsyncClient(timeout=30) as c:
        async with RawSseSession(a.base_url, c, headers=token("alice"), post_base=b.base_url) as sse:
            await sse.endpoint()
            assert "result" in await sse.initialize()
            evil = jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": f"{uid}-evil", "snippet": "x"}}, id="evil")
            r = await c.post(sse.message_url(), json=evil, headers={**MCP_HEADERS, **token("mallory")})
            assert r.status_code in (202, 403, 404), (r.status_code, r.text)
            # Alice's own relayed requests keep working; Mallory's never produces a reply or a write.
            for i in range(3):
                reply = await sse.request(jsonrpc("tools/call", {"name": "hello_mcp", "arguments": {}}, id=f"alice-{i}"))
                assert reply["result"]["content"][0]["text"] == "Hello I am MCPTool!"
            assert not [m for m in sse.seen if m.get("id") == "evil"], sse.seen
    inspector = sup.BlobInspector(azurite.connection_string())
    assert inspector.names(f"{uid}-evil") == []
    for sub in ("alice", "mallory"):
        assert not inspector.exists(sup.user_blob(sub, f"{uid}-evil"))


async def test_relayed_calls_run_in_the_session_openers_namespace(start_server, azurite, uid):
    """Per-user namespaces across instances: streams on A, every POST through B. Alice's snippet
    stays invisible to Bob (get, list, delete), and Bob's save creates his own."""
    keys = sup.new_keys()
    env = {"AzureWebJobsStorage": azurite.connection_string(), **sup.auth_env(keys)}
    a = start_server(env, label="ns-a")
    b = start_server(env, label="ns-b")
    inspector = sup.BlobInspector(azurite.connection_string())

    def token(sub):
        return sup.bearer(sup.seal(*keys, sup.claims(sub=sub)))

    async with mcp_session(a.base_url, "sse", headers=token("alice-oid"), post_base=b.base_url) as alice:
        async with mcp_session(a.base_url, "sse", headers=token("bob-oid"), post_base=b.base_url) as bob:
            assert_ok(await alice.call_tool("save_snippet", {"snippetname": uid, "snippet": "alice"}))
            got = await bob.call_tool("get_snippet", {"snippetname": uid})
            assert got.is_error and result_text(got) == f"snippet not found: {uid}"
            listed = assert_ok(await bob.call_tool("list_snippets", {"prefix": uid}))
            assert listed.structured_content["snippets"] == []
            deleted = await bob.call_tool("delete_snippet", {"snippetname": uid})
            assert deleted.is_error and result_text(deleted) == f"snippet not found: {uid}"
            assert_ok(await bob.call_tool("save_snippet", {"snippetname": uid, "snippet": "bob"}))
            assert result_text(assert_ok(await alice.call_tool("get_snippet", {"snippetname": uid}))) == "alice"
    assert inspector.read(sup.user_blob("alice-oid", uid)) == b"alice"
    assert inspector.read(sup.user_blob("bob-oid", uid)) == b"bob"
    assert not inspector.exists(f"{uid}.json")
