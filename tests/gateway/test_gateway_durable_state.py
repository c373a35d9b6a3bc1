"""Sign-in state that survives the gateway: refresh-token families live in blob storage, not in
APIM's cache. Each test restarts the policy runner (its cache is lost; Azurite, the IdP and
the session keys stay) or races two refreshes, and checks what a user would see."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import gw_support as sup
import pytest
from devstack import csharp
from devstack.loopback_http import LoopbackServer
from devstack.processes import clean_env

# crates/policies/src/names.rs BLOB_PREFIX_FAMILY, inside the registrations container.
FAMILY_PREFIX = "refresh-families/"

pytestmark = pytest.mark.anyio


def restart_runner(gw) -> None:
    """Stops the gateway's policy runner and starts it again on the same configuration: same
    named values, keys and storage, an empty cache. The IdP keeps running (Entra ID does not
    restart with the gateway)."""
    gw.procs.pop("gateway").stop(grace=10)
    env = dict(clean_env(), MONO_PATH=str(csharp.newtonsoft().parent))
    proc = gw._spawn("gateway", ["mono", "--debug", str(csharp.build_runner()), str(gw.state / "runner.json")], env)
    proc.wait_until(lambda: "local-apim: listening" in gw.log("gateway"), 90, "`local-apim: listening`")


def family_blob(blob_service, refresh_token: str):
    family = refresh_token.split(".")[0]
    return blob_service.get_blob_client("registrations", f"{FAMILY_PREFIX}{family}.json")


def assert_invalid_grant(r) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant", r.text


async def test_refresh_token_survives_a_gateway_restart(start_gateway, blob_service):
    gw = start_gateway("durable-restart")
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    try:
        client_id, first = await oauth.login()
        r = await oauth.refresh(client_id, first["refresh_token"])
        assert r.status_code == 200, r.text
        second = r.json()

        # What storage holds: a hash of the current token, never a usable token.
        text = family_blob(blob_service, second["refresh_token"]).download_blob().readall().decode()
        record = json.loads(text)
        assert record["current"] == hashlib.sha256(second["refresh_token"].encode()).hexdigest()
        assert second["refresh_token"] not in text and first["refresh_token"] not in text
        assert record["client_id"] == client_id and len(record["upstream"].split(".")) == 2

        restart_runner(gw)

        r = await oauth.refresh(client_id, second["refresh_token"])
        assert r.status_code == 200, r.text
        third = r.json()
        assert third["refresh_token"] != second["refresh_token"]
        claims = sup.open_token(third["access_token"], gw.session_keys["enc"], gw.session_keys["mac"])
        assert claims["cid"] == client_id
        # Rotation still detects reuse after the restart: the token spent before it (past
        # the grace window of the token a rotation just replaced) revokes the family.
        assert_invalid_grant(await oauth.refresh(client_id, first["refresh_token"]))
        assert_invalid_grant(await oauth.refresh(client_id, third["refresh_token"]))
    finally:
        await oauth.aclose()


async def test_revoked_family_stays_revoked_after_a_restart(start_gateway, blob_service):
    gw = start_gateway("durable-revoked")
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    try:
        revoked_client, revoked = await oauth.login()
        reused_client, reused = await oauth.login()
        kept_client, kept = await oauth.login()
        assert (await oauth.revoke(revoked_client, revoked["refresh_token"])).status_code == 200
        r = await oauth.refresh(reused_client, reused["refresh_token"])
        assert r.status_code == 200, r.text
        r = await oauth.refresh(reused_client, r.json()["refresh_token"])
        assert r.status_code == 200, r.text
        assert_invalid_grant(await oauth.refresh(reused_client, reused["refresh_token"]))  # reuse of a spent token: family revoked
        assert not family_blob(blob_service, revoked["refresh_token"]).exists()
        assert not family_blob(blob_service, reused["refresh_token"]).exists()

        restart_runner(gw)

        assert_invalid_grant(await oauth.refresh(revoked_client, revoked["refresh_token"]))
        assert_invalid_grant(await oauth.refresh(reused_client, r.json()["refresh_token"]))
        # The family nobody revoked lives on, so the refusals above are revocations, not a
        # cache that forgot everything.
        r = await oauth.refresh(kept_client, kept["refresh_token"])
        assert r.status_code == 200, r.text
    finally:
        await oauth.aclose()


class HoldingBlobProxy:
    """A loopback HTTP proxy in front of Azurite. While armed, it holds the first two GETs until
    both have arrived, so that two requests have both read storage before either writes: the
    race is forced, not hoped for."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream_host, self.upstream_port = target.hostname, target.port
        self.armed = False
        self.held = 0
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(2, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "GET":
                    proxy.hold()
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = forward

        self.server = LoopbackServer(Handler)
        self.url = f"{self.server.url}{target.path}"

    def hold(self) -> None:
        with self.lock:
            if not self.armed or self.held >= 2:
                return
            self.held += 1
        self.barrier.wait()  # bounded: raises BrokenBarrierError after 30 s
        with self.lock:
            self.armed = False

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def blob_proxy(stack):
    proxy = HoldingBlobProxy(stack.azurite["blob"])
    yield proxy
    proxy.close()


async def test_concurrent_refreshes_of_one_token_have_one_winner(start_gateway, blob_proxy, blob_service):
    gw = start_gateway("durable-race", blob_endpoint=blob_proxy.url)
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    try:
        client_id, first = await oauth.login()
        blob_proxy.armed = True
        results = await asyncio.gather(
            oauth.refresh(client_id, first["refresh_token"]), oauth.refresh(client_id, first["refresh_token"])
        )
        assert blob_proxy.held == 2, "both refreshes must have read storage before either wrote"
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 400], [r.text for r in results]
        winner = next(r for r in results if r.status_code == 200).json()
        loser = next(r for r in results if r.status_code == 400)
        assert_invalid_grant(loser)
        # Lost at the compare-and-swap: both refreshed the Entra session (Entra does not
        # revoke a redeemed refresh token), and only the rotation decides.
        assert "reuse detected" in loser.json()["error_description"], loser.text
        # The loser proves two parties hold the token: the family is revoked, as for reuse.
        assert not family_blob(blob_service, first["refresh_token"]).exists()
        assert_invalid_grant(await oauth.refresh(client_id, winner["refresh_token"]))
    finally:
        await oauth.aclose()
