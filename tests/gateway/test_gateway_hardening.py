"""Attacks on the OAuth perimeter that need more than one request to mount: silent consent for
another loopback port, control characters in redirect URIs, error redirects as an open
redirector, SSRF through Client ID Metadata Documents, token lifecycle (code replay, deleted
registrations) and consent-page spoofing. Each test sends the attack, asserts the refusal and
the absence of its side effect (no code for the attacker's URI, no Location to it, no fetch,
no stored registration). docs/policies.md ("Threat model") maps each class to its rule."""

from __future__ import annotations

import json
import time
import httpx
import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

DOC_HOST = "https://clients.example"
# Hosts a metadata document URL must never make the gateway fetch. Each is mapped to the local
# document server, so a fetch would be seen there.
SSRF_HOSTS = ["https://localhost.", "https://127.0.0.1.", "https://foo.localhost", "https://clients.example:8443",
              "https://intranet"]  # fmt: skip


UNREACHABLE_HOST = "https://gone.example"


@pytest.fixture(scope="module")
def cimd_gateway(stack, documents):
    host_map = {DOC_HOST: documents.url, UNREACHABLE_HOST: f"http://127.0.0.1:{sup.free_port()}"}  # nothing listens there
    host_map.update({h: documents.url for h in SSRF_HOSTS})
    with sup.extra_gateway("hardening", stack, host_map=host_map) as gw:
        yield gw


@pytest.fixture
async def cimd(cimd_gateway, client_ip):
    o = sup.OAuth(cimd_gateway.url, client_ip)
    yield o
    await o.aclose()


def _assert_shown_error(r: httpx.Response, error: str) -> dict:
    """An error shown to the user: 400 JSON, never a redirect."""
    assert r.status_code == 400, (r.status_code, r.headers, r.text)
    assert "location" not in r.headers, r.headers
    body = r.json()
    assert body["error"] == error, body
    return body


def _no_auth_started(r: httpx.Response) -> None:
    assert "__Host-mcp-authstate" not in r.headers.get("set-cookie", ""), r.headers


# --- 1. remembered consent covers one exact redirect URI ------------------------------------


async def test_remembered_consent_does_not_cover_another_loopback_port(oauth):
    """After approving X at :33418, a local process sending the user to /authorize for X with its
    own port and PKCE challenge gets the consent page (showing its port), not a code."""
    client_id = await oauth.new_client()
    assert "code" in await oauth.authorize(client_id)
    attacker = "http://127.0.0.1:45999/callback"
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=attacker))
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(f"{oauth.gw}/consent?request="), location
    assert not location.startswith(attacker)
    _no_auth_started(r)  # nothing was sent to Entra ID: no sign-in, so no code can follow
    page = await oauth.agent.request("GET", location)
    assert "http://127.0.0.1:45999" in page.text  # the user sees where the code would go
    # The approved URI itself is still remembered.
    pages = len(oauth.agent.consent_pages)
    assert "code" in await oauth.authorize(client_id)
    assert len(oauth.agent.consent_pages) == pages


async def test_client_choosing_a_new_port_each_time_is_asked_again_and_works(oauth):
    """Claude Code and the Inspector CLI listen on a fresh port per sign-in: each sign-in shows
    the consent page and completes."""
    client_id = await oauth.new_client()
    for n, port in enumerate((41001, 41002), start=1):
        grant = await oauth.authorize(client_id, redirect_uri=f"http://127.0.0.1:{port}/callback")
        assert len(oauth.agent.consent_pages) == n
        r = await oauth.exchange(client_id, grant)
        assert r.status_code == 200, r.text


# --- 2. control characters in redirect URIs --------------------------------------------------

BAD_URIS = {
    "crlf": "http://127.0.0.1:33418/callback\r\nSet-Cookie: pwned=1",
    "lf": "http://127.0.0.1:33418/callback\n",
    "nul": "http://127.0.0.1:33418/call\x00back",
    "tab": "\thttp://127.0.0.1:33418/callback",
    "leading_space": " http://127.0.0.1:33418/callback",
    "trailing_space": "http://127.0.0.1:33418/callback ",
    "inner_space": "https://ok.example/call back",
    "non_ascii": "https://exämple.example/cb",
    "del": "https://ok.example/cb\x7f",
}


@pytest.mark.parametrize("case", list(BAD_URIS))
async def test_registration_refuses_redirect_uris_with_invisible_characters(oauth, blob_service, case):
    before = sup.registration_blobs(blob_service)
    r = await oauth.register([BAD_URIS[case]])
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_redirect_uri"
    assert "visible ASCII" in r.json()["error_description"]
    assert sup.registration_blobs(blob_service) == before


@pytest.mark.parametrize("case", list(BAD_URIS))
async def test_requested_redirect_uri_with_invisible_characters_is_refused(oauth, case):
    """Even for a client the user approved at the clean URI, the raw value never reaches a
    Location header."""
    client_id = await oauth.new_client([sup.REDIRECT_URI, "https://ok.example/cb"])
    assert "code" in await oauth.authorize(client_id)
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=BAD_URIS[case]))
    _assert_shown_error(r, "invalid_request")
    assert "pwned" not in r.headers.get("set-cookie", "")
    _no_auth_started(r)


