"""Request bodies are judged by their declared size before anything reads them.

Every OAuth endpoint that reads a body (`/register`, `/token`, `/revoke`, `POST /consent`) is
anonymous, so a body is the cheapest way to make the gateway spend memory: one 60 MB
`POST /register` used to be buffered whole, then turned into a string, before its length was
compared with the 8 KiB limit. The policies now refuse a body from its headers alone: one
without `Content-Length` (chunked) with 411, one declared larger than the endpoint takes or
with a `Content-Length` that is not a number with 400, each as an OAuth error
(`invalid_client_metadata` at `/register`, `invalid_request` elsewhere; `no-store`). The
local runner, like APIM, reads a request body only when something needs it, so a refused
body is never buffered.

Measured on the runner process itself: its peak resident set (VmHWM, reset through
/proc/<pid>/clear_refs before each request) may not grow by more than 20 MB while a 60 MB
body is refused, and nothing is stored. Raw sockets show the answer arrives before the body
is even sent. A body exactly at the limit still works end to end.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

import gw_support as sup
from devstack.gateway import POLICIES
from devstack.loopback_http import LoopbackServer, answer_json

pytestmark = pytest.mark.anyio

NAMES = (sup.REPO / "crates" / "policies" / "src" / "names.rs").read_text()

def _size(name: str) -> int:
    """A byte limit of names.rs, written `<n> * 1024`."""
    kib = re.search(rf"pub const {name}: u32 = (\d+) \* 1024;", NAMES)
    assert kib, f"{name} not found in names.rs"
    return int(kib.group(1)) * 1024


REGISTRATION_MAX = _size("REGISTRATION_BODY_MAX_BYTES")
FORM_MAX = _size("FORM_BODY_MAX_BYTES")

BIG = 60 * 1024 * 1024
# What refusing a 60 MB body may cost the runner: a few MB of JIT and connection state, never
# the body (which would be 60 MB as bytes and twice that again as a .NET string).
RSS_GROWTH_LIMIT_KIB = 20 * 1024

BODY_ENDPOINTS = {
    "register": ("/register", "application/json"),
    "token": ("/token", "application/x-www-form-urlencoded"),
    "revoke": ("/revoke", "application/x-www-form-urlencoded"),
    "consent": ("/consent", "application/x-www-form-urlencoded"),
}
# The OAuth error each endpoint answers a refused body with: RFC 7591's for registration,
# RFC 6749's for the forms.
ERROR = {"/register": "invalid_client_metadata"}


# ----------------------------------------------------------------------------------------------
# The runner's memory, from /proc
# ----------------------------------------------------------------------------------------------


def runner_pid(stack) -> int:
    return stack.gateway.procs["gateway"].pid


def _status_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1))


class PeakRss:
    """The growth of a process's peak resident set over a block: the kernel's high-water mark
    (VmHWM) is reset to the current RSS on entry (writing 5 to clear_refs), so whatever the
    block makes the process hold, however briefly, shows in VmHWM at exit."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before_kib = 0
        self.peak_kib = 0

    def __enter__(self) -> PeakRss:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.before_kib = _status_kib(self.pid, "VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        self.peak_kib = _status_kib(self.pid, "VmHWM")

    @property
    def growth_kib(self) -> int:
        return self.peak_kib - self.before_kib

    def __str__(self) -> str:
        return f"runner RSS {self.before_kib / 1024:.1f} MB before, peak {self.peak_kib / 1024:.1f} MB (+{self.growth_kib / 1024:.1f} MB)"


def report(name: str, peak: PeakRss) -> None:
    """The figures go to the test log and to test-artifacts, for the record."""
    line = f"{name}: {peak}"
    print(line)
    sup.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(sup.ARTIFACTS / "request-size-memory.txt", "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


# ----------------------------------------------------------------------------------------------
# Raw HTTP/1.1, so a test decides exactly what is sent and when
# ----------------------------------------------------------------------------------------------


def connect(stack, client_ip: str) -> socket.socket:
    host, port = stack.url.removeprefix("http://").split(":")
    s = socket.socket()
    s.bind((client_ip, 0))
    s.settimeout(10)
    s.connect((host, int(port)))
    return s


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, lower-cased headers, body by Content-Length); socket.timeout when
    none comes."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = s.recv(65536)
        if not piece:
            raise ConnectionError(f"connection closed before a response: {data!r}")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = s.recv(65536)
        if not piece:
            break
        rest += piece
    return status, headers, rest[:length]


def head_only(path: str, content_type: str, framing: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n").encode()


def assert_oauth_error(status: int, headers: dict[str, str], body: bytes, expected: int, path: str) -> None:
    assert status == expected, (status, body[:300])
    error = json.loads(body)
    assert error["error"] == ERROR.get(path, "invalid_request"), error
    assert error["error_description"], error
    assert headers.get("cache-control") == "no-store", headers


# ----------------------------------------------------------------------------------------------
# The answer comes from the headers alone
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(BODY_ENDPOINTS))
def test_body_declared_too_large_is_refused_before_it_is_sent(stack, client_ip, endpoint):
    """Only the headers are sent, declaring 60 MB: the refusal comes back at once, so the
    gateway decided without waiting for (let alone reading) a byte of the body."""
    path, content_type = BODY_ENDPOINTS[endpoint]
    with connect(stack, client_ip) as s:
        s.sendall(head_only(path, content_type, f"Content-Length: {BIG}"))
        status, headers, body = read_response(s)
    assert_oauth_error(status, headers, body, 400, path)
    assert str(REGISTRATION_MAX if endpoint == "register" else FORM_MAX) in body.decode()


@pytest.mark.parametrize("endpoint", list(BODY_ENDPOINTS))
def test_chunked_body_is_refused_before_it_is_read(stack, client_ip, endpoint):
    """A chunked body announces no size: one small chunk is sent and the stream left open. The
    411 comes back without the gateway waiting for the rest."""
    path, content_type = BODY_ENDPOINTS[endpoint]
    with connect(stack, client_ip) as s:
        s.sendall(head_only(path, content_type, "Transfer-Encoding: chunked") + b"400\r\n" + b"a" * 1024 + b"\r\n")
        status, headers, body = read_response(s)
    assert_oauth_error(status, headers, body, 411, path)


def test_expect_100_continue_is_answered_only_for_a_body_that_is_read(stack, client_ip, blob_service):
    """A client sending `Expect: 100-continue` (curl does for large bodies) waits before
    sending its body. Refused on its headers, it gets the final answer and never a 100, so it
    sends nothing; accepted, it gets the 100, sends the body, and the registration is stored."""
    with connect(stack, client_ip) as s:
        s.sendall(head_only("/register", "application/json", f"Content-Length: {BIG}\r\nExpect: 100-continue"))
        status, headers, body = read_response(s)
    assert_oauth_error(status, headers, body, 400, "/register")
    registration = padded_registration(2000)
    with connect(stack, client_ip) as s:
        s.sendall(head_only("/register", "application/json", f"Content-Length: {len(registration)}\r\nExpect: 100-continue"))
        status, _, _ = read_response(s)
        assert status == 100
        s.sendall(registration)
        status, headers, body = read_response(s)
    assert status == 201, body
    assert f"{json.loads(body)['client_id']}.json" in sup.registration_blobs(blob_service)


@pytest.mark.parametrize("length", ["12abc", "-1", "10, 10", "99999999999999999999"])
def test_content_length_that_is_not_a_number_is_refused(stack, client_ip, length):
    with connect(stack, client_ip) as s:
        s.sendall(head_only("/token", "application/x-www-form-urlencoded", f"Content-Length: {length}") + b"grant_type=x")
        status, headers, body = read_response(s)
    assert status == 400, (status, body)


def test_body_without_content_length_is_refused(stack, client_ip):
    """HTTP/1.1 reads a request without Content-Length or Transfer-Encoding as one without a
    body; an endpoint that needs a body asks for its length (411) rather than guess."""
    with connect(stack, client_ip) as s:
        s.sendall(head_only("/token", "application/x-www-form-urlencoded", "X-Nothing: 1"))
        status, headers, body = read_response(s)
    assert_oauth_error(status, headers, body, 411, "/token")


# ----------------------------------------------------------------------------------------------
# 60 MB sent in full by a real client: refused, nothing buffered, nothing stored
# ----------------------------------------------------------------------------------------------


async def warm_up(stack, client_ip: str) -> None:
    """A body just over the limit once, so the JIT's first compilation of the refusal is not
    counted."""
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=30) as http:
        await http.post(stack.url + "/register", content=b"x" * (REGISTRATION_MAX + 1), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("endpoint", ["register", "token"])
async def test_60_mb_body_is_refused_without_being_buffered(stack, client_ip, blob_service, endpoint):
    path, content_type = BODY_ENDPOINTS[endpoint]
    await warm_up(stack, client_ip)
    stored = sup.registration_blobs(blob_service)
    body = b'{"redirect_uris": ["http://127.0.0.1:1/cb"], "client_name": "' + b"x" * BIG + b'"}' if endpoint == "register" else b"grant_type=" + b"x" * BIG
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=120) as http:
        with PeakRss(runner_pid(stack)) as peak:
            r = await http.post(stack.url + path, content=body, headers={"Content-Type": content_type})
    report(f"60 MB POST {path} (Content-Length)", peak)
    assert peak.growth_kib < RSS_GROWTH_LIMIT_KIB, str(peak)
    assert_oauth_error(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, 400, path)
    assert sup.registration_blobs(blob_service) == stored


