"""Start-up configuration, limits from the environment, and shutdown, each on a dedicated server."""

from __future__ import annotations

import json
import signal
import time

import anyio
import httpx
import pytest

import e2e_support as sup
from e2e_support import Deadline, RawSseSession, assert_ok, assert_tool_error, mcp_session, result_text

pytestmark = pytest.mark.anyio


# ------------------------------------------------------------------------- storage settings


async def test_without_storage_setting_hello_works_and_snippet_tools_say_so(start_server, transport):
    srv = start_server({"AzureWebJobsStorage": None}, label="nostorage")
    async with mcp_session(srv.base_url, transport) as s:
        assert result_text(assert_ok(await s.call_tool("hello_mcp", {}))) == "Hello I am MCPTool!"
        for tool, args in (
            ("save_snippet", {"snippetname": "x", "snippet": "y"}),
            ("get_snippet", {"snippetname": "x"}),
            ("list_snippets", {}),
            ("delete_snippet", {"snippetname": "x"}),
        ):
            with sup.step(tool):
                text = assert_tool_error(await s.call_tool(tool, args), "storage not configured:")
                assert "AzureWebJobsStorage" in text


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("AccountName=devstoreaccount1;AccountKey=not-base64!!;BlobEndpoint=::nope::", id="bad_key_and_url"),
    ],
)
def test_invalid_storage_setting_exits_nonzero_naming_it(start_server, setting):
    srv = start_server({"AzureWebJobsStorage": setting}, label="badstorage", wait=False)
    t = time.monotonic()
    code = srv.process.wait_exit(timeout=10)
    took = time.monotonic() - t
    assert code is not None, f"server kept running with AzureWebJobsStorage={setting!r}\n{srv.process.logs()}"
    assert code != 0, srv.process.logs()
    assert "AzureWebJobsStorage" in srv.process.stderr(), srv.process.logs()
    assert took < 3.0, f"took {took:.1f}s to refuse the setting"


async def test_custom_container_setting_is_used(start_server, azurite, uid):
    container = f"e2e-{uid[-10:]}".lower()
    srv = start_server(
        {"AzureWebJobsStorage": azurite.connection_string(), "SNIPPETS_CONTAINER": container}, label="container"
    )
    async with mcp_session(srv.base_url, "http") as s:
        assert_ok(await s.call_tool("save_snippet", {"snippetname": uid, "snippet": "in my container"}))
    inspector = sup.BlobInspector(azurite.connection_string(), container=container)
    assert inspector.names() == [f"{uid}.json"]
    assert inspector.read(f"{uid}.json") == b"in my container"
    assert sup.BlobInspector(azurite.connection_string()).names(uid) == []


# ---------------------------------------------------------------------------------- limits


async def test_snippet_limit_comes_from_environment(start_server, azurite, transport, uid):
    srv = start_server(
        {"AzureWebJobsStorage": azurite.connection_string(), "SNIPPETS_MAX_BYTES": "10"}, label="smalllimit"
    )
    blobs = sup.BlobInspector(azurite.connection_string())
    async with mcp_session(srv.base_url, transport) as s:
        assert_ok(await s.call_tool("save_snippet", {"snippetname": f"{uid}-ok", "snippet": "0123456789"}))
        assert_tool_error(
            await s.call_tool("save_snippet", {"snippetname": f"{uid}-no", "snippet": "0123456789a"}),
            "snippet too large:",
        )
        # 4 characters, 12 bytes: over.
        assert_tool_error(
            await s.call_tool("save_snippet", {"snippetname": f"{uid}-no2", "snippet": "漢漢漢漢"}),
            "snippet too large:",
        )
    assert blobs.names(uid) == [f"{uid}-ok.json"]


