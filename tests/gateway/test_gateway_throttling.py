"""Throttling of the MCP API through the local gateway, with users signed in through the real OAuth
flow (the Entra stand-in's sign-in page) in front of a real snippets-mcp server, and small limits:
a user over the per-user limit gets 429 with Retry-After and a JSON-RPC error (plain text on the
SSE stream) while another user is served; the window renews; headers cannot move a call to
another user's counter; the per-client limit spans the users of one client; the per-user quota
refuses the call past it. `/token` counts the grants it issues per client application, and only
verified ones. Also, on copies of the policies: the stand-in the v2 tiers get instead of
quota-by-key, the runner's bandwidth quota, and the OAuth API's configurable per-address limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

import gw_support as sup
from devstack.gateway import POLICIES

pytestmark = pytest.mark.anyio

USER_CALLS, CLIENT_CALLS, PERIOD = 4, 6, 3
QUOTA_CALLS, QUOTA_PERIOD = 7, 300
OAUTH_CALLS, TOKEN_CLIENT_CALLS = 20, 4
LIMITS = {
    "McpUserRateLimitCalls": USER_CALLS, "McpClientRateLimitCalls": CLIENT_CALLS, "McpRateLimitPeriodSecs": PERIOD,
    "McpUserQuotaCalls": QUOTA_CALLS, "McpUserQuotaPeriodSecs": QUOTA_PERIOD, "OAuthRateLimitCalls": OAUTH_CALLS,
    "OAuthTokenClientRateLimitCalls": TOKEN_CLIENT_CALLS,
}  # fmt: skip
JSONRPC_THROTTLED = -32000
# Bounds every wait: a limit that never refuses, or never renews, fails the test instead of hanging it.
DEADLINE = 30.0


@pytest.fixture(scope="module")
def gw(stack):
    """A gateway with small limits and the sign-in page (the test chooses who signs in), in front
    of a server of its own that accepts its tokens."""
    port = sup.free_port()
    with sup.extra_backend("throttling-server", stack, f"http://127.0.0.1:{port}/mcp") as backend_url:
        with sup.extra_gateway("throttling", stack, backend_url=backend_url, port=port, auto_login=None, limits=LIMITS) as g:
            yield g


@pytest.fixture
async def http():
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=sup.next_client_ip()), timeout=30) as c:
        yield c


@dataclasses.dataclass
class User:
    name: str
    client_id: str
    token: str
    sub: str
    cid: str


def fresh(name: str) -> str:
    """A user name no other test signs in with, so each test starts with untouched counters."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def sign_in(gw, username: str, client_id: str | None = None) -> User:
    """`username` signs in on the stand-in's sign-in page through a client of its own, or through
    the registered `client_id`; returns the session token and its claims."""
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    oauth.agent.username = username
    try:
        client_id = client_id or await oauth.new_client()
        grant = await oauth.authorize(client_id)
        r = await oauth.exchange(client_id, grant)
        assert r.status_code == 200, r.text
        assert len(oauth.agent.sign_in_pages) == 1
        token = r.json()["access_token"]
    finally:
        await oauth.aclose()
    claims = sup.open_token(token, gw.session_keys["enc"], gw.session_keys["mac"])
    return User(username, client_id, token, claims["sub"], claims["cid"])


async def call(http: httpx.AsyncClient, gw, user: User, headers: dict | None = None) -> httpx.Response:
    """One JSON-RPC request (tools/list) on Streamable HTTP, with extra headers if given."""
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}
    return await http.post(f"{gw.url}/mcp", json=body, headers={
        "Authorization": f"Bearer {user.token}", "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2025-06-18", **(headers or {}),
    })  # fmt: skip


async def until_refused(http, gw, user: User, headers: dict | None = None) -> tuple[int, httpx.Response]:
    """Calls until one is refused; returns how many were served first, and the refusal. Served calls
    must be plain successes. Counting to the limit and no further holds unless the window renewed
    meanwhile (a very slow machine), which only adds served calls."""
    served, end = 0, time.monotonic() + DEADLINE
    while time.monotonic() < end:
        r = await call(http, gw, user, headers)
        if r.status_code == 429:
            return served, r
        assert r.status_code == 200, r.text
        assert "tools" in sup.rpc_result(r)
        served += 1
    raise AssertionError(f"{user.name} was not refused within {DEADLINE}s ({served} calls served)")


