"""Process and client helpers for the end-to-end tests (imported by conftest.py and the tests).

Everything here drives REAL processes on 127.0.0.1: Azurite (npm `azurite`), the `snippets-mcp`
binary, the official MCP Python SDK, raw HTTP with httpx and the MCP Inspector CLI. Nothing is
mocked. Every wait is a poll against a deadline; every loop is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from devstack import azurite as _azurite
from devstack import processes as _processes
from devstack import session_token as _session_token
from devstack.namespaces import user_blob  # noqa: F401 - used by the tests
from devstack.processes import LIVE_PROCESSES, Deadline, clean_env, free_port, server_binary, tail  # noqa: F401 - used by the tests
from raw_mcp import RawSseSession, jsonrpc  # noqa: F401 - used by the tests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS_DIR", REPO / "test-artifacts" / "e2e"))

# The well-known Azurite development account, from devstack/azurite.py.
DEV_ACCOUNT = _azurite.ACCOUNT
DEV_KEY = _azurite.KEY

CONTAINER = "snippets"
MAX_SNIPPET_BYTES = 1024 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024

TOOL_NAMES = {"hello_mcp", "save_snippet", "get_snippet", "list_snippets", "delete_snippet"}


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class ManagedProcess(_processes.ManagedProcess):
    """devstack's ManagedProcess with its logs under test-artifacts/e2e/ unless told otherwise."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO, log_dir: Path | None = None):
        super().__init__(name, argv, env, cwd=cwd, log_dir=log_dir or ARTIFACTS)


# --------------------------------------------------------------------------------------------
# Azurite
# --------------------------------------------------------------------------------------------


class Azurite(_azurite.Azurite):
    """devstack's Azurite, logging under test-artifacts/e2e/, ready once an authenticated call works."""

    def __init__(self, workdir: Path, **options: Any):
        options.setdefault("log_dir", ARTIFACTS)
        super().__init__(Path(workdir), **options)

    def start(self, timeout: float = 60.0) -> "Azurite":
        self.name = "azurite" if not self.fixed_ports else "azurite-fixed-ports"
        deadline = Deadline(timeout)
        super().start(timeout)
        # Then wait until the blob service really answers an authenticated request.
        from azure.storage.blob import BlobServiceClient

        svc = BlobServiceClient.from_connection_string(self.connection_string())
        last: Exception | None = None
        while not deadline.expired():
            try:
                svc.get_service_properties(timeout=2)
                return self
            except Exception as e:  # noqa: BLE001 - any failure means "not yet"
                last = e
                time.sleep(0.1)
        logs = self.process.logs() if self.process else ""
        self.stop()
        raise RuntimeError(f"Azurite blob service did not answer within {timeout}s: {last}\n{logs}")


class BlobInspector:
    """Reads Azurite directly with azure-storage-blob, independent of the server under test."""

    def __init__(self, connection_string: str, container: str = CONTAINER):
        from azure.storage.blob import BlobServiceClient

        self.service = BlobServiceClient.from_connection_string(connection_string)
        self.container_name = container

    def container(self):
        return self.service.get_container_client(self.container_name)

    def names(self, prefix: str | None = None) -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return sorted(b.name for b in self.container().list_blobs(name_starts_with=prefix))
        except ResourceNotFoundError:
            return []

    def read(self, blob_name: str) -> bytes:
        return self.container().download_blob(blob_name).readall()

    def exists(self, blob_name: str) -> bool:
        return self.container().get_blob_client(blob_name).exists()

    def snapshot(self) -> dict[str, dict[str, str]]:
        """Every blob of every container in the account, with its etag: proves "nothing was written"."""
        snap: dict[str, dict[str, str]] = {}
        for c in self.service.list_containers():
            cc = self.service.get_container_client(c.name)
            snap[c.name] = {b.name: b.etag for b in cc.list_blobs()}
        return snap


# --------------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------------


def base_env(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """A clean environment: nothing from the caller's Azure settings leaks into the server."""
    env = clean_env({"RUST_LOG": "info", "LOG_FORMAT": "text", "RUST_BACKTRACE": "1", "NO_COLOR": "1"})
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


_server_seq = 0


class Server:
    """One `snippets-mcp` process on a free loopback port."""

    def __init__(self, env: dict[str, str], label: str = "server"):
        global _server_seq
        _server_seq += 1
        self.label = f"{label}-{_server_seq}"
        self.env = env
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> ManagedProcess:
        self.port = free_port()
        argv = [str(server_binary()), "--port", str(self.port)]
        self.process = ManagedProcess(self.label, argv, self.env).start()
        return self.process

    def start(self, timeout: float = 30.0, attempts: int = 3) -> "Server":
        """Start and wait for `GET /` -> 200. Retries on a new port if the chosen one was taken."""
        for attempt in range(attempts):
            proc = self.spawn()
            deadline = Deadline(timeout)
            while not deadline.expired():
                code = proc.exited()
                if code is not None:
                    break
                try:
                    r = httpx.get(self.base_url + "/", timeout=1.0)
                    if r.status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            logs = proc.logs()
            proc.stop(signal.SIGKILL)
            in_use = "address" in logs.lower() and "in use" in logs.lower()
            if not (in_use and attempt + 1 < attempts):
                raise RuntimeError(f"{self.label} did not answer GET / with 200 within {timeout}s\n{logs}")
        raise AssertionError("unreachable")

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int | None:
        return None if self.process is None else self.process.stop(sig, grace)


# --------------------------------------------------------------------------------------------
# MCP clients
# --------------------------------------------------------------------------------------------

TRANSPORTS = ("http", "sse")
CALL_TIMEOUT = 60.0


def _posts_elsewhere_factory(post_base: str):
    """An httpx2 client factory for the SDK's sse_client whose POSTs go to another instance."""
    import httpx2

    target = httpx2.URL(post_base)

    class PostElsewhere(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request):
            if request.method == "POST":
                request.url = request.url.copy_with(host=target.host, port=target.port)
            return await super().handle_async_request(request)

    def factory(headers=None, timeout=None, auth=None):
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=PostElsewhere())

    return factory