async def test_metadata_document_with_invisible_characters_in_redirect_uris_is_refused(cimd, documents):
    path = "/apps/crlf.json"
    documents.add(path, sup.metadata_document(DOC_HOST + path, [sup.REDIRECT_URI + "\r\nX-Injected: 1"]))
    _, challenge = sup.pkce_pair()
    r = await cimd.agent.request("GET", cimd.authorize_url(DOC_HOST + path, challenge))
    _assert_shown_error(r, "invalid_client")
    assert "x-injected" not in r.headers


@pytest.mark.parametrize("client_id", [DOC_HOST + "/apps/a b.json", DOC_HOST + "/apps/x.json\r\n", "\t" + DOC_HOST + "/apps/x.json"])
async def test_metadata_document_url_with_invisible_characters_is_not_fetched(cimd, documents, client_id):
    start = len(documents.fetches)
    _, challenge = sup.pkce_pair()
    r = await cimd.agent.request("GET", cimd.authorize_url(client_id, challenge))
    _assert_shown_error(r, "invalid_client")
    assert documents.since(start) == []


# --- 3. no open redirect through authorize errors --------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{"response_type": "token"}, {"code_challenge_method": "plain"}, {"state": None}, {"resource": "https://elsewhere.example/mcp"}],
    ids=["implicit", "plain_pkce", "no_state", "foreign_resource"],
)
async def test_errors_for_an_unapproved_client_are_shown_not_redirected(oauth, extra):
    """An attacker registers https://attacker.example/landing and sends victims to a broken
    /authorize: they must not land on the attacker's page from the gateway's URL."""
    landing = "https://attacker.example/landing"
    client_id = await oauth.new_client([landing])
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=landing, **extra))
    body = _assert_shown_error(r, {"response_type": "unsupported_response_type", "resource": "invalid_target"}.get(next(iter(extra)), "invalid_request"))
    assert "attacker.example" not in json.dumps(dict(r.headers))
    assert body["error_description"]


async def test_errors_after_approval_of_another_port_are_shown(oauth):
    """Approval of :33418 does not make :45998 a redirect target for errors either."""
    client_id = await oauth.new_client()
    assert "code" in await oauth.authorize(client_id)
    other = "http://127.0.0.1:45998/callback"
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=other, response_type="token"))
    _assert_shown_error(r, "unsupported_response_type")


# --- 4. metadata document fetches -------------------------------------------------------------


@pytest.mark.parametrize("host", SSRF_HOSTS)
async def test_metadata_document_on_internal_hosts_or_ports_is_never_fetched(cimd, documents, host):
    path = "/apps/ssrf.json"
    documents.add(path, sup.metadata_document(host + path))
    start = len(documents.fetches)
    _, challenge = sup.pkce_pair()
    r = await cimd.agent.request("GET", cimd.authorize_url(host + path, challenge))
    _assert_shown_error(r, "invalid_client")
    assert documents.since(start) == []
    # Nor was any fetch tried (the runner logs failed send-requests to stderr).
    assert "/apps/ssrf.json" not in (sup.ARTIFACTS / "hardening" / "gateway.stderr.log").read_text(errors="replace")


@pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
async def test_oversized_metadata_document_is_refused(cimd, documents, chunked):
    path = f"/apps/big-{int(chunked)}.json"
    documents.add(path, sup.metadata_document(DOC_HOST + path, padding="p" * 6000), chunked=chunked)
    _, challenge = sup.pkce_pair()
    r = await cimd.agent.request("GET", cimd.authorize_url(DOC_HOST + path, challenge))
    _assert_shown_error(r, "invalid_client")


async def test_metadata_document_just_under_the_cap_is_accepted(cimd, documents):
    path = "/apps/four-kib.json"
    documents.add(path, sup.metadata_document(DOC_HOST + path, padding="p" * 4000), chunked=True)
    grant = await cimd.authorize(DOC_HOST + path)
    assert "code" in grant, grant


async def test_failed_metadata_document_is_not_refetched(cimd, documents):
    path = "/apps/missing.json"
    start = len(documents.fetches)
    _, challenge = sup.pkce_pair()
    for _ in range(3):
        r = await cimd.agent.request("GET", cimd.authorize_url(DOC_HOST + path, challenge))
        _assert_shown_error(r, "invalid_client")
    assert documents.since(start) == [path]