def jsonrpc_refusal(r: httpx.Response, limit: str, text: str) -> int:
    """Checks a throttled POST's answer; returns its Retry-After."""
    assert r.status_code == 429, r.text
    retry = int(r.headers["retry-after"])
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": JSONRPC_THROTTLED, "message": f"{text}; retry after {retry} s", "data": {"retryAfter": retry, "limit": limit}},
    }
    return retry


USER_TEXT = f"rate limit exceeded: at most {USER_CALLS} calls per {PERIOD} s per user"
CLIENT_TEXT = f"rate limit exceeded: at most {CLIENT_CALLS} calls per {PERIOD} s for this client application"
QUOTA_TEXT = f"quota exceeded: at most {QUOTA_CALLS} calls per user every {QUOTA_PERIOD} s"


async def test_user_over_the_limit_gets_429_while_another_user_is_served(gw, http):
    alice, bob = await sign_in(gw, fresh("alice")), await sign_in(gw, fresh("bob"))
    served, refused = await until_refused(http, gw, alice)
    assert served >= USER_CALLS
    retry = jsonrpc_refusal(refused, "user", USER_TEXT)
    assert 1 <= retry <= PERIOD
    # The same moment, another user is served.
    r = await call(http, gw, bob)
    assert r.status_code == 200, r.text
    assert "tools" in sup.rpc_result(r)
    # The SSE stream is refused with the same reason as plain text. A stream the gateway let
    # through (the window renewed meanwhile) is closed at once and the user throttled again.
    for _ in range(5):
        async with http.stream("GET", f"{gw.url}/mcp/sse", headers={"Authorization": f"Bearer {alice.token}"}) as sse:
            if sse.status_code == 429:
                text = (await sse.aread()).decode()
                break
        await until_refused(http, gw, alice)
    else:
        raise AssertionError("GET /mcp/sse was never refused")
    sse_retry = int(sse.headers["retry-after"])
    assert 1 <= sse_retry <= PERIOD
    assert sse.headers["content-type"].startswith("text/plain")
    assert text == f"{USER_TEXT}; retry after {sse_retry} s\n"


async def test_the_counter_renews_after_the_period(gw, http):
    carol = await sign_in(gw, fresh("carol"))
    _, refused = await until_refused(http, gw, carol)
    retry = jsonrpc_refusal(refused, "user", USER_TEXT)
    started = time.monotonic()
    end = started + PERIOD + 5
    while True:
        r = await call(http, gw, carol)
        if r.status_code == 200:
            break
        jsonrpc_refusal(r, "user", USER_TEXT)
        assert time.monotonic() < end, f"still refused {PERIOD + 5}s after the refusal"
        await anyio.sleep(0.2)
    waited = time.monotonic() - started
    # Renewed when Retry-After said (whole seconds, rounded up), not earlier than a period allows.
    assert waited <= retry + 2.5, (waited, retry)
    assert "tools" in sup.rpc_result(r)


async def test_spoofed_headers_do_not_move_a_call_to_another_counter(gw, http):
    eve, frank = await sign_in(gw, fresh("eve")), await sign_in(gw, fresh("frank"))
    await until_refused(http, gw, eve)

    def naming(user: User) -> dict:
        # Headers a gateway keyed on anything but the verified token might read.
        return {
            "x-mcp-subject": user.sub, "x-mcp-client-id": user.cid, "x-mcp-session-id": "fixed",
            "X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9",
            "X-MS-CLIENT-PRINCIPAL-ID": user.sub, "X-MS-CLIENT-PRINCIPAL-NAME": user.name,
        }  # fmt: skip

    # Eve, throttled, claims to be Frank: still refused as herself.
    jsonrpc_refusal(await call(http, gw, eve, naming(frank)), "user", USER_TEXT)
    # Frank, claiming to be the throttled Eve, is served on his own, untouched allowance.
    served, refused = await until_refused(http, gw, frank, naming(eve))
    assert served >= USER_CALLS
    jsonrpc_refusal(refused, "user", USER_TEXT)


