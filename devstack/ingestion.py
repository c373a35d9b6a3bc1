"""A loopback endpoint that speaks Application Insights' ingestion protocol, so the server's telemetry
can be seen without Azure: `POST /v2/track` and `/v2.1/track`, plain or gzip, envelopes as a JSON
array or one per line, answered as the real endpoint answers (`itemsReceived`, `itemsAccepted`).

Used by the tests (which also make it hang or fail, to show a bad endpoint never slows a tool call)
and by `scripts/run-local.sh --telemetry`, which prints what arrives.

    python3 -m devstack.ingestion [--port N]     prints each envelope as one JSON line on stdout
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler
from typing import Callable

from devstack.loopback_http import LoopbackServer, answer_json

TRACK_PATHS = ("/v2/track", "/v2.1/track")


def parse_body(raw: bytes, encoding: str | None) -> list[dict]:
    """The envelopes of one request: gzip or plain; a JSON array, one object, or one per line."""
    if encoding == "gzip":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8").strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class IngestionReceiver:
    """Records the envelopes it receives. `mode`: `accept` (200), `fail` (500) or `hang` (holds each
    request until stopped); it can be changed while running."""

    def __init__(self, mode: str = "accept", on_envelope: Callable[[dict], None] | None = None):
        self.mode = mode
        self.envelopes: list[dict] = []
        self.requests = 0
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._on_envelope = on_envelope
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server, "not started"
        return f"{self._server.url}/"

    def connection_string(self, key: str = "00000000-0000-0000-0000-000000000000") -> str:
        return f"InstrumentationKey={key};IngestionEndpoint={self.url}"

    def start(self, port: int = 0) -> "IngestionReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the envelopes are the output
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests += 1
                    receiver.authorizations.append(self.headers.get("Authorization"))
                if receiver.mode == "hang":
                    receiver._stop.wait()
                    return
                if self.path.split("?")[0] not in TRACK_PATHS:
                    return self._answer(404, {"error": "unknown path"})
                if receiver.mode == "fail":
                    return self._answer(500, {"itemsReceived": 0, "itemsAccepted": 0, "errors": []})
                try:
                    envelopes = parse_body(raw, self.headers.get("Content-Encoding"))
                except (ValueError, OSError) as e:
                    return self._answer(400, {"error": str(e)})
                with receiver._lock:
                    receiver.envelopes.extend(envelopes)
                for envelope in envelopes:
                    if receiver._on_envelope:
                        receiver._on_envelope(envelope)
                self._answer(200, {"itemsReceived": len(envelopes), "itemsAccepted": len(envelopes), "errors": []})

            def _answer(self, status: int, body: dict):
                answer_json(self, status, body)

        self._server = LoopbackServer(Handler, port, name="ingestion")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.close()

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.envelopes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m devstack.ingestion", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    def show(envelope: dict) -> None:
        print(json.dumps(envelope, separators=(",", ":")), flush=True)

    receiver = IngestionReceiver(on_envelope=show).start(args.port)
    print(f"ingestion endpoint: {receiver.url} ({receiver.connection_string()})", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
