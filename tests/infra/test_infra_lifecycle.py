"""The storage lifecycle rules delete what the gateway and the server leave behind, and only
that: each rule's prefix must name a real container and the blob prefix its writer uses
(defined once in Rust), and the delay must outlast the data's own lifetime."""

from __future__ import annotations

import re

from infra_helpers import INFRA, REPO_ROOT

STORAGE = INFRA / "core" / "storage" / "storage-account.bicep"
MAIN = INFRA / "main.bicep"
NAMES = REPO_ROOT / "crates" / "policies" / "src" / "names.rs"
RELAY = REPO_ROOT / "src" / "mcp" / "sse" / "relay" / "mod.rs"


def rules() -> dict[str, tuple[str, int]]:
    """name -> (prefixMatch, daysAfterModificationGreaterThan) of each lifecycle rule."""
    text = STORAGE.read_text(encoding="utf-8")
    found = {}
    for m in re.finditer(r"name: '([\w-]+)'\s+type: 'Lifecycle'(.*?)daysAfterModificationGreaterThan: (\d+)", text, re.S):
        prefixes = re.findall(r"prefixMatch: \[\s*'([^']+)'\s*\]", m.group(2))
        assert len(prefixes) == 1, f"rule {m.group(1)} should have one prefix"
        found[m.group(1)] = (prefixes[0], int(m.group(3)))
    return found


def rust_str(path, name: str) -> str:
    m = re.search(rf'const {name}: &str = "([^"]*)";', path.read_text(encoding="utf-8"))
    assert m, f"{name} not found in {path}"
    return m.group(1)


def test_refresh_families_expire_after_their_lifetime():
    container = re.search(r"var registrationsContainerName = '([^']+)'", MAIN.read_text(encoding="utf-8")).group(1)
    prefix, days = rules()["expire-refresh-families"]
    assert prefix == f"{container}/{rust_str(NAMES, 'BLOB_PREFIX_FAMILY')}"
    expr = re.search(r"const REFRESH_TTL_SECS: u32 = ([\d *]+);", NAMES.read_text(encoding="utf-8")).group(1)
    ttl = 1
    for factor in expr.split("*"):
        ttl *= int(factor)
    assert days * 86400 > ttl, "a family could be deleted while its refresh token is still valid"


def test_relay_overflow_rule_names_the_relay_container():
    prefix, days = rules()["expire-sse-relay-overflow"]
    assert prefix == f"{rust_str(RELAY, 'OVERFLOW_CONTAINER')}/"
    assert days >= 1