async def test_the_client_limit_spans_the_users_of_one_client(gw, http):
    first = await sign_in(gw, fresh("grace"))
    users = [first, await sign_in(gw, fresh("heidi"), first.client_id), await sign_in(gw, fresh("ivan"), first.client_id)]
    assert len({u.sub for u in users}) == 3 and {u.cid for u in users} == {first.client_id}
    other = await sign_in(gw, fresh("judy"))
    # Round robin: each user stays under the per-user limit while the client reaches its own.
    served, end, i = 0, time.monotonic() + DEADLINE, 0
    while True:
        assert time.monotonic() < end, f"the client was not refused within {DEADLINE}s"
        r = await call(http, gw, users[i % len(users)])
        i += 1
        if r.status_code == 429:
            break
        assert r.status_code == 200, r.text
        served += 1
    assert served >= CLIENT_CALLS
    retry = jsonrpc_refusal(r, "client", CLIENT_TEXT)
    assert 1 <= retry <= PERIOD
    # A user of another client is served.
    assert (await call(http, gw, other)).status_code == 200


async def test_the_quota_refuses_the_call_past_it(gw, http):
    # Quota periods are counted from 0001-01-01T00:00:00Z, whole multiples of 300 s from the Unix
    # epoch too: keep clear of a boundary, which would renew the quota mid-test.
    if (left := QUOTA_PERIOD - time.time() % QUOTA_PERIOD) < 15:
        await anyio.sleep(left + 0.5)
    mallory = await sign_in(gw, fresh("mallory"))
    served, end = 0, time.monotonic() + DEADLINE
    while True:
        assert time.monotonic() < end, f"the quota did not refuse within {DEADLINE}s ({served} served)"
        r = await call(http, gw, mallory)
        if r.status_code == 200:
            served += 1
            continue
        if r.json()["error"]["data"]["limit"] == "user":
            await anyio.sleep(0.2)  # the rate limit: wait for its window, the quota keeps counting
            continue
        break
    # Only calls the rate limits let through count, each once.
    assert served == QUOTA_CALLS
    retry = jsonrpc_refusal(r, "quota", QUOTA_TEXT)
    expected = QUOTA_PERIOD - int(time.time()) % QUOTA_PERIOD
    assert abs(retry - expected) <= 2, (retry, expected)


# --- copies of the policies ---------------------------------------------------------------------


@contextlib.contextmanager
def policies_with_quota_fragment(xml: str):
    """A copy of infra/policies whose per-user quota fragment is `xml`."""
    work = Path(tempfile.mkdtemp(prefix="gw-quota-"))
    policies = work / "policies"
    shutil.copytree(POLICIES, policies)
    manifest = json.loads((policies / "manifest.json").read_text())
    fragment = next(f for f in manifest["fragments"] if f["id"] == "mcp-user-quota")
    (policies / fragment["file"]).write_text(xml)
    try:
        yield policies, manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def recorder():
    r = sup.RecordingBackend()
    yield r
    r.close()


def sealed(gw, sub: str) -> str:
    return sup.seal_token(sup.claims_for(f"{gw.url}/mcp", sub=sub), gw.session_keys["enc"], gw.session_keys["mac"])


async def test_v2_tiers_get_a_quota_fragment_without_quota(start_gateway, recorder, http):
    """What Bicep deploys on BasicV2/StandardV2 (manifest.json v2TierFragments) loads and runs, and
    no quota applies; the rate limits still do."""
    manifest = json.loads((POLICIES / "manifest.json").read_text())
    with policies_with_quota_fragment(manifest["v2TierFragments"]["mcp-user-quota"]) as (policies, _):
        gw = start_gateway("throttling-v2", backend_url=recorder.url, policies_dir=policies,
                           limits={"McpUserQuotaCalls": 2, "McpUserRateLimitCalls": 6, "McpRateLimitPeriodSecs": 60})  # fmt: skip
        token = sealed(gw, fresh("v2-user"))
        statuses = [(await http.post(f"{gw.url}/mcp", json={}, headers={"Authorization": f"Bearer {token}"})).status_code for _ in range(7)]
    assert statuses == [200] * 6 + [429]
    assert len(recorder.requests) == 6


