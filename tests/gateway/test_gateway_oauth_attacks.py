"""Attacks on the OAuth authorization server (the policies at the gateway root), each refused
with the right status and without side effects."""

from __future__ import annotations

import json
import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio


def _assert_oauth_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error, r.text
    assert r.headers["cache-control"] == "no-store"
    assert "location" not in r.headers


# --- authorization codes ----------------------------------------------------------------------


async def test_authorization_code_is_single_use(oauth):
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    assert grant["iss"] == oauth.gw and grant["state"] == "st-123"
    first = await oauth.exchange(client_id, grant)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store" and first.headers["pragma"] == "no-cache"
    replay = await oauth.exchange(client_id, grant)
    _assert_oauth_error(replay, 400, "invalid_grant")


async def test_wrong_verifier_burns_the_code(oauth):
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    wrong = dict(grant, verifier=sup.pkce_pair()[0])
    _assert_oauth_error(await oauth.exchange(client_id, wrong), 400, "invalid_grant")
    # The code was removed before it was checked: the right verifier is too late now.
    _assert_oauth_error(await oauth.exchange(client_id, grant), 400, "invalid_grant")


async def test_missing_verifier_is_refused(oauth):
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    r = await oauth.token(grant_type="authorization_code", code=grant["code"], redirect_uri=grant["redirect_uri"], client_id=client_id)
    _assert_oauth_error(r, 400, "invalid_grant")


async def test_code_of_another_client_is_refused(oauth):
    client_a = await oauth.new_client()
    client_b = await oauth.new_client()
    grant = await oauth.authorize(client_a)
    _assert_oauth_error(await oauth.exchange(client_b, grant), 400, "invalid_grant")


async def test_redirect_uri_must_match_at_token(oauth):
    client_id = await oauth.new_client([sup.REDIRECT_URI, "http://127.0.0.1:33418/other"])
    grant = await oauth.authorize(client_id)
    _assert_oauth_error(await oauth.exchange(client_id, dict(grant, redirect_uri="http://127.0.0.1:33418/other")), 400, "invalid_grant")


async def test_unsupported_grant_type(oauth):
    _assert_oauth_error(await oauth.token(grant_type="client_credentials", client_id="x"), 400, "unsupported_grant_type")
    _assert_oauth_error(await oauth.token(grant_type="password", username="a", password="b"), 400, "unsupported_grant_type")


async def test_token_endpoint_refuses_non_form_and_repeated_parameters(oauth):
    r = await oauth.http.post(f"{oauth.gw}/token", json={"grant_type": "authorization_code"})
    assert r.status_code == 400 and r.headers["cache-control"] == "no-store"
    r = await oauth.http.post(
        f"{oauth.gw}/token", content="grant_type=refresh_token&grant_type=authorization_code",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


# --- authorize --------------------------------------------------------------------------------


async def _approved_client(oauth) -> str:
    """A client the user has approved at REDIRECT_URI: only then are authorize errors
    redirected to it (unapproved ones are shown, see test_gateway_hardening.py)."""
    client_id = await oauth.new_client()
    assert "code" in await oauth.authorize(client_id)
    return client_id


@pytest.mark.parametrize(
    "extra",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": None},
        {"code_challenge": "short"},
        {"response_type": "token"},
        {"resource": "https://elsewhere.example/mcp"},
    ],
    ids=["plain_pkce", "no_method", "no_challenge", "short_challenge", "implicit", "foreign_resource"],
)
async def test_bad_authorize_parameters_go_back_to_the_client(oauth, extra):
    client_id = await _approved_client(oauth)
    _, challenge = sup.pkce_pair()
    url = oauth.authorize_url(client_id, extra.pop("code_challenge", challenge), **extra)
    r = await oauth.agent.request("GET", url)
    assert r.status_code == 302, r.text
    p = sup.callback_params(r.headers["location"])
    assert r.headers["location"].startswith(sup.REDIRECT_URI + "?")
    assert p["error"] in ("invalid_request", "unsupported_response_type", "invalid_target"), p
    assert p["state"] == "st-123" and p["iss"] == oauth.gw
    assert "__Host-mcp-authstate" not in r.headers.get("set-cookie", "")