def test_client_that_sends_the_whole_body_before_reading_gets_the_answer(stack, client_ip):
    """The refusal is sent as soon as the headers are in; the gateway then reads off and drops
    what the client still sends instead of resetting the connection under it, so a client that
    writes all 60 MB before it reads (a plain socket here) finishes writing and finds the
    answer. The connection is not reused (`Connection: close`)."""
    with connect(stack, client_ip) as s, PeakRss(runner_pid(stack)) as peak:
        s.settimeout(60)
        s.sendall(head_only("/register", "application/json", f"Content-Length: {BIG}"))
        piece = b"x" * (1024 * 1024)
        for _ in range(BIG // len(piece)):
            s.sendall(piece)
        status, headers, body = read_response(s)
    report("60 MB POST /register (raw socket, body written before reading)", peak)
    assert_oauth_error(status, headers, body, 400, "/register")
    assert headers.get("connection") == "close", headers
    assert peak.growth_kib < RSS_GROWTH_LIMIT_KIB, str(peak)


async def test_60_mb_chunked_registration_is_refused_without_being_buffered(stack, client_ip, blob_service):
    await warm_up(stack, client_ip)
    stored = sup.registration_blobs(blob_service)

    async def chunks():
        yield b'{"redirect_uris": ["http://127.0.0.1:1/cb"], "client_name": "'
        for _ in range(60):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=120) as http:
        with PeakRss(runner_pid(stack)) as peak:
            r = await http.post(stack.url + "/register", content=chunks(), headers={"Content-Type": "application/json"})
    report("60 MB POST /register (chunked)", peak)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert peak.growth_kib < RSS_GROWTH_LIMIT_KIB, str(peak)
    assert_oauth_error(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, 411, "/register")
    assert sup.registration_blobs(blob_service) == stored