async def test_body_limit_comes_from_environment(start_server, azurite):
    srv = start_server(
        {"AzureWebJobsStorage": azurite.connection_string(), "MCP_MAX_BODY_BYTES": "2048"}, label="smallbody"
    )
    body = json.dumps(
        sup.jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": "n", "snippet": "q" * 3000}})
    ).encode()
    async with httpx.AsyncClient(timeout=30) as c:
        # Rejected before its body is read: do not reuse that connection afterwards.
        close = {"Connection": "close"}
        r = await c.post(srv.base_url + "/mcp", content=body, headers={**sup.MCP_HEADERS, **close})
        assert r.status_code == 413, (r.status_code, r.text)
        async with RawSseSession(srv.base_url, c) as sse:
            await sse.endpoint()
            r = await sse.post(body, headers=close)
            assert r.status_code == 413, (r.status_code, r.text)
            assert "result" in await sse.initialize()  # small messages still pass


# ------------------------------------------------------------------------------ port, logs


def test_port_comes_from_functions_customhandler_port(start_server, azurite):
    port = sup.free_port()
    env = sup.base_env({"AzureWebJobsStorage": azurite.connection_string(), "FUNCTIONS_CUSTOMHANDLER_PORT": str(port)})
    proc = sup.ManagedProcess(f"envport-{port}", [str(sup.server_binary())], env).start()
    try:
        deadline = Deadline(30)
        status = None
        while not deadline.expired() and proc.exited() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        assert status == 200, proc.logs()
    finally:
        assert proc.stop() == 0, proc.logs()


def test_port_flag_wins_over_environment(start_server, azurite):
    decoy = sup.free_port()
    srv = start_server(
        {"AzureWebJobsStorage": azurite.connection_string(), "FUNCTIONS_CUSTOMHANDLER_PORT": str(decoy)}, label="flag"
    )
    assert srv.port != decoy
    assert httpx.get(srv.base_url + "/", timeout=5).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{decoy}/", timeout=2)


async def test_json_logs_are_json_lines(start_server, azurite):
    srv = start_server({"AzureWebJobsStorage": azurite.connection_string(), "LOG_FORMAT": "json"}, label="jsonlog")
    async with mcp_session(srv.base_url, "http") as s:
        assert_ok(await s.call_tool("hello_mcp", {}))
    assert srv.stop() == 0
    lines = [ln for ln in (srv.process.stdout() + srv.process.stderr()).splitlines() if ln.strip()]
    assert lines, "the server logged nothing at RUST_LOG=info"
    for ln in lines:
        assert isinstance(json.loads(ln), dict), ln


# ------------------------------------------------------------------------------- shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_with_open_sse_stream_exits_0_promptly(start_server, azurite, sig):
    srv = start_server({"AzureWebJobsStorage": azurite.connection_string()}, label=f"shutdown-{sig.name}")
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=30)) as c, RawSseSession(srv.base_url, c) as sse:
        await sse.endpoint()
        assert "result" in await sse.initialize()
        t = time.monotonic()
        srv.process.proc.send_signal(sig)
        # The stream ends (EOF) instead of hanging on.
        ended = False
        with anyio.move_on_after(10):
            for _ in range(10_000):
                try:
                    await sse.next_line()
                except (StopAsyncIteration, httpx.HTTPError):
                    ended = True
                    break
        assert ended, "SSE stream still open 10s after the signal"
        code = await anyio.to_thread.run_sync(srv.process.wait_exit, 10)
        took = time.monotonic() - t
    assert code == 0, f"exit status {code} after {sig.name}\n{srv.process.logs()}"
    assert took < 5.0, f"took {took:.1f}s to shut down"