async def test_missing_state_is_refused(oauth):
    client_id = await _approved_client(oauth)
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, state=None))
    assert r.status_code == 302
    p = sup.callback_params(r.headers["location"])
    assert p["error"] == "invalid_request" and "state" not in p


async def test_repeated_parameter_is_refused(oauth):
    client_id = await _approved_client(oauth)
    _, challenge = sup.pkce_pair()
    url = oauth.authorize_url(client_id, challenge) + "&state=second"
    r = await oauth.agent.request("GET", url)
    assert r.status_code == 302
    assert sup.callback_params(r.headers["location"])["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/callback",
        "http://127.0.0.1:33418/callback/extra",
        "http://127.0.0.1:33418/callback?x=1",
        "http://localhost:33418/callback",
        "http://127.0.0.1:33418/callback#frag",
        "",
    ],
    ids=["foreign_host", "longer_path", "added_query", "other_loopback_name", "fragment", "missing"],
)
async def test_unregistered_redirect_uri_is_never_redirected_to(oauth, redirect_uri):
    client_id = await oauth.new_client()
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=redirect_uri or None))
    _assert_oauth_error(r, 400, "invalid_request")


async def test_loopback_redirect_may_change_port(oauth):
    """RFC 8252 7.3: native clients listen on whatever port is free."""
    client_id = await oauth.new_client()
    other = "http://127.0.0.1:51234/callback"
    grant = await oauth.authorize(client_id, redirect_uri=other)
    assert "code" in grant
    r = await oauth.exchange(client_id, grant)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("client_id", ["mcp-00000000000000000000000000000000", "nobody", "https://127.0.0.1/client.json", "https://localhost/c.json"])
async def test_unknown_client_is_refused_without_redirect(oauth, client_id):
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge))
    _assert_oauth_error(r, 400, "invalid_client")


# --- consent ----------------------------------------------------------------------------------


async def _to_consent(oauth) -> tuple[str, httpx.Response, dict]:
    client_id = await oauth.new_client()
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge))
    assert r.status_code == 302 and "/consent?request=" in r.headers["location"], r.headers
    page = await oauth.agent.request("GET", r.headers["location"])
    assert page.status_code == 200
    form = sup.parse_forms(page.text)[0]
    return client_id, page, form


async def test_consent_page_headers_block_framing_and_caching(oauth):
    client_id, page, form = await _to_consent(oauth)
    h = page.headers
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "default-src 'none'" in h["content-security-policy"]
    assert h["cache-control"] == "no-store" and h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    cookie = h["set-cookie"]
    assert cookie.startswith("__Host-mcp-csrf=") and "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert client_id in page.text and "gateway test client" in page.text
    assert set(form["fields"]) == {"request", "csrf"}


async def test_consent_post_without_csrf_cookie_is_forbidden(oauth, stack):
    _, _, form = await _to_consent(oauth)
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=oauth.ip)) as other_browser:
        r = await other_browser.post(f"{stack.url}/consent", data=dict(form["fields"], decision="approve"))
    _assert_oauth_error(r, 403, "access_denied")


async def test_consent_post_with_forged_csrf_is_forbidden_and_request_survives(oauth, stack):
    _, _, form = await _to_consent(oauth)
    forged = dict(form["fields"], csrf=sup.b64url(b"\x00" * 32), decision="approve")
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=forged)
    _assert_oauth_error(r, 403, "access_denied")
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], csrf="", decision="approve"))
    _assert_oauth_error(r, 403, "access_denied")
    # The genuine form still works (the forgery consumed nothing).
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], decision="approve"))
    assert r.status_code == 302 and "/oauth2/v2.0/authorize?" in r.headers["location"], r.text


async def test_consent_request_is_single_use(oauth, stack):
    _, _, form = await _to_consent(oauth)
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], decision="approve"))
    assert r.status_code == 302
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], decision="approve"))
    _assert_oauth_error(r, 400, "invalid_request")


async def test_consent_deny_returns_access_denied(oauth, stack):
    _, _, form = await _to_consent(oauth)
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], decision="deny"))
    assert r.status_code == 302
    p = sup.callback_params(r.headers["location"])
    assert r.headers["location"].startswith(sup.REDIRECT_URI)
    assert p["error"] == "access_denied" and p["state"] == "st-123" and p["iss"] == stack.url