# ----------------------------------------------------------------------------------------------
# The runner's model of APIM: bodies are relayed, not held; what a policy reads is bounded
# ----------------------------------------------------------------------------------------------


class CountingBackend:
    """A loopback backend that reads a request body (Content-Length or chunked) piece by piece
    and answers with its length and SHA-256, holding none of it."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def pieces(self):
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        while size:
                            piece = self.rfile.read(min(size, 65536))
                            size -= len(piece)
                            yield piece
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                else:
                    left = int(self.headers.get("Content-Length") or 0)
                    while left:
                        piece = self.rfile.read(min(left, 65536))
                        left -= len(piece)
                        yield piece

            def do_POST(self):
                digest, count = hashlib.sha256(), 0
                for piece in self.pieces():
                    digest.update(piece)
                    count += len(piece)
                framing = "chunked" if "chunked" in self.headers.get("Transfer-Encoding", "") else "content-length"
                answer_json(self, 200, {"bytes": count, "sha256": digest.hexdigest(), "framing": framing})

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self):
        self.server.close()


@pytest.fixture(scope="module")
def unguarded(stack):
    """A gateway on a copy of the policies whose registration reads its body without the size
    check (as a careless new endpoint would), in front of the counting backend."""
    work = Path(tempfile.mkdtemp(prefix="gw-unguarded-"))
    policies = work / "policies"
    shutil.copytree(POLICIES, policies)
    register = policies / "oauth" / "register.xml"
    check = "@(((JObject)context.Variables[&quot;bodyRefusal&quot;])[&quot;status&quot;] != null)"
    text = register.read_text()
    assert check in text, "register.xml changed; update the copy"
    register.write_text(text.replace(check, "@(false)"))
    backend = CountingBackend()
    try:
        with sup.extra_gateway("unguarded", stack, policies_dir=policies, backend_url=backend.url) as gw:
            yield gw
    finally:
        backend.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_body_forwarded_to_the_backend_is_relayed_not_held(unguarded, client_ip, framing):
    """60 MB to the MCP API with a valid token: no policy reads the body, so forward-request
    copies it to the backend as it arrives, in its own framing, and the runner holds none of it."""
    token = sup.seal_token(sup.claims_for(f"{unguarded.url}/mcp"), unguarded.session_keys["enc"], unguarded.session_keys["mac"])
    piece = b"x" * (1024 * 1024)
    expected = hashlib.sha256(piece * 60).hexdigest()

    async def chunks():
        for _ in range(60):
            yield piece

    content = chunks() if framing == "chunked" else piece * 60
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=120) as http:
        # The MCP API's path once, so its first compilation is not counted.
        assert (await http.post(f"{unguarded.url}/mcp", content=piece, headers=headers)).status_code == 200
        with PeakRss(unguarded.procs["gateway"].pid) as peak:
            r = await http.post(f"{unguarded.url}/mcp", content=content, headers=headers)
    report(f"60 MB POST /mcp relayed to the backend ({framing})", peak)
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": BIG, "sha256": expected, "framing": framing}
    assert peak.growth_kib < RSS_GROWTH_LIMIT_KIB, str(peak)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_policy_reading_a_body_buffers_at_most_apim_limit(unguarded, client_ip, blob_service, framing):
    """A policy that reads a body without checking it first: the runner buffers at most APIM's
    2 MiB buffered payload limit (a declared larger body not at all, a chunked one until it
    passes the limit), and a larger body fails that policy (on-error, APIM's default 500)
    instead of being held. A body under the limit is read whole (the policy's own length
    check answers)."""
    piece = b"x" * (1024 * 1024)

    async def chunks():
        for _ in range(60):
            yield piece

    stored = sup.registration_blobs(blob_service)
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=client_ip), timeout=120) as http:
        r = await http.post(f"{unguarded.url}/register", content=piece, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error_description"] == "registration request too large", r.text
        with PeakRss(unguarded.procs["gateway"].pid) as peak:
            content = chunks() if framing == "chunked" else piece * 60
            r = await http.post(f"{unguarded.url}/register", content=content, headers={"Content-Type": "application/json"})
    report(f"60 MB POST /register on a copy without the size check ({framing})", peak)
    assert r.status_code == 500 and r.json()["statusCode"] == 500, r.text
    assert peak.growth_kib < RSS_GROWTH_LIMIT_KIB, str(peak)
    assert sup.registration_blobs(blob_service) == stored
    assert "bytes the gateway buffers" in unguarded.log("gateway", "stderr")


# ----------------------------------------------------------------------------------------------
# At the limit, everything still works
# ----------------------------------------------------------------------------------------------


def padded_registration(size: int) -> bytes:
    """A valid registration of exactly `size` bytes (an extension member carries the padding;
    unknown metadata is ignored, RFC 7591 2)."""
    base = b'{"redirect_uris": ["' + sup.REDIRECT_URI.encode() + b'"], "client_name": "at the limit", "x_padding": ""}'
    return base[:-2] + b"p" * (size - len(base)) + b'"}'


async def test_registration_at_the_limit_is_stored_and_one_byte_more_is_refused(oauth, blob_service):
    body = padded_registration(REGISTRATION_MAX)
    assert len(body) == REGISTRATION_MAX
    r = await oauth.http.post(f"{oauth.gw}/register", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert f"{r.json()['client_id']}.json" in sup.registration_blobs(blob_service)
    stored = sup.registration_blobs(blob_service)
    r = await oauth.http.post(f"{oauth.gw}/register", content=padded_registration(REGISTRATION_MAX + 1), headers={"Content-Type": "application/json"})
    assert_oauth_error(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, 400, "/register")
    assert sup.registration_blobs(blob_service) == stored


async def test_code_exchange_at_the_limit_works(oauth):
    """A whole sign-in whose token request is exactly FORM_BODY_MAX_BYTES long (an extra
    parameter carries the padding): the code is exchanged, the access token works."""
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    form = {"grant_type": "authorization_code", "code": grant["code"], "redirect_uri": grant["redirect_uri"],
            "client_id": client_id, "code_verifier": grant["verifier"], "padding": ""}  # fmt: skip
    form["padding"] = "p" * (FORM_MAX - len(urlencode(form)))
    body = urlencode(form).encode()
    assert len(body) == FORM_MAX
    r = await oauth.http.post(f"{oauth.gw}/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    tools = await sup.mcp_post(oauth.http, f"{oauth.gw}/mcp", r.json()["access_token"])
    assert tools.status_code == 200, tools.text


async def test_sdk_sign_in_still_works_after_refusals(stack, client_ip):
    """The official MCP SDK registers, signs in and calls a tool on the same gateway right after
    the refusals above (keep-alive connections and all)."""
    storage = sup.MemoryTokenStorage()
    agent = sup.UserAgent(client_ip)
    try:
        async with sup.sdk_session(stack.url, "http", client_ip, storage, agent) as session:
            tools = await session.list_tools()
            assert any(t.name == "hello_mcp" for t in tools.tools)
    finally:
        await agent.aclose()


# ----------------------------------------------------------------------------------------------
# The class: whatever reads a request body checks its declared size first
# ----------------------------------------------------------------------------------------------


def policy_documents() -> Iterator[Path]:
    yield from sorted(p for p in POLICIES.rglob("*.xml"))


def test_every_policy_reading_a_request_body_checks_its_declared_size_first():
    """Any policy or fragment (present or future) whose expressions touch
    `context.Request.Body` must decide on `Content-Length` / `Transfer-Encoding` earlier in the
    same document (the `bodyRefusal` check rendered from macro `request_body_limit`), followed
    by the return-response that ends the request. The MCP API's scope check is the one reader
    that refuses nothing: it reads only a body declared small enough, and leaves any other to
    the server, deciding on the same headers before the read in the same expression."""
    readers = []
    for path in policy_documents():
        elements = list(ET.parse(path).getroot().iter())
        texts = [" ".join([el.text or "", *el.attrib.values()]) for el in elements]
        first_read = next((i for i, t in enumerate(texts) if "context.Request.Body" in t), None)
        if first_read is None:
            continue
        readers.append(path.relative_to(POLICIES).as_posix())
        if readers[-1] == "mcp/api.xml":
            scope_check = elements[first_read]
            assert scope_check.get("name") == "scopeRefusal", "mcp/api.xml: only the scope check reads the body"
            value = scope_check.get("value")
            read = value.index("context.Request.Body.As<string>")
            assert value.index('ContainsKey("Transfer-Encoding")') < read
            assert value.index(f'"Content-Length", ""), out length) || length > {64 * 1024})') < read
            continue
        check = next((i for i, el in enumerate(elements) if el.tag == "set-variable" and el.get("name") == "bodyRefusal"), None)
        assert check is not None and check < first_read, f"{path.name} reads the request body without checking its declared size first"
        assert "Content-Length" in elements[check].get("value") and "Transfer-Encoding" in elements[check].get("value")
        refusal = next((el for el in elements[check:first_read] if el.tag == "return-response"), None)
        assert refusal is not None, f"{path.name}: no return-response between the size check and the body read"
    assert sorted(readers) == ["fragments/parse-form.xml", "mcp/api.xml", "oauth/register.xml"], readers


def test_every_body_endpoint_reads_through_a_checked_policy():
    """The OAuth API's POST operations are exactly the body endpoints, and each one's policy
    includes parse-form or is the registration policy."""
    manifest = json.loads((POLICIES / "manifest.json").read_text())
    oauth = next(a for a in manifest["apis"] if a["name"] == "oauth")
    posts = {op["urlTemplate"]: op["policy"] for op in oauth["operations"] if op["method"] == "POST"}
    assert set(posts) == {path for path, _ in BODY_ENDPOINTS.values()}, posts
    for path, policy in posts.items():
        text = (POLICIES / policy).read_text()
        assert 'fragment-id="parse-form"' in text or policy == "oauth/register.xml", (path, policy)
