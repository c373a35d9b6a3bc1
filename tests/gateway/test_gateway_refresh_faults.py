"""A refresh that meets a failing dependency must not sign the user out. Each dependency of
`POST /token` (the family blob, read and written; the client's registration; Entra ID's token
endpoint; a Client ID Metadata Document) sits behind a fault-injecting proxy (gw_faults.py),
which answers 503, never answers in time, or refuses the connection. The gateway must then
answer 503 temporarily_unavailable with no-store, leave the family as it was, and take the
same refresh token as soon as the dependency is back. Definitive answers (Entra's
invalid_grant or interaction_required, a document fetched and found invalid) still end the
session, so the split is three-valued, not "never revoke"."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

import gw_faults as gf
import gw_support as sup
from devstack.gateway import ENTRA_AUTHORITY
from devstack.processes import free_port

pytestmark = pytest.mark.anyio

# crates/policies/src/names.rs: BLOB_PREFIX_FAMILY, CLIENT_UNAVAILABLE_TTL_SECS.
FAMILY_PREFIX = "refresh-families/"
CLIENT_UNAVAILABLE_TTL_SECS = 10
DOCUMENT_HOST = "https://clients.example"
ENTRA_TOKEN_PATH = "/oauth2/v2.0/token"
# Held past the gateway's send-request timeouts (storage and documents 5 s, Entra ID 10 s).
STORAGE_HOLD, ENTRA_HOLD = 7.0, 12.0


class Faulty:
    def __init__(self, gw, families, registrations, entra, documents, docs):
        self.gw, self.families, self.registrations = gw, families, registrations
        self.entra, self.documents, self.docs = entra, documents, docs
        self.proxies = [families, registrations, entra, documents]


@pytest.fixture(scope="module")
def faulty(stack):
    """One gateway whose every dependency goes through a proxy of its own."""
    blob = stack.azurite["blob"]
    idp_port = free_port()
    families, registrations = gf.FaultProxy(blob), gf.FaultProxy(blob)
    entra = gf.FaultProxy(f"http://127.0.0.1:{idp_port}")
    docs = sup.DocumentServer()
    documents = gf.FaultProxy(docs.url)
    host_map = {ENTRA_AUTHORITY: entra.url, **gf.blob_routes(blob, families, registrations), DOCUMENT_HOST: documents.url}
    try:
        with sup.extra_gateway("refresh-faults", stack, idp_port=idp_port, host_map=host_map) as gw:
            yield Faulty(gw, families, registrations, entra, documents, docs)
    finally:
        for proxy in (families, registrations, entra, documents):
            proxy.close()
        docs.close()


@pytest.fixture
async def oauth(faulty):
    o = sup.OAuth(faulty.gw.url, sup.next_client_ip())
    yield o
    await o.aclose()
    for proxy in faulty.proxies:
        proxy.clear()
        proxy.restore()


def family_state(blob_service, refresh_token: str) -> tuple[str, str] | None:
    """(ETag, text) of the token's family blob, read around the proxies; None when absent."""
    blob = blob_service.get_blob_client("registrations", f"{FAMILY_PREFIX}{refresh_token.split('.')[0]}.json")
    if not blob.exists():
        return None
    return blob.get_blob_properties().etag, blob.download_blob().readall().decode()


def assert_unavailable(r) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "temporarily_unavailable", r.text
    assert r.headers["cache-control"] == "no-store"


def assert_invalid_grant(r) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant", r.text


async def sign_in(faulty: Faulty, oauth: sup.OAuth, document: bool) -> tuple[str, dict]:
    """A signed-in client: registered, or identified by a metadata document of its own."""
    if not document:
        return await oauth.login()
    path = f"/faults/{oauth.ip}.json"
    client_id = DOCUMENT_HOST + path
    faulty.docs.add(path, sup.metadata_document(client_id))
    grant = await oauth.authorize(client_id)
    r = await oauth.exchange(client_id, grant)
    assert r.status_code == 200, r.text
    return client_id, r.json()


def arm(faulty: Faulty, dependency: str, fault: str) -> gf.Fault | None:
    """Makes `dependency` fail the next refresh's call to it the `fault` way."""
    proxy, method, path, hold = {
        "registration": (faulty.registrations, "GET", None, STORAGE_HOLD),
        "family-read": (faulty.families, "GET", None, STORAGE_HOLD),
        "family-write": (faulty.families, "PUT", None, STORAGE_HOLD),
        "entra": (faulty.entra, "POST", ENTRA_TOKEN_PATH, ENTRA_HOLD),
        "document": (faulty.documents, "GET", None, STORAGE_HOLD),
    }[dependency]
    if fault == "503":
        return proxy.fail("status", method=method, path=path)
    if fault == "429":
        return proxy.fail("status", method=method, path=path, status=429, body=b'{"error":"too_many_requests"}', content_type="application/json")
    if fault == "html":
        return proxy.fail("status", method=method, path=path, status=200, body=b"<html>Gateway</html>", content_type="text/html")
    if fault == "timeout":
        return proxy.fail("hang", method=method, path=path, hold=hold)
    if fault == "refused" and dependency == "family-write":
        # The read is served, then nothing listens: the write's connection is refused.
        return proxy.fail("refuse_after", method="GET")
    if fault == "refused":
        proxy.refuse()
        return None
    raise AssertionError(fault)


