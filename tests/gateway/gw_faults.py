"""Fault injection for the gateway's dependencies (tests/gateway): a loopback HTTP proxy put in
front of one dependency (Azurite, the Entra ID stand-in, a metadata document host) through the
runner's host mapping, which fails chosen requests the ways a network dependency fails: an
error status (503 ServerBusy, 429), a body that is not JSON, an answer that never comes (the
request is held past the gateway's timeout and then delivered anyway, as a slow dependency
finally does), a connection closed unanswered, or a refused connection (nothing listens on the
port any more). Every other request is forwarded unchanged.

The runner maps URL prefixes, so one dependency can be split by path: refresh-token family
blobs and client registrations live in the same container but can go through proxies of their
own (`blob_routes`), which lets a test refuse connections for one and not the other.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from devstack import csharp
from devstack.processes import clean_env

# Azure Storage's answer when it sheds load (and the shape of a 503 from any Azure front end).
SERVER_BUSY = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
    b"<Message>The server is currently unable to receive requests. Please retry your request.</Message></Error>"
)


@dataclass
class Fault:
    """One armed fault: `kind` is "status", "hang", "reset" or "refuse_after"; it applies to the
    next `times` requests whose method is `method` (any when None) and whose path contains
    `path` (any when None)."""

    kind: str
    method: str | None = None
    path: str | None = None
    times: int = 1
    status: int = 503
    body: bytes = SERVER_BUSY
    content_type: str = "application/xml"
    hold: float = 0.0
    delivered: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and (self.method is None or self.method == method) and (self.path is None or self.path in path)


class FaultProxy:
    """Forwards to `upstream` (scheme://host:port; the path is the request's own). `requests`
    records (method, path) of every request that reached the proxy."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream_host, self.upstream_port = target.hostname, target.port
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self._listen()
        self.url = f"http://127.0.0.1:{self.port}"

    # -- arming ---------------------------------------------------------------------------

    def fail(self, kind: str, **options) -> Fault:
        fault = Fault(kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    # -- listening ------------------------------------------------------------------------

    def _listen(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._take(self.command, self.path)
                self.close_connection = True
                if fault is None:
                    self.reply(*proxy.forward(self.command, self.path, self.headers, body))
                elif fault.kind == "status":
                    self.reply(fault.status, "", [("Content-Type", fault.content_type)], fault.body)
                    fault.delivered.set()
                elif fault.kind == "reset":
                    # RST instead of FIN: the connection dies without a byte of answer.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    fault.delivered.set()
                elif fault.kind == "hang":
                    # No answer within the gateway's timeout; then the request goes through
                    # after all, as a slow dependency would still carry it out.
                    proxy.stopping.wait(fault.hold)
                    try:
                        proxy.forward(self.command, self.path, self.headers, body)
                    finally:
                        fault.delivered.set()
                elif fault.kind == "refuse_after":
                    # This request is answered, then nothing listens any more: the gateway's
                    # next connection (e.g. the write after a read) is refused.
                    answer = proxy.forward(self.command, self.path, self.headers, body)
                    proxy.refuse()
                    self.reply(*answer)
                    fault.delivered.set()
                else:
                    raise AssertionError(f"unknown fault {fault.kind}")

            def reply(self, status, reason, headers, data):
                try:
                    self.send_response(status, reason or None)
                    for k, v in headers:
                        if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError:
                    pass  # the gateway gave up on this request

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = do_PATCH = handle_one

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_port
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def forward(self, method: str, path: str, headers, body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            sent["Host"] = f"{self.upstream_host}:{self.upstream_port}"
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            conn.close()

    def refuse(self) -> None:
        """Stops listening: connections to the port are refused until `restore`."""
        server, self.server = self.server, None
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()
            server.server_close()

    def restore(self) -> None:
        if self.server is None:
            self._listen()

    def close(self) -> None:
        self.stopping.set()
        self.refuse()


def blob_routes(blob_endpoint: str, families: FaultProxy, registrations: FaultProxy) -> dict[str, str]:
    """Host-map entries sending the gateway's refresh-family blobs and registration blobs
    (same container, crates/policies/src/names.rs BLOB_PREFIX_FAMILY) to two proxies. The
    runner uses the first prefix that matches, so the longer one comes first."""
    path = urlsplit(blob_endpoint).path
    container = f"{blob_endpoint}/registrations"
    return {
        f"{container}/refresh-families": f"{families.url}{path}/registrations/refresh-families",
        container: f"{registrations.url}{path}/registrations",
    }


def restart_runner(gw) -> None:
    """Stops the gateway's policy runner and starts it again on the same configuration: same
    named values, keys and storage, an empty cache (as after an APIM cache eviction, or an
    hour after a document was cached). The IdP keeps running."""
    gw.procs.pop("gateway").stop(grace=10)
    env = dict(clean_env(), MONO_PATH=str(csharp.newtonsoft().parent))
    proc = gw._spawn("gateway", ["mono", "--debug", str(csharp.build_runner()), str(gw.state / "runner.json")], env)
    proc.wait_until(lambda: "local-apim: listening" in gw.log("gateway"), 90, "`local-apim: listening`")
