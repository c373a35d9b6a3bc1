"""Telemetry to Application Insights, received by a loopback endpoint that speaks the ingestion
protocol (devstack/ingestion.py): one operation id ties the HTTP request, the tool call, its storage
calls and the audit event, parented on the caller's `traceparent` (or `_meta.traceparent`); the
audit event says who called which tool on which snippet, never the content; and an ingestion
endpoint that hangs or fails never slows a tool call nor grows the server's memory without bound."""

from __future__ import annotations

import secrets
import signal
import time
import uuid

import anyio
import httpx
import pytest

import e2e_support as sup
from devstack.ingestion import IngestionReceiver
from e2e_support import MCP_HEADERS, RawSseSession, bearer, claims, jsonrpc, new_keys, seal

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def keys():
    return new_keys()


@pytest.fixture
def receiver():
    r = IngestionReceiver().start()
    yield r
    r.stop()


def telemetry_env(azurite, keys, receiver, **extra) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string(),
        **sup.auth_env(keys),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": receiver.connection_string(str(uuid.uuid4())),
        "TELEMETRY_FLUSH_MS": "200",
        **extra,
    }


def traceparent() -> tuple[str, str, str]:
    trace, span = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace}-{span}-01", trace, span


async def wait_for(what: str, check, seconds: float = 15.0):
    """Polls `check` (returns a value or None) until it has a value, within a bounded time."""
    with anyio.fail_after(seconds):
        while (found := check()) is None:
            await anyio.sleep(0.1)
    return found


def of_operation(receiver: IngestionReceiver, trace: str) -> dict[str, list[dict]]:
    """The envelopes of one operation, by kind (Request, RemoteDependency, Event)."""
    out: dict[str, list[dict]] = {}
    for e in receiver.snapshot():
        if e.get("tags", {}).get("ai.operation.id") == trace:
            out.setdefault(e["name"].rsplit(".", 1)[-1], []).append(e)
    return out


def base(e: dict) -> dict:
    return e["data"]["baseData"]


def tool_call(name: str, arguments: dict, meta: dict | None = None) -> dict:
    params: dict = {"name": name, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return jsonrpc("tools/call", params)


async def test_one_operation_ties_request_tool_call_storage_and_audit(start_server, azurite, keys, receiver, uid):
    srv = start_server(telemetry_env(azurite, keys, receiver), label="telemetry")
    header, trace, caller_span = traceparent()
    who = claims("user-oid-1")
    content = f"secret content {secrets.token_hex(8)}"
    token = seal(*keys, who)
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{srv.base_url}/mcp",
            json=tool_call("save_snippet", {"snippetname": uid, "snippet": content}),
            headers={**MCP_HEADERS, **bearer(token), "traceparent": header},
        )
        assert r.status_code == 200 and "error" not in r.json(), r.text

    def complete():
        op = of_operation(receiver, trace)
        has_storage = any(base(d)["type"] != "InProc" for d in op.get("RemoteDependency", []))
        return op if op.get("Request") and op.get("Event") and has_storage else None

    op = await wait_for("request, tool call, storage call and audit event", complete)
    [request] = op["Request"]
    assert base(request)["name"] == "POST /mcp" and base(request)["responseCode"] == "200"
    assert request["tags"]["ai.operation.parentId"] == caller_span
    [tool] = [d for d in op["RemoteDependency"] if base(d)["type"] == "InProc"]
    assert base(tool)["name"] == "tool save_snippet" and base(tool)["success"] is True
    assert tool["tags"]["ai.operation.parentId"] == base(request)["id"]
    storage = [d for d in op["RemoteDependency"] if base(d)["type"] != "InProc"]
    assert storage and all(d["tags"]["ai.operation.parentId"] == base(tool)["id"] for d in storage), storage
    assert all(base(d)["name"].startswith("PUT ") for d in storage), [base(d)["name"] for d in storage]
    assert all("?" not in base(d)["data"] for d in storage), "a storage URL's query (SAS) was recorded"
    [event] = op["Event"]
    props = base(event)["properties"]
    assert base(event)["name"] == "McpToolCall"
    assert props["tool"] == "save_snippet" and props["outcome"] == "ok" and props["snippet"] == uid
    assert props["userId"] == who["sub"] and props["clientId"] == who["cid"]
    assert float(props["durationMs"]) >= 0
    # Never the snippet's content or the token, in any envelope.
    everything = str(receiver.snapshot())
    assert content not in everything and token not in everything