async def test_sigterm_lets_an_in_flight_call_finish(start_server, azurite, uid):
    """SIGTERM arrives while a request body is still being uploaded: the call completes, then exit 0."""
    srv = start_server({"AzureWebJobsStorage": azurite.connection_string()}, label="inflight")
    blobs = sup.BlobInspector(azurite.connection_string())
    content = "w" * (sup.MAX_SNIPPET_BYTES // 2)
    msg = sup.jsonrpc("tools/call", {"name": "save_snippet", "arguments": {"snippetname": uid, "snippet": content}}, id=1)
    body = json.dumps(msg).encode()
    first_half_sent = anyio.Event()
    release = anyio.Event()

    async def slow_body():
        yield body[: len(body) // 2]
        first_half_sent.set()
        await release.wait()
        yield body[len(body) // 2 :]

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(timeout=30, limits=limits) as c:
        # Warm the one pooled connection, so the server has surely accepted it before the signal.
        assert (await c.get(srv.base_url + "/")).status_code == 200
        response: list[httpx.Response] = []

        async def post():
            response.append(await c.post(srv.base_url + "/mcp", content=slow_body(), headers=sup.MCP_HEADERS))

        async with anyio.create_task_group() as tg:
            tg.start_soon(post)
            with anyio.fail_after(10):
                await first_half_sent.wait()
            # Give the server a moment to read the headers and start on the body; the request is
            # then in flight from its point of view, whatever the timing after this.
            await anyio.sleep(0.3)
            srv.process.proc.send_signal(signal.SIGTERM)
            await anyio.sleep(0.3)
            assert srv.process.exited() is None, "server exited with a request in flight"
            release.set()

    [r] = response
    assert r.status_code == 200, (r.status_code, r.text[:300])
    [m] = sup.mcp_response_messages(r)
    assert m["result"].get("isError") in (None, False), m
    assert m["result"]["structuredContent"] == {"name": uid, "bytes": len(content)}
    assert blobs.read(f"{uid}.json") == content.encode()
    code = await anyio.to_thread.run_sync(srv.process.wait_exit, 10)
    assert code == 0, srv.process.logs()


async def test_use_development_storage_reaches_azurite_on_default_ports(start_server, tmp_path, uid):
    """`UseDevelopmentStorage=true` (what local.settings.json holds) means Azurite on 10000-10002."""
    busy = [p for p in (10000, 10001, 10002) if not _port_is_free(p)]
    if busy:
        pytest.skip(f"ports {busy} are in use on this machine (a run-local.sh Azurite?); cannot run a second one there")
    az = sup.Azurite(tmp_path / "azurite-default-ports")
    az.fixed_ports = {"blob": 10000, "queue": 10001, "table": 10002}
    az.start()
    try:
        srv = start_server({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, label="devstorage")
        async with mcp_session(srv.base_url, "http") as s:
            assert_ok(await s.call_tool("save_snippet", {"snippetname": uid, "snippet": "dev storage"}))
            assert result_text(assert_ok(await s.call_tool("get_snippet", {"snippetname": uid}))) == "dev storage"
        assert sup.BlobInspector(az.connection_string()).read(f"{uid}.json") == b"dev storage"
        srv.stop()
    finally:
        az.stop()


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_sigterm_exits_promptly_even_when_storage_is_gone(start_server, tmp_path):
    """Storage can be unreachable when the host stops the instance: shutdown must not hang on it."""
    az = sup.Azurite(tmp_path / "azurite-to-stop")
    az.start()
    try:
        srv = start_server({"AzureWebJobsStorage": az.connection_string()}, label="storage-gone")
        async with httpx.AsyncClient(timeout=30) as c, RawSseSession(srv.base_url, c) as sse:
            await sse.endpoint()  # an open stream: this instance now has relay state in storage
            assert "result" in await sse.initialize()
            az.stop()
            t = time.monotonic()
            srv.process.proc.send_signal(signal.SIGTERM)
            code = await anyio.to_thread.run_sync(srv.process.wait_exit, 15)
            took = time.monotonic() - t
        assert code == 0, f"exit status {code} ({took:.1f}s; None = still running)\n{srv.process.logs(40)}"
        assert took < 10.0, f"took {took:.1f}s to stop with storage unreachable\n{srv.process.logs(40)}"
    finally:
        az.stop()