async def test_consent_is_remembered_per_client(oauth):
    client_id = await oauth.new_client()
    await oauth.authorize(client_id)
    assert len(oauth.agent.consent_pages) == 1
    grant = await oauth.authorize(client_id)
    assert len(oauth.agent.consent_pages) == 1  # straight to sign-in the second time
    assert (await oauth.exchange(client_id, grant)).status_code == 200
    other = await oauth.new_client()
    await oauth.authorize(other)
    assert len(oauth.agent.consent_pages) == 2  # another client asks again


async def test_tampered_consent_cookie_is_ignored(oauth):
    client_id = await oauth.new_client()
    await oauth.authorize(client_id)
    jar = oauth.agent.cookies["127.0.0.1"]
    payload, _, tag = jar["__Host-mcp-consent"].partition(".")
    forged = sup.b64url(json.dumps([client_id, "mcp-" + "0" * 32]).encode())
    jar["__Host-mcp-consent"] = f"{forged}.{tag}"
    await oauth.authorize(client_id)
    assert len(oauth.agent.consent_pages) == 2  # asked again


# --- callback ---------------------------------------------------------------------------------


async def test_callback_state_must_match_the_browser(oauth, stack):
    _, _, form = await _to_consent(oauth)
    r = await oauth.agent.request("POST", f"{stack.url}/consent", data=dict(form["fields"], decision="approve"))
    idp_url = r.headers["location"]
    state = sup.callback_params(idp_url)["state"]
    # Another browser (no auth-state cookie) presenting the victim's callback is refused.
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=oauth.ip)) as other:
        r = await other.get(f"{stack.url}/oauth-callback", params={"state": state, "code": "whatever"})
    _assert_oauth_error(r, 400, "invalid_request")


# --- refresh tokens ---------------------------------------------------------------------------


async def test_refresh_token_reuse_revokes_the_family(oauth):
    client_id, first = await oauth.login()
    second = (await oauth.refresh(client_id, first["refresh_token"])).json()
    third = (await oauth.refresh(client_id, second["refresh_token"])).json()
    # Rotated away twice, `first` is past the grace window that lets a client retry after a
    # lost response (test_gateway_refresh_tokens.py): presenting it is reuse.
    _assert_oauth_error(await oauth.refresh(client_id, first["refresh_token"]), 400, "invalid_grant")
    # The legitimate holder's newest token dies with the family.
    _assert_oauth_error(await oauth.refresh(client_id, third["refresh_token"]), 400, "invalid_grant")


async def test_refresh_token_of_another_client_is_refused(oauth):
    client_id, tokens = await oauth.login()
    other = await oauth.new_client()
    _assert_oauth_error(await oauth.refresh(other, tokens["refresh_token"]), 400, "invalid_grant")