async def test_refusals_are_audited_with_their_error_prefix(start_server, azurite, keys, receiver):
    srv = start_server(telemetry_env(azurite, keys, receiver), label="telemetry-refused")
    header, trace, _ = traceparent()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{srv.base_url}/mcp",
            json=tool_call("get_snippet", {"snippetname": "../escape"}),
            headers={**MCP_HEADERS, **bearer(seal(*keys, claims())), "traceparent": header},
        )
        assert r.json()["result"]["isError"] is True
    op = await wait_for("audit event", lambda: of_operation(receiver, trace).get("Event"))
    props = base(op[0])["properties"]
    assert (props["outcome"], props["errorPrefix"]) == ("refused", "invalid snippet name"), props


async def test_a_call_refused_for_its_scope_is_audited(start_server, azurite, keys, receiver, uid):
    """A reader's delete is refused before any tool runs (403 insufficient_scope); the audit trail
    still says who tried which tool on which snippet, under the request's operation."""
    srv = start_server(telemetry_env(azurite, keys, receiver), label="telemetry-scope")
    header, trace, _ = traceparent()
    reader = dict(claims("reader-oid"), scp="snippets.read")
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{srv.base_url}/mcp",
            json=tool_call("delete_snippet", {"snippetname": uid}),
            headers={**MCP_HEADERS, **bearer(seal(*keys, reader)), "traceparent": header},
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == -32003, r.text
    op = await wait_for("audit event", lambda: of_operation(receiver, trace).get("Event"))
    props = base(op[0])["properties"]
    assert (props["tool"], props["snippet"], props["outcome"]) == ("delete_snippet", uid, "refused"), props
    assert props["errorPrefix"] == "insufficient scope"
    assert (props["userId"], props["clientId"]) == ("reader-oid", reader["cid"])


async def test_meta_traceparent_parents_the_tool_call(start_server, azurite, keys, receiver):
    """MCP 2026-07-28 clients send the trace context in `_meta`: the tool call joins that trace."""
    srv = start_server(telemetry_env(azurite, keys, receiver), label="telemetry-meta")
    meta_header, meta_trace, meta_span = traceparent()
    http_header, _, _ = traceparent()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{srv.base_url}/mcp",
            json=tool_call("hello_mcp", {}, meta={"traceparent": meta_header}),
            headers={**MCP_HEADERS, **bearer(seal(*keys, claims())), "traceparent": http_header},
        )
        assert r.status_code == 200, r.text
    op = await wait_for("the tool call", lambda: of_operation(receiver, meta_trace).get("RemoteDependency"))
    assert base(op[0])["name"] == "tool hello_mcp"
    assert op[0]["tags"]["ai.operation.parentId"] == meta_span


