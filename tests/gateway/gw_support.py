"""Helpers for the local-gateway tests (tests/gateway): a headless user agent for the
authorization flow, the official MCP SDK with OAuthClientProvider, raw OAuth/MCP calls, and a
Python implementation of the v1 session token (docs/session-token.md) to craft and read tokens.

Nothing is mocked: the gateway is the APIM policy runner executing infra/policies, the
identity provider is oidc-provider, the backend is the snippets-mcp binary, storage is Azurite.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from devstack import session_token as _session_token
from devstack.gateway import LocalGateway
from devstack.loopback_http import LoopbackServer, answer_json
from devstack.namespaces import user_blob  # noqa: F401 - used by the tests
from devstack.processes import clean_env, free_port, server_binary  # noqa: F401 - used by the tests
from devstack.session_token import SessionKeys, b64url, b64url_decode  # noqa: F401 - used by the tests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GATEWAY_ARTIFACTS_DIR", REPO / "test-artifacts" / "gateway"))
CALL_TIMEOUT = 60.0
# A loopback redirect URI: RFC 8252 clients listen on any port; nothing needs to listen, the
# user agent below stops at the redirect and hands its URL to the client.
REDIRECT_URI = "http://127.0.0.1:33418/callback"
# Log files whose tails a failing test's report shows (conftest.py).
LOGS: list[Path] = []
# names::CONSENT_DWELL_MS: the gateway refuses an approval sent sooner than this after it served
# the consent page (a person needs that long to read it; the page's script waits as long).
CONSENT_DWELL_S = int(re.search(r"pub const CONSENT_DWELL_MS: u32 = (\d+);", (REPO / "crates" / "policies" / "src" / "names.rs").read_text()).group(1)) / 1000

_ip_counter = iter(range(10_000))


def next_client_ip() -> str:
    """A fresh loopback source address (127.0.x.y). The OAuth API limits each client IP to 60
    requests a minute (rate-limit-by-key); giving each test its own address keeps tests
    independent, exactly as separate users would be."""
    n = next(_ip_counter)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def pkce_pair() -> tuple[str, str]:
    verifier = b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


# ----------------------------------------------------------------------------------------------
# Session tokens (v1), for crafting attacks and reading what the gateway issued
# ----------------------------------------------------------------------------------------------


def seal_token(claims: dict, enc_key: str, mac_key: str, iv: bytes | None = None) -> str:
    """A token sealed with base64 keys (as the gateway's named values carry them): devstack/session_token.py."""
    return _session_token.seal(SessionKeys.from_b64(enc_key, mac_key), claims, iv)


def open_token(token: str, enc_key: str, mac_key: str) -> dict:
    """The claims of a token sealed with these base64 keys; SessionTokenError when it is not one of theirs."""
    return _session_token.open_token(SessionKeys.from_b64(enc_key, mac_key), token)


def claims_for(audience: str, sub: str = "user-1", cid: str = "mcp-client", lifetime: int = 3600, iat: int | None = None) -> dict:
    now = int(time.time()) if iat is None else iat
    return {"sid": uuid.uuid4().hex, "sub": sub, "cid": cid, "scp": "snippets.read snippets.write", "aud": audience, "iat": now, "exp": now + lifetime}


# ----------------------------------------------------------------------------------------------
# A headless user agent
# ----------------------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Collects forms: action, method, hidden inputs and submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {}, "buttons": []})
        elif tag in ("input", "button") and self.forms:
            if a.get("type") == "hidden" or (tag == "input" and a.get("name")):
                self.forms[-1]["fields"][a.get("name")] = a.get("value", "")
            if tag == "button" and a.get("name"):
                self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


def parse_forms(html: str) -> list[dict]:
    p = _Forms()
    p.feed(html)
    return p.forms


class UserAgent:
    """Follows the authorization redirects like a browser: one cookie jar per host (browsers do
    not separate cookies by port), Secure cookies kept on http://127.0.0.1 (loopback is a secure
    context), SameSite=Lax honoured trivially (every request here is a top-level navigation).
    Like a person, it posts the consent form no sooner than CONSENT_DWELL_S after the page was
    served (`consent_dwell`; a test sets 0 to post as fast as a script can).
    Stops at the client's redirect URI and returns that URL."""

    def __init__(self, client_ip: str, decision: str = "approve", username: str = "alice"):
        self.client_ip = client_ip
        self.decision = decision
        self.username = username
        self.sign_in_pages: list[httpx.Response] = []
        self.cookies: dict[str, dict[str, str]] = {}
        self.history: list[httpx.Response] = []
        self.consent_pages: list[httpx.Response] = []
        self.consent_dwell = CONSENT_DWELL_S
        self._consent_shown = 0.0
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(local_address=client_ip), follow_redirects=False, timeout=30.0
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def cookie_header(self, url: str) -> str:
        jar = self.cookies.get(urlsplit(url).hostname or "", {})
        return "; ".join(f"{k}={v}" for k, v in jar.items())

    def store_cookies(self, response: httpx.Response) -> None:
        host = response.request.url.host
        jar = self.cookies.setdefault(host, {})
        for line in response.headers.get_list("set-cookie"):
            first, *attrs = [p.strip() for p in line.split(";")]
            name, _, value = first.partition("=")
            lowered = [a.lower() for a in attrs]
            if "max-age=0" in lowered or any(a.startswith("expires=thu, 01 jan 1970") for a in lowered):
                jar.pop(name, None)
            else:
                jar[name] = value

    async def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        cookie = self.cookie_header(url)
        if cookie:
            headers["Cookie"] = cookie
        consent = urlsplit(url).path == "/consent"
        if consent and method == "POST" and self.consent_dwell:
            await asyncio.sleep(max(0.0, self._consent_shown + self.consent_dwell + 0.05 - time.monotonic()))
        response = await self.client.request(method, url, headers=headers, **kwargs)
        if consent and method == "GET" and response.status_code == 200:
            self._consent_shown = time.monotonic()
        self.store_cookies(response)
        self.history.append(response)
        return response

    async def navigate(self, url: str, stop_prefix: str, max_steps: int = 20) -> str:
        """Follows redirects and forms from `url` until a URL starting with `stop_prefix`."""
        method, data = "GET", None
        for _ in range(max_steps):
            if url.startswith(stop_prefix):
                return url
            response = await self.request(method, url, data=data)
            method, data = "GET", None
            if response.status_code in (301, 302, 303, 307, 308):
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
                forms = parse_forms(response.text)
                if urlsplit(url).path == "/consent" and forms:
                    self.consent_pages.append(response)
                    form = forms[0]
                    data = dict(form["fields"], decision=self.decision)
                    url, method = urljoin(url, form["action"]), "POST"
                    continue
                if urlsplit(url).path.startswith("/interaction/") and forms:
                    # The Entra stand-in's sign-in page (auto-login off): sign in as `username`.
                    self.sign_in_pages.append(response)
                    form = next(f for f in forms if f["action"].endswith("/login"))
                    data = {"username": self.username}
                    url, method = urljoin(url, form["action"]), "POST"
                    continue
            raise AssertionError(f"navigation stopped at {method} {url}: {response.status_code} {response.text[:500]}")
        raise AssertionError(f"more than {max_steps} navigation steps")


def callback_params(url: str) -> dict[str, str]:
    q = parse_qs(urlsplit(url).query, keep_blank_values=True)
    return {k: v[0] for k, v in q.items()}


def run_browser_script(script: Path, args: dict) -> dict:
    """Runs a local/browser script (playwright-core driving headless Chromium) with `args` as its
    one JSON argument and returns the JSON it prints. A missing Chromium or local/node_modules
    fails the test with what installs it, not with node's stack trace."""
    import shutil
    import subprocess

    import pytest

    if not shutil.which("chromium"):
        pytest.fail("chromium is missing (tests/gateway/apt-packages.txt)", pytrace=False)
    if not (REPO / "local" / "node_modules" / "playwright-core").exists():
        pytest.fail("local/node_modules is missing: npm ci --prefix local", pytrace=False)
    run = subprocess.run(["node", str(script), json.dumps(args)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


# ----------------------------------------------------------------------------------------------
# Raw OAuth client (for attacks: every parameter under the test's control)
# ----------------------------------------------------------------------------------------------


class OAuth:
    """A public OAuth client driving the gateway's endpoints directly."""

    def __init__(self, gateway_url: str, client_ip: str):
        self.gw = gateway_url
        self.ip = client_ip
        self.http = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), follow_redirects=False, timeout=30.0)
        self.agent = UserAgent(client_ip)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.agent.aclose()

    async def register(self, redirect_uris: list[str] | None = None, **extra) -> httpx.Response:
        body = {"redirect_uris": redirect_uris or [REDIRECT_URI], "client_name": "gateway test client", **extra}
        return await self.http.post(f"{self.gw}/register", json=body)

    async def new_client(self, redirect_uris: list[str] | None = None) -> str:
        r = await self.register(redirect_uris)
        assert r.status_code == 201, r.text
        return r.json()["client_id"]

    def authorize_url(self, client_id: str, challenge: str, state: str = "st-123", redirect_uri: str = REDIRECT_URI, **extra) -> str:
        params = {
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
            "code_challenge": challenge, "code_challenge_method": "S256", "resource": f"{self.gw}/mcp", **extra,
        }  # fmt: skip
        params = {k: v for k, v in params.items() if v is not None}
        return f"{self.gw}/authorize?{httpx.QueryParams(params)}"

    async def authorize(self, client_id: str, redirect_uri: str = REDIRECT_URI, state: str = "st-123", **extra) -> dict:
        """Runs authorize -> consent -> IdP -> callback; returns the callback parameters plus
        the PKCE verifier."""
        verifier, challenge = pkce_pair()
        url = self.authorize_url(client_id, challenge, state=state, redirect_uri=redirect_uri, **extra)
        final = await self.agent.navigate(url, redirect_uri.split("?")[0])
        return dict(callback_params(final), verifier=verifier, redirect_uri=redirect_uri)

    async def token(self, **form) -> httpx.Response:
        return await self.http.post(f"{self.gw}/token", data=form)

    async def exchange(self, client_id: str, grant: dict) -> httpx.Response:
        return await self.token(
            grant_type="authorization_code", code=grant["code"], redirect_uri=grant["redirect_uri"],
            client_id=client_id, code_verifier=grant["verifier"],
        )  # fmt: skip

    async def login(self) -> tuple[str, dict]:
        """A registered client with a fresh token response."""
        client_id = await self.new_client()
        grant = await self.authorize(client_id)
        r = await self.exchange(client_id, grant)
        assert r.status_code == 200, r.text
        return client_id, r.json()

    async def refresh(self, client_id: str, refresh_token: str) -> httpx.Response:
        return await self.token(grant_type="refresh_token", refresh_token=refresh_token, client_id=client_id)

    async def revoke(self, client_id: str, token: str) -> httpx.Response:
        return await self.http.post(f"{self.gw}/revoke", data={"token": token, "client_id": client_id})


async def mcp_post(
    http: httpx.AsyncClient, url: str, token: str | None, method: str = "tools/list", params: dict | None = None, request_id: int | str = 1
) -> httpx.Response:
    """One JSON-RPC request to a stateless Streamable HTTP endpoint."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", "Mcp-Protocol-Version": "2025-06-18"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
    return await http.post(url, json=body, headers=headers)


def rpc_result(response: httpx.Response) -> Any:
    """The JSON-RPC result of a JSON or single-event SSE response."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = data[-1]
    message = json.loads(text)
    assert "result" in message, message
    return message["result"]


# ----------------------------------------------------------------------------------------------
# The official MCP SDK with OAuth
# ----------------------------------------------------------------------------------------------


class MemoryTokenStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info) -> None:
        self.client_info = client_info


