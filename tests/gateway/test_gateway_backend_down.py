"""The MCP server stopped behind the gateway: what clients see, what keeps working, and recovery.

A gateway of its own (policy runner + Entra ID stand-in) in front of a snippets-mcp process this
module stops and starts again on the same port. With the backend down, every MCP request with a
valid token gets APIM's default answer to an error in forward-request (the `on-error` sections
of infra/policies only run `<base />`): 500 with `{"statusCode": 500, "message": "Internal
server error", "activityId": ...}`, at once (the connection is refused; nothing waits out the
forward-request timeout), and the official SDK surfaces it as an error on both transports. The
sign-in endpoints never call the backend, so discovery, registration, authorize (through the
IdP), and the token endpoint (code and refresh) keep working. When the backend answers again,
the very next MCP call through the same gateway process succeeds (nothing caches the failure).
A backend killed under an open SSE stream ends the client's stream at once; one that accepts a
request and drops the connection gets the same 500, logged as BackendConnectionFailure; one
that never answers gets it when the forward-request timeout expires, logged as Timeout.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

import gw_support as sup
from devstack.gateway import LocalGateway
from devstack.processes import ManagedProcess, clean_env, free_port, http_ok

pytestmark = pytest.mark.anyio

# A failing call must be answered well before any forward-request timeout (120 s on /mcp); the
# bound is slack for a shared 2-core machine, a refused connection takes milliseconds.
ERROR_BOUND_S = 10.0
NAME = "backend-down"
LOG_DIR = sup.ARTIFACTS / NAME


class Backend:
    """snippets-mcp on a fixed port, checking the tokens of one gateway; stoppable, restartable."""

    def __init__(self, binary: str, port: int, env: dict[str, str]):
        self.binary, self.port, self.env = binary, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> float:
        """Starts the server; returns the seconds until it answered `GET /` directly."""
        self.starts += 1
        name = f"server-{self.starts}"
        for stream in ("stdout", "stderr"):
            sup.LOGS.append(LOG_DIR / f"{name}.{stream}.log")
        started = time.monotonic()
        self.proc = ManagedProcess(name, [self.binary, "--port", str(self.port)], self.env, log_dir=LOG_DIR).start()
        self.proc.wait_until(lambda: http_ok(self.url + "/", timeout=1.0), 60, f"answer on {self.url}/")
        return time.monotonic() - started

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.stop(sig=sig)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.exited() is None


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture(scope="module")
def down_stack(stack):
    """(gateway, backend): a gateway with the session's keys whose only backend is ours."""
    gw_port, backend_port = free_port(), free_port()
    binary = str(sup.server_binary())
    env = clean_env({
        "AzureWebJobsStorage": stack.azurite["connection_string"], **stack.keys.server_env(f"http://127.0.0.1:{gw_port}/mcp"),
        "RUST_LOG": "info", "LOG_FORMAT": "text", "NO_COLOR": "1",
    })  # fmt: skip
    backend = Backend(binary, backend_port, env)
    backend.start()
    for proc in ("gateway", "idp"):
        sup.LOGS.extend([LOG_DIR / f"{proc}.stdout.log", LOG_DIR / f"{proc}.stderr.log"])
    gw = LocalGateway(
        Path(tempfile.mkdtemp(prefix=f"gw-{NAME}-")), backend_url=backend.url, blob_endpoint=stack.azurite["blob"],
        port=gw_port, session_keys=stack.keys, log_dir=LOG_DIR,
    )  # fmt: skip
    try:
        gw.start()
        yield gw, backend
    finally:
        gw.stop()
        if backend.running():
            backend.stop()
        shutil.rmtree(gw.state, ignore_errors=True)