async def test_runner_counts_bandwidth_quota(start_gateway, recorder, http):
    """quota-by-key with bandwidth (kilobytes of request and response bodies), as the runner
    executes it: refused once a kilobyte has passed, answered by the MCP API's on-error."""
    original = (POLICIES / "fragments" / "mcp-user-quota.xml").read_text()
    assert 'calls="{{McpUserQuotaCalls}}"' in original, "the quota fragment changed; update this test"
    with policies_with_quota_fragment(original.replace('calls="{{McpUserQuotaCalls}}"', 'bandwidth="1"')) as (policies, _):
        gw = start_gateway("throttling-bandwidth", backend_url=recorder.url, policies_dir=policies)
        token = sealed(gw, fresh("bandwidth-user"))
        body = {"pad": "x" * 600}
        statuses, last = [], None
        for _ in range(4):
            last = await http.post(f"{gw.url}/mcp", json=body, headers={"Authorization": f"Bearer {token}"})
            statuses.append(last.status_code)
    # 600-odd bytes each way: the first call leaves the kilobyte unspent, the second spends it.
    assert statuses == [200, 200, 429, 429]
    assert last.json()["error"]["data"]["limit"] == "quota"
    assert 1 <= int(last.headers["retry-after"]) <= 86_400


async def test_oauth_limit_per_address_is_the_named_value(gw):
    ip = sup.next_client_ip()
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=ip), timeout=30) as c:
        url = f"{gw.url}/.well-known/oauth-authorization-server"
        statuses = [(await c.get(url)).status_code for _ in range(OAUTH_CALLS + 1)]
        assert statuses == [200] * OAUTH_CALLS + [429]
        r = await c.get(url)
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        assert r.json()["statusCode"] == 429  # APIM's own answer: the OAuth API does not reshape it
        assert r.headers["cache-control"] == "no-store"
        # Preflights are not counted, and still answered.
        r = await c.options(f"{gw.url}/token", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
        assert r.status_code == 200


async def test_token_counts_verified_grants_per_client(gw, blob_service):
    """Made-up grants naming a client are refused and spend nothing of its allowance; its verified
    grants (the code, then refreshes) are served up to the limit, the next gets APIM's 429 and
    changes nothing (the refresh token stays as it was), and another client is served meanwhile."""
    oauth = sup.OAuth(gw.url, sup.next_client_ip())
    oauth.agent.username = fresh("kate")
    forger = sup.OAuth(gw.url, sup.next_client_ip())
    other = sup.OAuth(gw.url, sup.next_client_ip())
    other.agent.username = fresh("leo")
    try:
        client_id = await oauth.new_client()
        for _ in range(TOKEN_CLIENT_CALLS + 2):
            made_up = await forger.refresh(client_id, f"{uuid.uuid4().hex}.{'A' * 43}")
            assert made_up.status_code == 400 and made_up.json()["error"] == "invalid_grant", made_up.text
        grant = await oauth.authorize(client_id)
        r = await oauth.exchange(client_id, grant)
        assert r.status_code == 200, r.text
        refresh_token = r.json()["refresh_token"]
        for _ in range(TOKEN_CLIENT_CALLS - 1):
            r = await oauth.refresh(client_id, refresh_token)
            assert r.status_code == 200, r.text
            refresh_token = r.json()["refresh_token"]
        family = blob_service.get_blob_client("registrations", f"refresh-families/{refresh_token.split('.')[0]}.json")
        before = family.get_blob_properties().etag
        refused = await oauth.refresh(client_id, refresh_token)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["cache-control"] == "no-store"
        assert family.get_blob_properties().etag == before, "a refused refresh rotates nothing"
        # Another client's user at the same moment is served.
        other_id = await other.new_client()
        served = await other.exchange(other_id, await other.authorize(other_id))
        assert served.status_code == 200, served.text
    finally:
        for o in (oauth, forger, other):
            await o.aclose()
