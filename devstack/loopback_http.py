"""Loopback HTTP servers for the local stand-ins, the bench and the tests: a handler class served on 127.0.0.1
from a daemon thread (one thread per connection), and the JSON reply they write."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer_json(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    """A JSON reply with its length, from any BaseHTTPRequestHandler."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class LoopbackServer:
    """`handler` on 127.0.0.1:`port` (0: a free one) until `close`. Connection threads are daemons, so a
    request a test left hanging never keeps the process alive."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, name: str = "loopback-http") -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
