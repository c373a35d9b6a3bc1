"""Client ID Metadata Documents (an https URL as client_id): the gateway fetches, validates and
caches the document. The document host is mapped to a local HTTP server with the runner's
documented host mapping (the machine has no internet)."""

from __future__ import annotations

import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

HOST = "https://clients.example"


class Documents(sup.DocumentServer):
    """The document host's server; `add` answers the document's URL as the gateway sees it."""

    def add(self, path: str, doc: dict | str, status: int = 200) -> str:
        super().add(path, doc, status)
        return HOST + path


@pytest.fixture(scope="module")
def documents():
    d = Documents()
    yield d
    d.close()


@pytest.fixture(scope="module")
def cimd_gateway(stack, documents):
    """One extra gateway for the module, with the document host mapped to the local server."""
    with sup.extra_gateway("cimd", stack, host_map={HOST: documents.url}) as gw:
        yield gw


@pytest.fixture
def fetched(documents):
    """The paths fetched during this test."""
    start = len(documents.fetches)

    class View:
        def __call__(self):
            return documents.fetches[start:]

    return View()


def _doc(client_id: str, **extra) -> dict:
    return {"client_id": client_id, "client_name": "Metadata document client", "redirect_uris": [sup.REDIRECT_URI],
            "token_endpoint_auth_method": "none", **extra}  # fmt: skip


async def test_metadata_document_client_signs_in_and_is_cached(cimd_gateway, documents, fetched, client_ip):
    client_id = documents.add("/apps/good.json", _doc(HOST + "/apps/good.json"))
    oauth = sup.OAuth(cimd_gateway.url, client_ip)
    try:
        grant = await oauth.authorize(client_id)
        assert "code" in grant, grant
        assert "Metadata document client" in oauth.agent.consent_pages[0].text
        r = await oauth.exchange(client_id, grant)
        assert r.status_code == 200, r.text
        claims = sup.open_token(r.json()["access_token"], cimd_gateway.session_keys["enc"], cimd_gateway.session_keys["mac"])
        assert claims["cid"] == client_id
        await oauth.authorize(client_id)  # second sign-in: the document comes from the cache
    finally:
        await oauth.aclose()
    assert fetched() == ["/apps/good.json"]


@pytest.mark.parametrize(
    "case",
    ["client_id_mismatch", "not_found", "confidential", "http_redirect", "not_json", "no_redirects"],
)
async def test_invalid_metadata_documents_are_refused(cimd_gateway, documents, fetched, client_ip, case):
    path = f"/apps/{case}.json"
    url = HOST + path
    doc, status = {
        "client_id_mismatch": (_doc(HOST + "/apps/other.json"), 200),
        "not_found": ("{}", 404),
        "confidential": (_doc(url, token_endpoint_auth_method="client_secret_basic"), 200),
        "http_redirect": (_doc(url, redirect_uris=["http://attacker.example/cb"]), 200),
        "not_json": ("<html>", 200),
        "no_redirects": (_doc(url, redirect_uris=[]), 200),
    }[case]
    documents.add(path, doc, status)
    oauth = sup.OAuth(cimd_gateway.url, client_ip)
    try:
        _, challenge = sup.pkce_pair()
        r = await oauth.agent.request("GET", oauth.authorize_url(url, challenge))
    finally:
        await oauth.aclose()
    assert r.status_code == 400 and r.json()["error"] == "invalid_client", r.text
    assert "location" not in r.headers
    assert fetched() == [path]


@pytest.mark.parametrize("client_id", [HOST + "/", HOST + "/apps/x.json#frag", "https://user@clients.example/apps/x.json", HOST + "/apps/../x.json"])
async def test_non_canonical_document_urls_are_not_fetched(cimd_gateway, fetched, client_ip, client_id):
    oauth = sup.OAuth(cimd_gateway.url, client_ip)
    try:
        _, challenge = sup.pkce_pair()
        r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge))
    finally:
        await oauth.aclose()
    assert r.status_code == 400 and r.json()["error"] == "invalid_client", r.text
    assert fetched() == []