@contextlib.asynccontextmanager
async def sdk_session(gateway_url: str, transport: str, client_ip: str, storage: MemoryTokenStorage, agent: UserAgent) -> AsyncIterator[Any]:
    """An initialized SDK ClientSession through the gateway, authorized with OAuthClientProvider.
    The redirect handler is the headless user agent; the callback handler reads the URL it
    stopped at."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    landed: list[str] = []

    async def redirect_handler(url: str) -> None:
        landed.append(await agent.navigate(url, REDIRECT_URI))

    async def callback_handler() -> AuthorizationCodeResult:
        p = callback_params(landed.pop())
        assert "code" in p, p
        return AuthorizationCodeResult(code=p["code"], state=p.get("state"), iss=p.get("iss"))

    server_url = f"{gateway_url}/mcp" if transport == "http" else f"{gateway_url}/mcp/sse"
    auth = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[REDIRECT_URI], client_name="gateway SDK test", grant_types=["authorization_code", "refresh_token"],
            response_types=["code"], token_endpoint_auth_method="none",
        ),  # fmt: skip
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    timeout = httpx2.Timeout(30.0, read=CALL_TIMEOUT)

    def factory(headers=None, timeout=timeout, auth=None):
        return httpx2.AsyncClient(
            headers=headers, timeout=timeout, auth=auth, transport=httpx2.AsyncHTTPTransport(local_address=client_ip)
        )

    if transport == "http":
        async with factory(auth=auth) as hc:
            async with streamable_http_client(server_url, http_client=hc) as (r, w):
                async with ClientSession(r, w, read_timeout_seconds=CALL_TIMEOUT) as session:
                    await session.initialize()
                    yield session
    else:
        async with sse_client(server_url, timeout=30.0, sse_read_timeout=CALL_TIMEOUT, auth=auth, httpx_client_factory=factory) as (r, w):
            async with ClientSession(r, w, read_timeout_seconds=CALL_TIMEOUT) as session:
                await session.initialize()
                yield session


def tool_text(result) -> str:
    assert not result.is_error, result
    return "".join(getattr(c, "text", "") for c in result.content)


# ----------------------------------------------------------------------------------------------
# Client ID Metadata Documents and registrations (added for the hardening and client tests)
# ----------------------------------------------------------------------------------------------


class DocumentServer:
    """A loopback HTTP server standing in for the hosts of Client ID Metadata Documents (the
    gateway reaches it through the runner's host mapping). Records every path fetched. A
    document added with `chunked=True` is sent without Content-Length."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler

        self.docs: dict[str, tuple[int, bytes, bool]] = {}
        self.fetches: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.fetches.append(self.path)
                status, data, chunked = outer.docs.get(self.path, (404, b"{}", False))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(data), 1024):
                        piece = data[i : i + 1024]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def add(self, path: str, doc: dict | str, status: int = 200, chunked: bool = False) -> None:
        text = doc if isinstance(doc, str) else json.dumps(doc)
        self.docs[path] = (status, text.encode(), chunked)

    def since(self, start: int) -> list[str]:
        return self.fetches[start:]

    def close(self) -> None:
        self.server.close()


