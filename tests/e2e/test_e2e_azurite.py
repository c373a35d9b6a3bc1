"""The Azurite fixture itself: the storage every other e2e test relies on is real and reachable."""

from __future__ import annotations

import httpx

import e2e_support as sup


def test_azurite_serves_blob_queue_table_on_loopback(azurite: sup.Azurite) -> None:
    assert set(azurite.ports) == {"blob", "queue", "table"}
    assert len(set(azurite.ports.values())) == 3
    for kind in ("queue", "table"):
        # An unauthenticated request is refused, but by Azurite itself (an HTTP answer, not a socket error).
        r = httpx.get(azurite.endpoint(kind) + "?comp=list", timeout=5)
        assert 200 <= r.status_code < 500, (kind, r.status_code, r.text)


def test_connection_string_names_every_endpoint_explicitly(azurite: sup.Azurite) -> None:
    parts = dict(p.split("=", 1) for p in azurite.connection_string().strip(";").split(";"))
    assert parts["AccountName"] == sup.DEV_ACCOUNT
    assert parts["BlobEndpoint"] == f"http://127.0.0.1:{azurite.ports['blob']}/{sup.DEV_ACCOUNT}"
    assert parts["QueueEndpoint"] == f"http://127.0.0.1:{azurite.ports['queue']}/{sup.DEV_ACCOUNT}"
    assert parts["TableEndpoint"] == f"http://127.0.0.1:{azurite.ports['table']}/{sup.DEV_ACCOUNT}"


def test_blob_round_trip_through_azurite_is_byte_exact(azurite: sup.Azurite, uid: str) -> None:
    inspector = sup.BlobInspector(azurite.connection_string(), container=f"fixture-{uid}")
    container = inspector.container()
    container.create_container()
    try:
        body = "héllo 👋 世界\r\n\t\x1b[0m end ".encode()
        container.upload_blob(f"{uid}.json", body)
        assert inspector.names() == [f"{uid}.json"]
        assert inspector.read(f"{uid}.json") == body
        snap = inspector.snapshot()
        assert snap[f"fixture-{uid}"].keys() == {f"{uid}.json"}
    finally:
        container.delete_container()
    assert inspector.names() == []
