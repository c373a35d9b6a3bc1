"""Client ID Metadata Document URLs on hosts that are private by convention (mDNS `.local`,
Kubernetes `svc.cluster.local`, `.internal`, `.home.arpa`, `.localdomain`, and names left
undelegated because private networks use them) are refused before any fetch: the gateway must
not be a way to reach an intranet name an attacker types. Each host is mapped to a local
document server serving a valid document, so a fetch would be seen, and would succeed."""

from __future__ import annotations

import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

PRIVATE_HOSTS = [
    "https://printer.local", "https://api.default.svc.cluster.local", "https://metadata.internal",
    "https://nas.home.arpa", "https://router.localdomain", "https://wiki.corp", "https://files.lan",
    "https://portal.intranet", "https://vault.private", "https://box.home", "https://x.invalid",
    "https://1.0.0.127.in-addr.arpa",
]  # fmt: skip
# Look-alikes that are ordinary public names: the suffixes match whole labels only.
PUBLIC_HOSTS = ["https://local.example", "https://internal-tools.example", "https://home.arpa.example"]


@pytest.fixture(scope="module")
def documents():
    d = sup.DocumentServer()
    yield d
    d.close()


@pytest.fixture(scope="module")
def hosts_gateway(stack, documents):
    host_map = {h: documents.url for h in PRIVATE_HOSTS + PUBLIC_HOSTS}
    with sup.extra_gateway("document-hosts", stack, host_map=host_map) as gw:
        yield gw


@pytest.fixture
async def oauth(hosts_gateway, client_ip):
    o = sup.OAuth(hosts_gateway.url, client_ip)
    yield o
    await o.aclose()


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
async def test_metadata_document_on_a_private_name_is_never_fetched(oauth, documents, blob_service, host):
    path = "/oauth/client.json"
    client_id = host + path
    documents.add(path, sup.metadata_document(client_id))
    start = len(documents.fetches)
    blobs = sup.registration_blobs(blob_service)
    _, challenge = sup.pkce_pair()
    r = await oauth.agent.request("GET", oauth.authorize_url(client_id, challenge))
    assert r.status_code == 400 and "location" not in r.headers, (r.status_code, r.headers, r.text)
    assert r.json()["error"] == "invalid_client"
    assert "public DNS host" in r.json()["error_description"], r.text
    assert documents.since(start) == [], "nothing may be fetched"
    assert sup.registration_blobs(blob_service) == blobs, "nothing may be stored"


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
async def test_public_names_that_only_look_private_are_fetched(oauth, documents, host):
    path = f"/oauth/{host.split('//')[1]}.json"
    documents.add(path, sup.metadata_document(host + path))
    start = len(documents.fetches)
    grant = await oauth.authorize(host + path)
    assert "code" in grant, grant
    assert documents.since(start) == [path]