def metadata_document(client_id: str, redirect_uris: list[str] | None = None, **extra) -> dict:
    """A valid Client ID Metadata Document for `client_id` (its own URL)."""
    return {"client_id": client_id, "client_name": "Metadata document client", "redirect_uris": redirect_uris or [REDIRECT_URI],
            "token_endpoint_auth_method": "none", **extra}  # fmt: skip


@contextlib.contextmanager
def local_gateway(name: str, log_dir: Path, report_logs: list[Path] | None = None, **options) -> Iterator[LocalGateway]:
    """A started LocalGateway (devstack/gateway.py: APIM policy runner + Entra ID stand-in) on a
    fresh state directory, for the gateway and conformance areas alike. A start that fails stops
    what did start and fails the test with the reason (a fixture's failure would otherwise show
    as an error deep in devstack). Logs go to log_dir; with report_logs (an area's LOGS), a
    failing test's report also shows them after the gateway stopped (tests/conftest.py).
    Stopped, and its state removed, on exit."""
    import shutil
    import tempfile

    import pytest

    if report_logs is not None:
        for proc in ("gateway", "idp"):
            report_logs.extend([log_dir / f"{proc}.stdout.log", log_dir / f"{proc}.stderr.log"])
    gw = LocalGateway(Path(tempfile.mkdtemp(prefix=f"gw-{name}-")), log_dir=log_dir, **options)
    try:
        try:
            gw.start()
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"local gateway did not start: {e}", pytrace=False)
        yield gw
    finally:
        gw.stop()
        shutil.rmtree(gw.state, ignore_errors=True)


