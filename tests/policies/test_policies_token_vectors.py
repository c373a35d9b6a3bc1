"""The session token C# in the rendered policy fragments agrees with the shared test vectors:
it opens every valid vector to its claims, rejects every invalid one with the named error,
and seals each canonical vector to the exact same token given the vector's IV."""

import base64
import json

import pytest

import policies_csharp as cs
from policies_support import HERE, REPO

VECTORS = REPO / "crates" / "session-token" / "vectors" / "v1.json"
CLAIM_NAMES = ["sid", "sub", "cid", "scp", "aud", "iat", "exp"]

pytestmark = pytest.mark.skipif(
    not cs.have_mono() or not VECTORS.exists(), reason="needs mono and the session-token vectors"
)


def expression(compiled, file, variable):
    """The class of the one expression in `file` that sets `variable`."""
    matches = [e.cls for e in compiled if e.file == file and e.name == variable]
    assert len(matches) == 1, f"{file}: expected one expression setting {variable}"
    return matches[0]


@pytest.fixture(scope="module")
def vectors():
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="module")
def results(vectors, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("token-vectors")
    # The vector keys stand in for the secret named values; nothing else is substituted.
    named = dict(cs.DEFAULT_NAMED_VALUES)
    named["SessionTokenEncKey"] = vectors["keys"]["encKey"]
    named["SessionTokenMacKey"] = vectors["keys"]["macKey"]
    compiled = cs.compile_expressions(tmp, named)
    classes = [
        expression(compiled, "fragments/session-token-open.xml", "sessionTokenResult"),
        expression(compiled, "fragments/session-token-seal.xml", "sessionToken"),
        expression(compiled, "fragments/session-token-seal.xml", "sessionTokenIv"),
    ]
    exe = cs.build_driver(tmp, HERE / "TokenVectors.cs", "TokenVectors")
    run = cs.run_driver(exe, VECTORS, *classes)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_vectors_cover_valid_and_invalid_cases(vectors):
    assert len(vectors["valid"]) >= 3 and len(vectors["invalid"]) >= 10


def test_policy_opens_every_valid_vector(vectors, results):
    for v in vectors["valid"]:
        got = results["open"][v["name"]]
        assert "claims" in got, f"{v['name']}: {got}"
        assert {k: got["claims"][k] for k in CLAIM_NAMES} == {k: v["claims"][k] for k in CLAIM_NAMES}, v["name"]


def test_policy_rejects_every_invalid_vector_with_its_error(vectors, results):
    mismatches = {
        v["name"]: results["open"][v["name"]]
        for v in vectors["invalid"]
        if results["open"][v["name"]] != {"error": v["error"]}
    }
    expected = {v["name"]: v["error"] for v in vectors["invalid"] if v["name"] in mismatches}
    assert mismatches == {}, f"expected {expected}"


def canonical(claims):
    return json.dumps({k: claims[k] for k in CLAIM_NAMES}, separators=(",", ":"), ensure_ascii=False)


def test_policy_seals_canonical_vectors_to_the_exact_token(vectors, results):
    checked = 0
    for v in vectors["valid"]:
        if v["plaintext"] != canonical(v["claims"]):
            continue  # hand-written plaintext (reordered members) cannot come from a sealer
        assert results["seal"][v["name"]] == v["token"], v["name"]
        checked += 1
    assert checked >= 3


def test_policy_iv_is_16_fresh_random_bytes(results):
    first, second = results["ivs"]
    assert len(base64.b64decode(first)) == 16
    assert first != second