def headers(token: str | None, accept: str = "application/json, text/event-stream") -> dict[str, str]:
    h = {"Accept": accept, "Content-Type": "application/json", "Mcp-Protocol-Version": "2025-06-18"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def assert_apim_backend_error(r: httpx.Response, backend_port: int) -> None:
    """APIM's default error answer, naming nothing behind the gateway."""
    assert r.status_code == 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert sorted(body) == ["activityId", "message", "statusCode"], body
    assert body["statusCode"] == 500 and body["message"] == "Internal server error", body
    assert isinstance(body["activityId"], str) and len(body["activityId"]) >= 32, body
    assert str(backend_port) not in r.text.replace(body["activityId"], ""), r.text


def flatten(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [x for sub in e.exceptions for x in flatten(sub)]
    return [e, *(flatten(e.__cause__) if e.__cause__ else [])]


async def sdk_fails(gw_url: str, transport: str, storage: sup.MemoryTokenStorage) -> tuple[list[BaseException], float]:
    """Opens an SDK session expecting the backend error; returns the errors raised and the time."""
    agent = sup.UserAgent(sup.next_client_ip())
    started = time.monotonic()
    try:
        with anyio.fail_after(ERROR_BOUND_S * 3):
            async with sup.sdk_session(gw_url, transport, agent.client_ip, storage, agent) as session:
                await session.list_tools()
    except TimeoutError as e:
        raise AssertionError(f"{transport}: the SDK hung instead of getting the gateway's error") from e
    except Exception as e:  # noqa: BLE001 - the SDK raises groups of transport errors
        return flatten(e), time.monotonic() - started
    finally:
        await agent.aclose()
    raise AssertionError(f"{transport}: an SDK session through the gateway worked with the backend stopped")


async def call_tool(gw_url: str, storage: sup.MemoryTokenStorage, transport: str, tool: str, args: dict) -> str:
    agent = sup.UserAgent(sup.next_client_ip())
    try:
        async with sup.sdk_session(gw_url, transport, agent.client_ip, storage, agent) as session:
            result = await session.call_tool(tool, args)
            return "".join(getattr(c, "text", "") for c in result.content)
    finally:
        await agent.aclose()


async def test_backend_stopped_gets_a_clear_500_sign_in_keeps_working_and_calls_recover(down_stack):
    gw, backend = down_stack
    gateway_pid = gw.procs["gateway"].pid
    name_before = f"down-before-{uuid.uuid4().hex[:8]}"
    name_during = f"down-during-{uuid.uuid4().hex[:8]}"
    text = "kept across the outage ✓\n"

    # Before: a signed-in SDK client saves a snippet through the gateway.
    http_storage = sup.MemoryTokenStorage()
    saved = await call_tool(gw.url, http_storage, "http", "save_snippet", {"snippetname": name_before, "snippet": text})
    assert name_before in saved, saved
    raw = sup.OAuth(gw.url, sup.next_client_ip())
    try:
        _, tokens = await raw.login()
        token = tokens["access_token"]

        backend.stop()
        assert refused(backend.port), "the backend port still accepts connections"

        async with httpx.AsyncClient(timeout=ERROR_BOUND_S * 3) as http:
            # Every MCP route with a valid token: APIM's 500, fast.
            calls = {
                "POST /mcp": dict(method="POST", url=f"{gw.url}/mcp", headers=headers(token),
                                  json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}),
                "POST /mcp save": dict(method="POST", url=f"{gw.url}/mcp", headers=headers(token), json={
                    "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "save_snippet", "arguments": {"snippetname": name_during, "snippet": "lost"}}}),
                "GET /mcp/sse": dict(method="GET", url=f"{gw.url}/mcp/sse", headers=headers(token, "text/event-stream")),
                "POST /mcp/message": dict(method="POST", url=f"{gw.url}/mcp/message?sessionId={uuid.uuid4()}",
                                          headers=headers(token), json={"jsonrpc": "2.0", "id": 3, "method": "ping"}),
                "DELETE /mcp": dict(method="DELETE", url=f"{gw.url}/mcp", headers=headers(token)),
            }  # fmt: skip
            slowest = 0.0
            for what, call in calls.items():
                started = time.monotonic()
                r = await http.request(**call)
                elapsed = time.monotonic() - started
                slowest = max(slowest, elapsed)
                assert_apim_backend_error(r, backend.port)
                assert elapsed < ERROR_BOUND_S, f"{what}: {elapsed:.1f}s"
            # The perimeter still refuses a caller without a token before trying the backend.
            r = await http.post(f"{gw.url}/mcp", headers=headers(None), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert r.status_code == 401 and "resource_metadata=" in r.headers["www-authenticate"], r.text

            # The sign-in endpoints do not need the backend.
            r = await http.get(f"{gw.url}/.well-known/oauth-authorization-server")
            assert r.status_code == 200 and r.json()["issuer"] == gw.url, r.text
            r = await http.get(f"{gw.url}/.well-known/oauth-protected-resource/mcp")
            assert r.status_code == 200 and r.json()["resource"] == f"{gw.url}/mcp", r.text
        down_client, down_tokens = await raw.login()  # register, authorize -> IdP -> callback, token (code)
        r = await raw.refresh(down_client, down_tokens["refresh_token"])
        assert r.status_code == 200, r.text
        refreshed = r.json()
        claims = sup.open_token(refreshed["access_token"], gw.session_keys["enc"], gw.session_keys["mac"])
        assert claims["aud"] == f"{gw.url}/mcp"

        # The official SDK: it signs in (through the gateway and the IdP), then gets an error it
        # can read, on both transports; never a hang.
        sdk_storages = {}
        for transport in ("http", "sse"):
            storage = sup.MemoryTokenStorage()
            errors, elapsed = await sdk_fails(gw.url, transport, storage)
            kinds = [f"{type(e).__name__}: {e}" for e in errors]
            print(f"backend-down sdk[{transport}] error after {elapsed:.2f}s: {kinds}")
            if transport == "http":
                # Streamable HTTP: the SDK turns the 500 into a JSON-RPC error for initialize.
                assert any(isinstance(e, MCPError) and "error response" in str(e) for e in errors), kinds
            else:
                # SSE: the GET of the stream fails with the gateway's status.
                assert any(getattr(getattr(e, "response", None), "status_code", None) == 500 for e in errors), kinds
            assert elapsed < ERROR_BOUND_S * 2, f"{transport}: {elapsed:.1f}s"
            assert storage.tokens is not None and storage.tokens.access_token, "the SDK did not finish signing in"
            sdk_storages[transport] = storage

        # The backend comes back on the same port; the gateway process is the same one.
        up_after = backend.start()
        async with httpx.AsyncClient(timeout=ERROR_BOUND_S * 3) as http:
            started = time.monotonic()
            r = await http.post(f"{gw.url}/mcp", headers=headers(token), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
            first_call = time.monotonic() - started
            assert r.status_code == 200, r.text  # the very first call: no cached failure
            assert "save_snippet" in json.dumps(sup.rpc_result(r))
            # The token issued (and refreshed) while the backend was down works.
            r = await http.post(f"{gw.url}/mcp", headers=headers(refreshed["access_token"]),
                                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})  # fmt: skip
            assert r.status_code == 200, r.text
        print(f"backend-down recovery: backend answered {up_after:.2f}s after its start; "
              f"first MCP call through the gateway then took {first_call:.3f}s; slowest error while down {slowest:.3f}s")  # fmt: skip
        assert gw.procs["gateway"].pid == gateway_pid and gw.procs["gateway"].exited() is None

        # Nothing lost, nothing applied: the earlier save reads back, the save sent while the
        # backend was down never happened. Both SDK clients signed in during the outage work now.
        for transport, storage in sdk_storages.items():
            got = await call_tool(gw.url, storage, transport, "get_snippet", {"snippetname": name_before})
            assert got == text, (transport, got)  # every client here signs in as the same user
            missing = await call_tool(gw.url, storage, transport, "get_snippet", {"snippetname": name_during})
            assert missing.startswith("snippet not found:"), missing
    finally:
        await raw.aclose()
        if not backend.running():
            backend.start()


async def test_backend_killed_under_an_open_sse_stream_ends_the_stream(down_stack):
    """A crash (SIGKILL) of the backend while a client holds an SSE stream through the gateway:
    the client's stream ends promptly (clean end or a broken chunked body, never a silent hang),
    and a new stream opens once the backend is back. An SDK client in the middle of an SSE
    session gets an error for its next call at once (not after its read timeout)."""
    gw, backend = down_stack
    raw = sup.OAuth(gw.url, sup.next_client_ip())
    try:
        _, tokens = await raw.login()
    finally:
        await raw.aclose()
    token = tokens["access_token"]
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=ERROR_BOUND_S * 3)) as http:
        async with http.stream("GET", f"{gw.url}/mcp/sse", headers=headers(token, "text/event-stream")) as r:
            assert r.status_code == 200, await r.aread()
            lines = r.aiter_lines()
            with anyio.fail_after(ERROR_BOUND_S):
                async for line in lines:
                    if line.startswith("event: endpoint"):
                        break
            backend.stop(sig=signal.SIGKILL)
            killed = time.monotonic()
            ended = "clean end of stream"
            try:
                with anyio.fail_after(ERROR_BOUND_S):
                    async for _ in lines:  # keep-alives at most; the stream must end
                        pass
            except TimeoutError as e:
                raise AssertionError("the SSE stream through the gateway hung after the backend died") from e
            except (httpx.RemoteProtocolError, httpx.ReadError) as e:
                ended = f"{type(e).__name__}"
            waited = time.monotonic() - killed
        print(f"backend-down sse: stream ended {waited:.3f}s after SIGKILL ({ended})")
        assert waited < ERROR_BOUND_S
        backend.start()
        async with http.stream("GET", f"{gw.url}/mcp/sse", headers=headers(token, "text/event-stream")) as r:
            assert r.status_code == 200
            with anyio.fail_after(ERROR_BOUND_S):
                async for line in r.aiter_lines():
                    if line.startswith("event: endpoint"):
                        break

    # The official SDK in an open SSE session: its next call fails fast with "Connection closed".
    storage, agent = sup.MemoryTokenStorage(), sup.UserAgent(sup.next_client_ip())
    try:
        async with sup.sdk_session(gw.url, "sse", agent.client_ip, storage, agent) as session:
            await session.list_tools()
            backend.stop(sig=signal.SIGKILL)
            killed = time.monotonic()
            with anyio.fail_after(ERROR_BOUND_S), pytest.raises(MCPError) as failed:
                await session.call_tool("list_snippets", {})
            waited = time.monotonic() - killed
    finally:
        await agent.aclose()
        backend.start()
    print(f"backend-down sdk[sse] call after SIGKILL failed in {waited:.3f}s: {failed.value}")
    assert "closed" in str(failed.value).lower(), failed.value


class DroppingBackend:
    """A loopback backend that reads each request's head and never answers it: `rst` resets the
    connection (SO_LINGER 0, as when a host process dies with the request in flight), `fin`
    closes it, `hang` keeps it open and silent (a hung host). Counts the requests it took."""

    def __init__(self, mode: str):
        import struct
        import threading

        self.mode, self.dropped = mode, 0
        self.held: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._linger = struct.pack("ii", 1, 0)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    break
                data += piece
            self.dropped += 1
            if self.mode == "hang":
                self.held.append(conn)
                continue
            if self.mode == "rst":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, self._linger)
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("mode", ["rst", "fin"])
async def test_backend_dropping_the_connection_gets_the_same_500_as_a_refused_one(start_gateway, mode):
    """The backend accepts the request and drops the connection before any answer (reset or
    close): the same APIM 500, at once, and context.LastError says BackendConnectionFailure
    (the gateway log), not Timeout: nothing timed out."""
    backend = DroppingBackend(mode)
    try:
        gw = start_gateway(f"backend-drop-{mode}", backend_url=backend.url)
        token = sup.seal_token(sup.claims_for(f"{gw.url}/mcp"), gw.session_keys["enc"], gw.session_keys["mac"])
        port = int(backend.url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(timeout=ERROR_BOUND_S * 3) as http:
            for path, method, accept in (("/mcp", "POST", "application/json, text/event-stream"), ("/mcp/sse", "GET", "text/event-stream")):
                started = time.monotonic()
                r = await http.request(method, f"{gw.url}{path}", headers=headers(token, accept),
                                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"} if method == "POST" else None)  # fmt: skip
                elapsed = time.monotonic() - started
                assert_apim_backend_error(r, port)
                assert elapsed < ERROR_BOUND_S, f"{method} {path}: {elapsed:.1f}s"
        assert backend.dropped == 2
        errors = [line for line in gw.log("gateway", "stderr").splitlines() if " forward-request " in line]
        assert len(errors) == 2 and all(" forward-request BackendConnectionFailure: " in e for e in errors), errors
    finally:
        backend.close()


async def test_hung_backend_is_answered_at_the_forward_request_timeout(stack, start_gateway, tmp_path):
    """A backend that takes the request and never answers: the gateway answers the same 500 when
    the MCP API's forward-request timeout expires, with LastError Reason Timeout. The timeout is
    120 s in infra/policies; this copy of the policies has 3 s so the test stays short."""
    timeout_s = 3
    policies = tmp_path / "policies"
    shutil.copytree(sup.REPO / "infra" / "policies", policies)
    api = policies / "mcp" / "api.xml"
    old = '<forward-request timeout="120" buffer-response="false" />'
    assert old in api.read_text(), "mcp/api.xml changed; update this test"
    api.write_text(api.read_text().replace(old, old.replace('"120"', f'"{timeout_s}"')))
    backend = DroppingBackend("hang")
    try:
        gw = start_gateway("backend-hung", backend_url=backend.url, policies_dir=policies)
        token = sup.seal_token(sup.claims_for(f"{gw.url}/mcp"), gw.session_keys["enc"], gw.session_keys["mac"])
        port = int(backend.url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(timeout=timeout_s + ERROR_BOUND_S * 3) as http:
            for path, method, accept in (("/mcp", "POST", "application/json, text/event-stream"), ("/mcp/sse", "GET", "text/event-stream")):
                started = time.monotonic()
                r = await http.request(method, f"{gw.url}{path}", headers=headers(token, accept),
                                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"} if method == "POST" else None)  # fmt: skip
                elapsed = time.monotonic() - started
                print(f"backend-hung {method} {path}: {r.status_code} after {elapsed:.2f}s")
                assert_apim_backend_error(r, port)
                assert timeout_s - 0.5 <= elapsed < timeout_s + ERROR_BOUND_S, f"{method} {path}: {elapsed:.1f}s"
        assert backend.dropped == 2
        errors = [line for line in gw.log("gateway", "stderr").splitlines() if " forward-request " in line]
        assert len(errors) == 2 and all(" forward-request Timeout: " in e for e in errors), errors
    finally:
        backend.close()