@contextlib.asynccontextmanager
async def mcp_session(
    base_url: str, transport: str, headers: dict[str, str] | None = None, post_base: str | None = None
) -> AsyncIterator[Any]:
    """An initialized official-SDK `ClientSession` over Streamable HTTP (`/mcp`) or SSE (`/sse`).

    With `post_base` (SSE only), the stream stays on `base_url` while every POST /message goes to
    `post_base`: what Flex Consumption does when a request lands on another instance.
    """
    import httpx2
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    if post_base is not None and transport != "sse":
        raise ValueError("post_base only applies to the SSE transport")

    if transport == "http":
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, read=CALL_TIMEOUT), headers=headers) as hc:
            # No client-side cap on SSE event size: a 1 MiB snippet comes back in one event.
            async with streamable_http_client(f"{base_url}/mcp", http_client=hc, max_sse_event_size=None) as (r, w):
                async with ClientSession(r, w, read_timeout_seconds=CALL_TIMEOUT) as session:
                    await session.initialize()
                    yield session
    elif transport == "sse":
        factory = create_mcp_http_client if post_base is None else _posts_elsewhere_factory(post_base)
        async with sse_client(
            f"{base_url}/sse", headers=headers, timeout=30.0, sse_read_timeout=CALL_TIMEOUT, httpx_client_factory=factory
        ) as (r, w):
            async with ClientSession(r, w, read_timeout_seconds=CALL_TIMEOUT) as session:
                await session.initialize()
                yield session
    else:
        raise ValueError(transport)


def result_text(result: Any) -> str:
    """The concatenated text blocks of a CallToolResult."""
    return "".join(getattr(c, "text", "") for c in result.content if getattr(c, "type", None) == "text")


def assert_tool_error(result: Any, prefix: str) -> str:
    text = result_text(result)
    assert result.is_error is True, f"expected a tool error starting {prefix!r}, got success: {result!r}"
    assert text.startswith(prefix), f"tool error text {text!r} does not start with {prefix!r}"
    return text


def assert_ok(result: Any) -> Any:
    assert result.is_error is False, f"tool call failed: {result_text(result)!r}"
    return result


# --------------------------------------------------------------------------------------------
# Raw HTTP helpers
# --------------------------------------------------------------------------------------------

MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}


def parse_sse(text: str) -> list[dict[str, str]]:
    """Parse a complete text/event-stream body into events ({'event','data','id'})."""
    events: list[dict[str, str]] = []
    cur: dict[str, Any] = {}
    data: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data or cur:
                cur["data"] = "\n".join(data)
                cur.setdefault("event", "message")
                events.append(cur)
            cur, data = {}, []
        elif line.startswith(":"):
            continue
        else:
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "data":
                data.append(v)
            elif k in ("event", "id", "retry"):
                cur[k] = v
    return events


def mcp_response_messages(r: httpx.Response) -> list[dict]:
    """JSON-RPC messages from a Streamable HTTP response, whether JSON or an SSE stream."""
    ctype = r.headers.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        return [json.loads(e["data"]) for e in parse_sse(r.text) if e.get("data")]
    body = r.json()
    return body if isinstance(body, list) else [body]


@contextlib.contextmanager
def step(description: str) -> Iterator[None]:
    """Adds context to an assertion failure inside a loop of cases."""
    try:
        yield
    except AssertionError as e:
        raise AssertionError(f"[{description}] {e}") from e
    except Exception as e:
        e.add_note(f"while: {description}")
        raise


# --------------------------------------------------------------------------------------------
# Session tokens (docs/session-token.md), sealed independently of the Rust crate (devstack)
# --------------------------------------------------------------------------------------------

AUDIENCE = "https://gw.example/mcp"
SessionKeys = _session_token.SessionKeys


def new_keys() -> SessionKeys:
    """Fresh random keys; unpacks as (enc bytes, mac bytes)."""
    return SessionKeys.random()


def seal(enc_key: bytes, mac_key: bytes, claims: dict) -> str:
    """version 0x01 || IV || AES-256-CBC(PKCS#7(claims JSON)) || HMAC-SHA256, base64url without padding."""
    return _session_token.seal(SessionKeys(enc_key, mac_key), claims)


def claims(sub: str = "user-a", aud: str = AUDIENCE, exp_in: int = 600) -> dict:
    now = int(time.time())
    return {
        "sid": secrets.token_hex(16),
        "sub": sub,
        "cid": "client-e2e",
        "scp": "snippets.read snippets.write",
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_env(keys: tuple[bytes, bytes], audience: str = AUDIENCE) -> dict[str, str]:
    """Server settings that turn the session-token check on."""
    return SessionKeys.coerce(keys).server_env(audience)


def started(thing):
    """`thing.start()`, or stop it and fail the test with its message (and its logs)."""
    import pytest

    try:
        thing.start()
    except Exception as e:  # noqa: BLE001
        thing.stop()
        pytest.fail(str(e), pytrace=False)
    return thing