async def test_revoke_needs_the_owning_client(oauth):
    client_id, tokens = await oauth.login()
    other = await oauth.new_client()
    r = await oauth.revoke(other, tokens["refresh_token"])
    assert r.status_code == 200  # RFC 7009: no information leak
    assert (await oauth.refresh(client_id, tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["", "x" * 43, "not a token"])
async def test_refresh_with_unknown_tokens(oauth, token):
    _assert_oauth_error(await oauth.refresh("mcp-" + "1" * 32, token), 400, "invalid_grant")


async def test_revoke_requires_a_token(oauth):
    r = await oauth.http.post(f"{oauth.gw}/revoke", data={"client_id": "x"})
    _assert_oauth_error(r, 400, "invalid_request")
    r = await oauth.revoke("x", "unknown-token")
    assert r.status_code == 200


# --- registration -----------------------------------------------------------------------------


def _registration_blobs(blob_service) -> set[str]:
    container = blob_service.get_container_client("registrations")
    return {b.name for b in container.list_blobs()}


@pytest.mark.parametrize(
    "metadata",
    [
        {"redirect_uris": ["http://attacker.example/cb"]},
        {"redirect_uris": ["javascript:alert(1)"]},
        {"redirect_uris": ["https://ok.example/cb#frag"]},
        {"redirect_uris": ["https://user:pw@ok.example/cb"]},
        {"redirect_uris": ["https://ok.example/" + "a" * 520]},
        {"redirect_uris": [f"https://ok.example/{i}" for i in range(11)]},
        {"redirect_uris": []},
        {"redirect_uris": "https://ok.example/cb"},
        {"redirect_uris": [42]},
        {},
        {"redirect_uris": ["https://ok.example/cb"], "client_name": "n" * 201},
        {"redirect_uris": ["https://ok.example/cb"], "client_name": {"x": 1}},
        {"redirect_uris": ["https://ok.example/cb"], "grant_types": ["client_credentials"]},
        {"redirect_uris": ["https://ok.example/cb"], "grant_types": ["authorization_code", "implicit"]},
        {"redirect_uris": ["https://ok.example/cb"], "response_types": ["token"]},
        {"redirect_uris": ["https://ok.example/cb"], "padding": "p" * 9000},
    ],
    ids=[
        "http_non_loopback", "javascript", "fragment", "userinfo", "uri_too_long", "too_many_uris", "no_uris",
        "uris_not_array", "uri_not_string", "missing_uris", "name_too_long", "name_not_string",
        "client_credentials", "implicit", "token_response", "body_too_large",
    ],
)  # fmt: skip
async def test_hostile_registration_metadata_is_refused(oauth, blob_service, metadata):
    before = _registration_blobs(blob_service)
    r = await oauth.http.post(f"{oauth.gw}/register", json=metadata)
    assert r.status_code == 400, r.text
    assert r.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    assert r.headers["cache-control"] == "no-store"
    assert _registration_blobs(blob_service) == before


@pytest.mark.parametrize("body,ctype", [("{not json", "application/json"), ('["array"]', "application/json"), ('{"redirect_uris":["https://a.example/cb"]}', "text/plain")])
async def test_registration_needs_a_json_object(oauth, blob_service, body, ctype):
    before = _registration_blobs(blob_service)
    r = await oauth.http.post(f"{oauth.gw}/register", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text
    assert _registration_blobs(blob_service) == before


async def test_registration_answers_public_client_only(oauth):
    r = await oauth.register(token_endpoint_auth_method="client_secret_basic")
    assert r.status_code == 201
    body = r.json()
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body and "expires_at" not in body


# --- metadata, CORS, rate limit -----------------------------------------------------------------


async def test_metadata_documents(oauth, stack):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/mcp"):
        m = (await oauth.http.get(stack.url + path)).json()
        assert m["issuer"] == stack.url
        assert m["code_challenge_methods_supported"] == ["S256"]
        assert m["token_endpoint"] == f"{stack.url}/token" and m["revocation_endpoint"] == f"{stack.url}/revoke"
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        m = (await oauth.http.get(stack.url + path)).json()
        assert m["resource"] == f"{stack.url}/mcp" and m["authorization_servers"] == [stack.url]


async def test_cors_preflight_and_simple_request(oauth, stack):
    r = await oauth.http.options(
        f"{stack.url}/token",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    r = await oauth.http.get(f"{stack.url}/.well-known/oauth-authorization-server", headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers


async def test_unknown_route_is_404(oauth, stack):
    r = await oauth.http.get(f"{stack.url}/admin")
    assert r.status_code == 404
    r = await oauth.http.delete(f"{stack.url}/token")
    assert r.status_code == 404


async def test_oauth_api_rate_limit_per_client_ip(stack):
    ip = sup.next_client_ip()
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=ip), timeout=30) as http:
        statuses = [(await http.get(f"{stack.url}/.well-known/oauth-authorization-server")).status_code for _ in range(61)]
        assert statuses[:60] == [200] * 60
        assert statuses[60] == 429
        r = await http.get(f"{stack.url}/.well-known/oauth-authorization-server")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # cors runs before rate-limit-by-key in the API policy: preflights are still answered.
        r = await http.options(f"{stack.url}/token", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
        assert r.status_code == 200


# Regression: .NET's `$` also matches before a final newline; the policies anchor with `\z`.
async def test_code_challenge_with_trailing_newline_is_refused(oauth):
    client_id = await _approved_client(oauth)
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge + "\n"))
    assert r.status_code == 302
    assert r.headers["location"].startswith(sup.REDIRECT_URI), r.headers["location"]
    assert sup.callback_params(r.headers["location"])["error"] == "invalid_request"