async def test_metadata_document_failures_share_one_error(cimd, documents):
    """The error must not tell whether the named host answered, or what it answered."""
    cases = {
        "/apps/e-404.json": ("{}", 404),
        "/apps/e-html.json": ("<html>", 200),
        "/apps/e-mismatch.json": (sup.metadata_document(DOC_HOST + "/apps/other.json"), 200),
    }
    descriptions = set()
    for path, (doc, status) in cases.items():
        documents.add(path, doc, status)
    urls = [DOC_HOST + p for p in cases] + [UNREACHABLE_HOST + "/apps/x.json"]
    for url in urls:
        _, challenge = sup.pkce_pair()
        r = await cimd.agent.request("GET", cimd.authorize_url(url, challenge))
        descriptions.add(_assert_shown_error(r, "invalid_client")["error_description"])
    assert len(descriptions) == 1, descriptions


# --- 5. token lifecycle -----------------------------------------------------------------------


async def test_replayed_code_revokes_the_tokens_it_issued(oauth):
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    first = await oauth.exchange(client_id, grant)
    assert first.status_code == 200, first.text
    replay = await oauth.exchange(client_id, grant)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
    assert "revoked" in replay.json()["error_description"]
    r = await oauth.refresh(client_id, first.json()["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


async def test_refresh_fails_once_the_registration_is_deleted(oauth, blob_service):
    client_id, tokens = await oauth.login()
    blob = blob_service.get_blob_client("registrations", f"{client_id}.json")
    record = blob.download_blob().readall()
    blob.delete_blob()
    r = await oauth.refresh(client_id, tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "access_token" not in r.json()
    # Restoring the registration does not bring the session back: its family was revoked.
    blob.upload_blob(record)
    r = await oauth.refresh(client_id, tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


async def test_code_exchange_fails_once_the_registration_is_deleted(oauth, blob_service):
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    blob_service.get_blob_client("registrations", f"{client_id}.json").delete_blob()
    r = await oauth.exchange(client_id, grant)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "access_token" not in r.json()


async def test_refresh_fails_once_the_registration_expired(oauth, blob_service):
    client_id, tokens = await oauth.login()
    blob = blob_service.get_blob_client("registrations", f"{client_id}.json")
    record = json.loads(blob.download_blob().readall())
    record["expires_at"] = int(time.time()) - 1
    blob.upload_blob(json.dumps(record), overwrite=True)
    r = await oauth.refresh(client_id, tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "access_token" not in r.json()


# --- 6. consent page spoofing -----------------------------------------------------------------


async def _consent_page(oauth, redirect_uris: list[str] | None = None, **metadata) -> tuple[httpx.Response, str]:
    r = await oauth.register(redirect_uris, **metadata)
    assert r.status_code == 201, r.text
    client_id = r.json()["client_id"]
    _, challenge = sup.pkce_pair()
    redirect = (redirect_uris or [sup.REDIRECT_URI])[0]
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge, redirect_uri=redirect))
    assert r.status_code == 302 and "/consent?request=" in r.headers["location"], r.text
    page = await oauth.agent.request("GET", r.headers["location"])
    assert page.status_code == 200
    return page, client_id


async def test_consent_page_strips_bidi_and_format_controls_from_the_name(oauth):
    page, _ = await _consent_page(oauth, client_name="Visual\u202e\u2066 Studio\u200b Code\u200f\u061c")
    assert "<strong>Visual Studio Code</strong>" in page.text, page.text
    for ch in ("\u202e", "\u2066", "\u200b", "\u200f", "\u061c"):
        assert ch not in page.text and f"&#{ord(ch)};" not in page.text


async def test_placeholders_in_the_client_name_are_not_expanded(oauth):
    page, _ = await _consent_page(oauth, client_name="%%CSRF%% %%REQUEST%%")
    assert "<strong>%%CSRF%% %%REQUEST%%</strong>" in page.text, page.text
    form = sup.parse_forms(page.text)[0]
    assert page.text.count(form["fields"]["csrf"]) == 1  # only in its hidden field


async def test_consent_page_shows_internationalised_hosts_in_punycode(oauth, blob_service):
    """Unicode hosts cannot be registered (visible ASCII only; a percent-encoded host is not a
    valid URI either); a punycode host is shown as punycode, never decoded to look-alikes."""
    before = sup.registration_blobs(blob_service)
    for uri in ("https://\u0430pple.example/cb", "https://%D0%B0pple.example/cb"):
        r = await oauth.register([uri])
        assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", r.text
    assert sup.registration_blobs(blob_service) == before
    page, _ = await _consent_page(oauth, ["https://xn--pple-43d.example/cb"])
    assert "https://xn--pple-43d.example" in page.text, page.text
    assert "\u0430pple" not in page.text


@pytest.mark.parametrize("name", ["line\nbreak", "nul\x00", "bell\x07", "sep\u2028"], ids=["lf", "nul", "bell", "line_separator"])
async def test_registration_refuses_control_characters_in_the_name(oauth, blob_service, name):
    before = sup.registration_blobs(blob_service)
    r = await oauth.register(client_name=name)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text
    assert sup.registration_blobs(blob_service) == before


async def test_consent_page_redirect_host_keeps_the_port(oauth):
    page, _ = await _consent_page(oauth, ["http://127.0.0.1:40123/cb"])
    assert "http://127.0.0.1:40123" in page.text
