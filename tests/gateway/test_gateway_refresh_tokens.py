"""Refresh-token families end only on proof: reuse detection and revocation need a token the
family actually issued, not its id (the first 32 characters of every token, which is also
its blob name); the token a rotation replaced stays usable for a short grace window, so a
client whose refresh response was lost can retry; a client's registered grant types are
enforced at the token endpoint; and an access token cannot be "revoked" into a false sense of
safety. Each test sends the request and checks storage for side effects."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest

import gw_support as sup

pytestmark = pytest.mark.anyio

# crates/policies/src/names.rs: BLOB_PREFIX_FAMILY, REFRESH_GRACE_SECS.
FAMILY_PREFIX = "refresh-families/"
REFRESH_GRACE_SECS = 60


def family_blob(blob_service, refresh_token: str):
    return blob_service.get_blob_client("registrations", f"{FAMILY_PREFIX}{refresh_token.split('.')[0]}.json")


def family_state(blob_service, refresh_token: str) -> tuple[str, str] | None:
    blob = family_blob(blob_service, refresh_token)
    if not blob.exists():
        return None
    return blob.get_blob_properties().etag, blob.download_blob().readall().decode()


def family_ids(blob_service) -> set[str]:
    return set(blob_service.get_container_client("registrations").list_blob_names(name_starts_with=FAMILY_PREFIX))


def forged(refresh_token: str) -> str:
    """The family id of a real token with a secret that was never issued."""
    return refresh_token.split(".")[0] + "." + sup.b64url(secrets.token_bytes(32))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def assert_error(r, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error, r.text


async def refreshed(oauth: sup.OAuth, client_id: str, refresh_token: str) -> dict:
    r = await oauth.refresh(client_id, refresh_token)
    assert r.status_code == 200, r.text
    return r.json()


# --- proof of possession ----------------------------------------------------------------------


async def test_family_id_with_a_forged_secret_does_not_end_the_session(oauth, blob_service):
    client_id, tokens = await oauth.login()
    other = await oauth.new_client()
    before = family_state(blob_service, tokens["refresh_token"])
    for presenter in (client_id, other, "mcp-" + "0" * 32):
        assert_error(await oauth.refresh(presenter, forged(tokens["refresh_token"])), 400, "invalid_grant")
    assert family_state(blob_service, tokens["refresh_token"]) == before
    await refreshed(oauth, client_id, tokens["refresh_token"])


async def test_revoke_with_a_forged_secret_changes_nothing(oauth, blob_service):
    client_id, tokens = await oauth.login()
    before = family_state(blob_service, tokens["refresh_token"])
    r = await oauth.revoke(client_id, forged(tokens["refresh_token"]))
    assert r.status_code == 200, r.text  # RFC 7009 2.2: an unknown token is no error
    assert family_state(blob_service, tokens["refresh_token"]) == before
    await refreshed(oauth, client_id, tokens["refresh_token"])


async def test_spent_token_still_proves_reuse_and_revokes(oauth, blob_service):
    client_id, first = await oauth.login()
    second = await refreshed(oauth, client_id, first["refresh_token"])
    third = await refreshed(oauth, client_id, second["refresh_token"])
    # `first` is two rotations old: past any grace, a token this family issued and spent.
    r = await oauth.refresh(client_id, first["refresh_token"])
    assert_error(r, 400, "invalid_grant")
    assert "reuse" in r.json()["error_description"]
    assert family_state(blob_service, first["refresh_token"]) is None
    assert_error(await oauth.refresh(client_id, third["refresh_token"]), 400, "invalid_grant")


async def test_revoke_with_a_spent_token_revokes(oauth, blob_service):
    client_id, first = await oauth.login()
    second = await refreshed(oauth, client_id, first["refresh_token"])
    third = await refreshed(oauth, client_id, second["refresh_token"])
    assert (await oauth.revoke(client_id, first["refresh_token"])).status_code == 200
    assert family_state(blob_service, first["refresh_token"]) is None
    assert_error(await oauth.refresh(client_id, third["refresh_token"]), 400, "invalid_grant")


# --- grace window -----------------------------------------------------------------------------


async def test_retry_after_a_lost_response_works_within_the_grace_window(stack, oauth, blob_service):
    client_id, first = await oauth.login()
    lost = await refreshed(oauth, client_id, first["refresh_token"])  # the client never sees it
    window = json.loads(family_state(blob_service, first["refresh_token"])[1]).get("previous_until")

    retried = await refreshed(oauth, client_id, first["refresh_token"])
    record = json.loads(family_state(blob_service, first["refresh_token"])[1])
    assert record["current"] == sha256(retried["refresh_token"])
    assert record["previous"] == sha256(first["refresh_token"]) and record["previous_until"] == window  # not extended
    assert sha256(lost["refresh_token"]) in record["spent"]
    claims = sup.open_token(retried["access_token"], stack.keys["enc"], stack.keys["mac"])
    assert claims["cid"] == client_id
    await refreshed(oauth, client_id, retried["refresh_token"])

    # The token of the lost response was issued and is spent now: whoever presents it holds a
    # copy that the client no longer uses, so it ends the family.
    assert_error(await oauth.refresh(client_id, lost["refresh_token"]), 400, "invalid_grant")
    assert family_state(blob_service, first["refresh_token"]) is None


async def test_previous_token_after_the_grace_window_is_reuse(oauth, blob_service):
    client_id, first = await oauth.login()
    second = await refreshed(oauth, client_id, first["refresh_token"])
    blob = family_blob(blob_service, first["refresh_token"])
    record = json.loads(blob.download_blob().readall())
    assert record["previous_until"] - record["expires_at"] + 30 * 24 * 3600 == REFRESH_GRACE_SECS
    record["previous_until"] -= REFRESH_GRACE_SECS + 1  # the window has passed
    blob.upload_blob(json.dumps(record), overwrite=True)
    r = await oauth.refresh(client_id, first["refresh_token"])
    assert_error(r, 400, "invalid_grant")
    assert "reuse" in r.json()["error_description"]
    assert family_state(blob_service, first["refresh_token"]) is None
    assert_error(await oauth.refresh(client_id, second["refresh_token"]), 400, "invalid_grant")


# --- registered grant types -------------------------------------------------------------------


async def test_client_without_the_refresh_grant_gets_no_refresh_token(oauth, blob_service):
    r = await oauth.register(grant_types=["authorization_code"])
    assert r.status_code == 201, r.text
    client_id = r.json()["client_id"]
    grant = await oauth.authorize(client_id)
    families = family_ids(blob_service)
    r = await oauth.exchange(client_id, grant)
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json() and r.json()["access_token"]
    assert family_ids(blob_service) == families, "no family may be stored for it"
    assert (await sup.mcp_post(oauth.http, f"{oauth.gw}/mcp", r.json()["access_token"])).status_code == 200


async def test_refresh_grant_is_refused_for_a_client_registered_without_it(oauth, blob_service):
    client_id, tokens = await oauth.login()
    registration = blob_service.get_blob_client("registrations", f"{client_id}.json")
    original = registration.download_blob().readall()
    record = json.loads(original)
    assert record["grant_types"] == ["authorization_code", "refresh_token"]
    # As if it had registered for codes only (a family issued before grant types were enforced).
    registration.upload_blob(json.dumps(dict(record, grant_types=["authorization_code"])), overwrite=True)
    before = family_state(blob_service, tokens["refresh_token"])
    assert_error(await oauth.refresh(client_id, tokens["refresh_token"]), 400, "unauthorized_client")
    assert family_state(blob_service, tokens["refresh_token"]) == before
    # Refused, not revoked: with the grant registered again, the same token works.
    registration.upload_blob(original, overwrite=True)
    await refreshed(oauth, client_id, tokens["refresh_token"])


# --- revocation of access tokens --------------------------------------------------------------


async def test_revoking_an_access_token_is_unsupported(oauth, blob_service):
    client_id, tokens = await oauth.login()
    before = family_state(blob_service, tokens["refresh_token"])
    r = await oauth.revoke(client_id, tokens["access_token"])
    assert_error(r, 400, "unsupported_token_type")
    assert r.headers["cache-control"] == "no-store"
    # What the answer says is true: the access token still works, and nothing else changed.
    assert (await sup.mcp_post(oauth.http, f"{oauth.gw}/mcp", tokens["access_token"])).status_code == 200
    assert family_state(blob_service, tokens["refresh_token"]) == before
    # A token that is no session token of this gateway stays an unknown token (RFC 7009 2.2).
    assert (await oauth.revoke(client_id, tokens["access_token"][:-4] + "AAAA")).status_code == 200

