"""Key rotation in the rendered session-token-open fragment agrees with the shared rotation
vectors (crates/session-token/vectors/rotation.json): with the previous pair in its named values
it opens tokens of that pair only while now < SessionTokenPreviousUntil, with `none` / `0` never,
and a pair never configured never opens. The same TokenVectors driver as the v1 vectors runs the
expression, once per (configuration, now)."""

import json
from itertools import groupby

import pytest

import policies_csharp as cs
from policies_support import HERE, REPO

ROTATION = REPO / "crates" / "session-token" / "vectors" / "rotation.json"
CLAIM_NAMES = ["sid", "sub", "cid", "scp", "aud", "iat", "exp"]

pytestmark = pytest.mark.skipif(not cs.have_mono() or not ROTATION.exists(), reason="needs mono and the rotation vectors")


def open_class(compiled):
    matches = [e.cls for e in compiled if e.file == "fragments/session-token-open.xml" and e.name == "sessionTokenResult"]
    assert len(matches) == 1
    return matches[0]


def seal_classes(compiled):
    seal = [e.cls for e in compiled if e.file == "fragments/session-token-seal.xml" and e.name == "sessionToken"]
    iv = [e.cls for e in compiled if e.file == "fragments/session-token-seal.xml" and e.name == "sessionTokenIv"]
    return seal[0], iv[0]


@pytest.fixture(scope="module")
def rotation():
    return json.loads(ROTATION.read_text())


def open_cases(rotation, tmp, previous: dict | None, cases) -> dict:
    """{case name: what the policy's open expression returned} for `cases`, with the current keys
    and `previous` ({encKey, macKey}) as the previous pair, or none."""
    out = {}
    named = dict(cs.DEFAULT_NAMED_VALUES)
    named["SessionTokenEncKey"] = rotation["keys"]["encKey"]
    named["SessionTokenMacKey"] = rotation["keys"]["macKey"]
    if previous:
        named["SessionTokenPreviousEncKey"] = previous["encKey"]
        named["SessionTokenPreviousMacKey"] = previous["macKey"]
        named["SessionTokenPreviousUntil"] = str(rotation["previousUntil"])
    compiled = cs.compile_expressions(tmp, named)
    exe = cs.build_driver(tmp, HERE / "TokenVectors.cs", "TokenVectors")
    cases = sorted(cases, key=lambda c: c["now"])
    for now, group in groupby(cases, key=lambda c: c["now"]):
        # One v1-shaped file per `now`: the driver opens every entry at the file's `now`
        # (it also seals the valid ones under the current pair; that output is not used here).
        group = list(group)
        doc = {
            "now": now,
            "valid": [{"name": c["name"], "iv": c["iv"], "token": c["token"], "claims": c["claims"],
                       "expectedAudience": c["expectedAudience"]} for c in group if "claims" in c],
            "invalid": [{"name": c["name"], "token": c["token"], "error": c["error"],
                         "expectedAudience": c["expectedAudience"]} for c in group if "error" in c],
        }  # fmt: skip
        path = tmp / f"cases-{now}.json"
        path.write_text(json.dumps(doc))
        run = cs.run_driver(exe, path, open_class(compiled), *seal_classes(compiled))
        assert run.returncode == 0, run.stderr
        out.update(json.loads(run.stdout)["open"])
    return out


@pytest.fixture(scope="module")
def results(rotation, tmp_path_factory):
    """{case name: what the policy's open expression returned}, each case under its configuration."""
    out = {}
    for configured in (True, False):
        cases = [c for c in rotation["cases"] if c["previousConfigured"] == configured]
        previous = rotation["previousKeys"] if configured else None
        out.update(open_cases(rotation, tmp_path_factory.mktemp(f"rotation-{configured}"), previous, cases))
    return out


def test_every_rotation_case_opens_as_the_vectors_say(rotation, results):
    assert len(results) == len(rotation["cases"]) >= 10
    wrong = {}
    for c in rotation["cases"]:
        got = results[c["name"]]
        if "claims" in c:
            ok = "claims" in got and {k: got["claims"][k] for k in CLAIM_NAMES} == {k: c["claims"][k] for k in CLAIM_NAMES}
        else:
            ok = got == {"error": c["error"]}
        if not ok:
            wrong[c["name"]] = got
    assert wrong == {}


def test_the_previous_pair_opens_only_inside_its_window(rotation, results):
    previous = [c for c in rotation["cases"] if c["name"].startswith("previous keys, ")]
    inside = [c for c in previous if c["previousConfigured"] and c["now"] < rotation["previousUntil"] and "expired" not in c["name"] and "audience" not in c["name"]]
    outside = [c for c in previous if not c["previousConfigured"] or c["now"] >= rotation["previousUntil"]]
    assert inside and outside
    assert all("claims" in results[c["name"]] for c in inside)
    assert all(results[c["name"]] == {"error": "BadMac"} for c in outside)


@pytest.mark.parametrize("bad", ["not base64!", "c2hvcnQ="], ids=["not-base64", "short-key"])
def test_a_malformed_previous_key_is_no_key(rotation, tmp_path, bad):
    """A previous key that is not 32 bytes of base64 (a hand edit in the vault) turns the previous
    pair off: its tokens are refused as BadMac (a 401, not an exception, so not a 500), and tokens
    under the current keys open as before."""
    cases = [c for c in rotation["cases"] if c["previousConfigured"]]
    got = open_cases(rotation, tmp_path, {"encKey": rotation["previousKeys"]["encKey"], "macKey": bad}, cases)
    for c in cases:
        if c["name"].startswith("current keys"):
            assert "claims" in got[c["name"]], (c["name"], got[c["name"]])
        elif c["name"].startswith("previous keys, ") and "claims" in c:
            assert got[c["name"]] == {"error": "BadMac"}, (c["name"], got[c["name"]])