async def test_an_sse_tool_call_joins_the_trace_of_its_post(start_server, azurite, keys, receiver, uid):
    """The call runs in the session's service, away from the POST: the trace travels with it."""
    srv = start_server(telemetry_env(azurite, keys, receiver), label="telemetry-sse")
    header, trace, span = traceparent()
    token = seal(*keys, claims("sse-user"))
    async with httpx.AsyncClient(timeout=10) as client:
        async with RawSseSession(srv.base_url, client, headers=bearer(token)) as sse:
            await sse.endpoint()
            await sse.initialize()
            r = await sse.post(tool_call("get_snippet", {"snippetname": uid}) | {"id": 7}, headers={"traceparent": header})
            assert r.status_code == 202, r.text
            for _ in range(50):
                ev = await sse.next_event()
                if '"id":7' in ev.get("data", ""):
                    break
    op = await wait_for("tool call and POST", lambda: (o := of_operation(receiver, trace)).get("Event") and o.get("Request") and o)
    [post] = [r for r in op["Request"] if base(r)["name"] == "POST /message"]
    assert post["tags"]["ai.operation.parentId"] == span
    assert "?" not in base(post)["url"], "the session id (query) was recorded"
    [tool] = [d for d in op["RemoteDependency"] if base(d)["type"] == "InProc"]
    assert tool["tags"]["ai.operation.parentId"] == base(post)["id"]
    props = base(op["Event"][0])["properties"]
    assert (props["tool"], props["outcome"], props["userId"]) == ("get_snippet", "refused", "sse-user")


@pytest.mark.parametrize("mode", ["hang", "fail"])
async def test_a_bad_ingestion_endpoint_never_slows_a_call_nor_grows_memory(start_server, azurite, keys, mode):
    bad = IngestionReceiver(mode=mode).start()
    try:
        srv = start_server(telemetry_env(azurite, keys, bad, TELEMETRY_FLUSH_MS="100"), label=f"telemetry-{mode}")
        headers = {**MCP_HEADERS, **bearer(seal(*keys, claims()))}
        body = tool_call("hello_mcp", {})
        slowest, rss = 0.0, []
        async with httpx.AsyncClient(timeout=10) as client:
            for i in range(3000):
                t = time.perf_counter()
                r = await client.post(f"{srv.base_url}/mcp", json=body, headers=headers)
                slowest = max(slowest, time.perf_counter() - t)
                assert r.status_code == 200, r.text
                if i in (500, 2999):
                    rss.append(rss_kib(srv.process.pid))
        # Each call answers at once although every export hangs or fails (bounded, not timed: a call
        # that waited for ingestion would take the exporter's 10 s deadline).
        assert slowest < 2.0, f"slowest call {slowest:.2f} s with a {mode} ingestion endpoint"
        assert bad.requests >= 1, "the exporter never tried the endpoint"
        # The queue is bounded: 2,500 more calls (7,500 items) add little memory.
        assert rss[1] - rss[0] < 16 * 1024, f"RSS grew from {rss[0]} to {rss[1]} KiB"
    finally:
        bad.stop()


async def test_shutdown_flushes_what_is_queued(start_server, azurite, keys, receiver):
    """With a flush interval far longer than the test, only the shutdown flush can deliver."""
    srv = start_server(telemetry_env(azurite, keys, receiver, TELEMETRY_FLUSH_MS="60000"), label="telemetry-flush")
    header, trace, _ = traceparent()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{srv.base_url}/mcp",
            json=tool_call("hello_mcp", {}),
            headers={**MCP_HEADERS, **bearer(seal(*keys, claims())), "traceparent": header},
        )
        assert r.status_code == 200
    assert of_operation(receiver, trace) == {}
    srv.stop(signal.SIGTERM, grace=10)
    op = of_operation(receiver, trace)
    assert op.get("Request") and op.get("Event"), op


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_receiver_reads_every_body_shape_the_real_endpoint_accepts():
    """The loopback endpoint accepts what Application Insights accepts, so the tests above can fail
    only on the server's side."""
    import gzip
    import json

    from devstack.ingestion import parse_body

    envs = [{"name": "a"}, {"name": "b"}]
    assert parse_body(json.dumps(envs).encode(), None) == envs
    assert parse_body("\n".join(json.dumps(e) for e in envs).encode(), None) == envs
    assert parse_body(gzip.compress(json.dumps(envs).encode()), "gzip") == envs
    assert parse_body(b"", None) == []