CASES = [
    *[(d, f) for d in ("registration", "family-read", "family-write", "entra", "document") for f in ("503", "timeout", "refused")],
    ("entra", "429"),
    ("entra", "html"),
]


@pytest.mark.parametrize("dependency,fault", CASES, ids=[f"{d}-{f}" for d, f in CASES])
async def test_unavailable_dependency_keeps_the_session(faulty, oauth, blob_service, dependency, fault):
    client_id, tokens = await sign_in(faulty, oauth, document=dependency == "document")
    if dependency == "document":
        # The document's cache entry is gone, as an hour after it was fetched: this refresh
        # has to fetch it again.
        gf.restart_runner(faulty.gw)
    before = family_state(blob_service, tokens["refresh_token"])
    armed = arm(faulty, dependency, fault)

    assert_unavailable(await oauth.refresh(client_id, tokens["refresh_token"]))

    if armed is not None:
        assert armed.delivered.wait(30), "the fault was never triggered"
    for proxy in faulty.proxies:
        proxy.restore()
    late_write = (dependency, fault) == ("family-write", "timeout")
    if not late_write:
        assert family_state(blob_service, tokens["refresh_token"]) == before, "the family must be left exactly as it was"
    if dependency == "document":
        time.sleep(CLIENT_UNAVAILABLE_TTL_SECS + 0.5)  # the unavailable fetch is remembered that long

    r = await oauth.refresh(client_id, tokens["refresh_token"])
    assert r.status_code == 200, r.text
    if late_write:
        # The held write reached storage after the gateway gave up: the rotation happened, but
        # its token never left the gateway. The presented token had become the previous one,
        # and the retry was served inside its grace window.
        record = json.loads(family_state(blob_service, tokens["refresh_token"])[1])
        assert record["previous"] == hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
    r = await oauth.refresh(client_id, r.json()["refresh_token"])
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("error", ["invalid_grant", "interaction_required"])
async def test_entra_ending_the_grant_ends_the_session(faulty, oauth, blob_service, error):
    client_id, tokens = await sign_in(faulty, oauth, document=False)
    body = json.dumps({"error": error, "error_description": "AADSTS50173: the grant was revoked"}).encode()
    faulty.entra.fail("status", method="POST", path=ENTRA_TOKEN_PATH, status=400, body=body, content_type="application/json")
    assert_invalid_grant(await oauth.refresh(client_id, tokens["refresh_token"]))
    assert family_state(blob_service, tokens["refresh_token"]) is None
    assert_invalid_grant(await oauth.refresh(client_id, tokens["refresh_token"]))


async def test_invalid_metadata_document_ends_the_session(faulty, oauth, blob_service):
    client_id, tokens = await sign_in(faulty, oauth, document=True)
    # The host now serves a document for another client id: an answer, and a refusal.
    faulty.docs.add(client_id[len(DOCUMENT_HOST) :], sup.metadata_document(DOCUMENT_HOST + "/faults/someone-else.json"))
    gf.restart_runner(faulty.gw)
    assert_invalid_grant(await oauth.refresh(client_id, tokens["refresh_token"]))
    assert family_state(blob_service, tokens["refresh_token"]) is None


async def test_code_exchange_with_registration_unavailable_answers_503(faulty, oauth, blob_service):
    client_id = await oauth.new_client()
    grant = await oauth.authorize(client_id)
    families = set(blob_service.get_container_client("registrations").list_blob_names(name_starts_with=FAMILY_PREFIX))
    faulty.registrations.fail("status", method="GET")
    assert_unavailable(await oauth.exchange(client_id, grant))
    assert set(blob_service.get_container_client("registrations").list_blob_names(name_starts_with=FAMILY_PREFIX)) == families


async def test_callback_with_entra_unavailable_says_so(faulty, oauth):
    client_id = await oauth.new_client()
    faulty.entra.fail("status", method="POST", path=ENTRA_TOKEN_PATH)
    grant = await oauth.authorize(client_id)
    assert grant.get("error") == "temporarily_unavailable" and "code" not in grant, grant
    assert grant["state"] == "st-123" and grant["iss"] == faulty.gw.url
    # Nothing was lost: the next sign-in works.
    grant = await oauth.authorize(client_id)
    assert (await oauth.exchange(client_id, grant)).status_code == 200
