"""Session-key rotation through the real gateway (policy runner) and the real server, on their
own perimeter so the shared stack keeps its keys (docs/session-token.md, "Rotation").

Before the rotation a user signs in twice (two refresh-token families). The gateway and the
server are then restarted with current = new keys and previous = old keys until an hour from
now: the access token issued before keeps working on both, a token sealed under keys never
configured is refused, a refresh of the first family works and re-seals it under the new keys,
and new tokens are sealed under the new keys. Restarted once more with the window in the past,
the old access token is refused (401) by both, the first family (re-sealed during the window)
still refreshes, and the second one (not used during the window) is signed out."""

from __future__ import annotations

import time

import httpx
import pytest

import gw_support as sup
from devstack.processes import ManagedProcess, clean_env, free_port, http_ok
from devstack.session_token import SessionKeys, SessionTokenError, previous_server_env

pytestmark = pytest.mark.anyio

LOG_DIR = sup.ARTIFACTS / "rotation"


class Server:
    """The snippets-mcp backend of this perimeter, restartable with other keys."""

    def __init__(self, port: int, audience: str, storage: str):
        self.port, self.audience, self.storage = port, audience, storage
        self.url = f"http://127.0.0.1:{port}"
        self.proc: ManagedProcess | None = None

    def start(self, current: SessionKeys, previous: SessionKeys | None = None, until: int = 0) -> None:
        self.stop()
        env = clean_env({
            "AzureWebJobsStorage": self.storage, **current.server_env(self.audience),
            **previous_server_env(previous, until), "RUST_LOG": "info", "LOG_FORMAT": "text", "NO_COLOR": "1",
        })  # fmt: skip
        self.proc = ManagedProcess("rotation-server", [str(sup.server_binary()), "--port", str(self.port)], env, log_dir=LOG_DIR).start()
        self.proc.wait_until(lambda: http_ok(self.url + "/", timeout=1.0), 60, f"answer on {self.url}/")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=10)
            self.proc = None


@pytest.fixture
def perimeter(azurite):
    old = SessionKeys.random()
    gw_port, backend_port = free_port(), free_port()
    server = Server(backend_port, f"http://127.0.0.1:{gw_port}/mcp", azurite["connection_string"])
    sup.LOGS.extend([LOG_DIR / "rotation-server.stdout.log", LOG_DIR / "rotation-server.stderr.log"])
    server.start(old)
    try:
        with sup.local_gateway(
            "rotation", LOG_DIR, sup.LOGS, backend_url=server.url, blob_endpoint=azurite["blob"], port=gw_port,
            auto_login="alice", session_keys=old,
        ) as gw:  # fmt: skip
            yield gw, server, old
    finally:
        server.stop()


def _keys_of(token: str, *candidates: SessionKeys) -> int | None:
    """Index of the pair a token opens under, None when under none of them."""
    for i, keys in enumerate(candidates):
        try:
            sup.open_token(token, keys.enc_b64, keys.mac_b64)
            return i
        except (SessionTokenError, ValueError):
            continue
    return None


async def _status(http: httpx.AsyncClient, base: str, token: str) -> int:
    return (await sup.mcp_post(http, f"{base}/mcp", token)).status_code


async def test_tokens_survive_a_rotation_until_the_window_ends(perimeter, client_ip):
    gw, server, old = perimeter
    new, never = SessionKeys.random(), SessionKeys.random()
    oauth = sup.OAuth(gw.url, client_ip)
    try:
        async with httpx.AsyncClient(timeout=sup.CALL_TIMEOUT) as http:
            client_a, tokens_a = await oauth.login()
            client_b, tokens_b = await oauth.login()
            before = tokens_a["access_token"]
            assert _keys_of(before, old, new) == 0
            assert await _status(http, gw.url, before) == 200

            # The rotation: previous <- old, until <- now + 1 h, current <- new; both restarted.
            until = int(time.time()) + 3600
            server.start(new, old, until)
            gw.rotate_session_keys(new, old, until)

            assert await _status(http, gw.url, before) == 200, "a token of the previous keys inside the window"
            assert await _status(http, server.url, before) == 200, "the server accepts it too"
            forged = sup.seal_token(sup.claims_for(f"{gw.url}/mcp"), never.enc_b64, never.mac_b64)
            for base in (gw.url, server.url):
                r = await sup.mcp_post(http, f"{base}/mcp", forged)
                assert r.status_code == 401, f"{base}: a token of keys never configured"
                assert r.headers["WWW-Authenticate"].startswith("Bearer ")

            # Family A refreshes inside the window: its record, sealed under the old keys, opens
            # and is re-sealed under the new ones; the new access token is under the new keys.
            refreshed = await oauth.refresh(client_a, tokens_a["refresh_token"])
            assert refreshed.status_code == 200, refreshed.text
            tokens_a = refreshed.json()
            assert _keys_of(tokens_a["access_token"], old, new) == 1
            assert await _status(http, gw.url, tokens_a["access_token"]) == 200

            # A sign-in during the window gets tokens under the new keys only.
            _, fresh = await oauth.login()
            assert _keys_of(fresh["access_token"], old, new) == 1
            assert await _status(http, gw.url, fresh["access_token"]) == 200

            # The window has passed: the previous keys are no longer accepted anywhere.
            past = int(time.time()) - 1
            server.start(new, old, past)
            gw.rotate_session_keys(new, old, past)

            for base in (gw.url, server.url):
                assert await _status(http, base, before) == 401, f"{base}: a token of the previous keys after the window"
                assert await _status(http, base, tokens_a["access_token"]) == 200, f"{base}: a token of the new keys"
            again = await oauth.refresh(client_a, tokens_a["refresh_token"])
            assert again.status_code == 200, f"family A was re-sealed during the window: {again.text}"
            assert _keys_of(again.json()["access_token"], old, new) == 1
            stale = await oauth.refresh(client_b, tokens_b["refresh_token"])
            assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant", stale.text
    finally:
        await oauth.aclose()