@contextlib.contextmanager
def extra_gateway(name: str, stack, **options) -> Iterator[LocalGateway]:
    """Another gateway + IdP on the shared backend and Azurite (same session keys), e.g. with a
    host mapping for metadata documents; stopped on exit."""
    options.setdefault("backend_url", stack.backend_url)
    options.setdefault("blob_endpoint", stack.azurite["blob"])
    options.setdefault("session_keys", stack.keys)
    with local_gateway(name, ARTIFACTS / name, LOGS, **options) as gw:
        yield gw


def registration_blobs(blob_service) -> dict[str, str]:
    """Every stored registration: blob name -> ETag (changes on any write)."""
    container = blob_service.get_container_client("registrations")
    return {b.name: b.etag for b in container.list_blobs()}


@contextlib.contextmanager
def extra_backend(name: str, stack, resource_url: str):
    """Another snippets-mcp server on the shared Azurite and session keys, accepting tokens for
    `resource_url` (the MCP URL of an extra gateway); yields its base URL."""
    import subprocess

    port = free_port()
    binary = server_binary()
    env = clean_env()
    env.update({
        "AzureWebJobsStorage": stack.azurite["connection_string"],
        "SESSION_TOKEN_ENC_KEY": stack.keys["enc"], "SESSION_TOKEN_MAC_KEY": stack.keys["mac"],
        "MCP_RESOURCE_URL": resource_url, "RUST_LOG": "info", "LOG_FORMAT": "text", "NO_COLOR": "1",
    })  # fmt: skip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out, err = ARTIFACTS / f"{name}.stdout.log", ARTIFACTS / f"{name}.stderr.log"
    LOGS.extend([out, err])
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([str(binary), "--port", str(port)], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=o, stderr=e, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"{name} exited with {proc.returncode}"
            try:
                if httpx.get(url + "/", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{name} did not answer {url}"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class RecordingBackend:
    """A loopback HTTP backend that records every request, whatever its method (`requests`: method,
    path, headers, body); GET /sse streams one event, then waits for the test to set
    `first_event_seen` before sending the second (proving nothing buffers)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler

        self.requests: list[dict] = []
        self.first_event_seen = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorder.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body})

            def do_GET(self):
                self._record()
                if self.path.startswith("/sse"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()

                    def chunk(text: str) -> None:
                        data = text.encode()
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()

                    chunk("event: first\ndata: 1\n\n")
                    ok = recorder.first_event_seen.wait(timeout=20)
                    chunk(f"event: second\ndata: {'after-ack' if ok else 'timeout'}\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                self._reply()

            def do_POST(self):
                self._record()
                self._reply()

            do_DELETE = do_OPTIONS = do_PUT = do_PATCH = do_POST

            def _reply(self):
                answer_json(self, 200, {"ok": True})

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self):
        self.server.close()
