"""Every resource in infra/ (existing references included) uses the newest GA API version of its
type, as pinned from Azure/bicep-types-az in tests/infra/fixtures/bicep-types-api-versions.json;
a preview only where the list allows it with a reason. Runs offline: the list carries the commit
it was read at, and tests/infra/bicep_types_versions.py regenerates it from a newer clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bicep_types_versions import FIXTURE, declarations, declarations_in, is_preview, load_fixture, version_date, violations
from infra_helpers import INFRA, rel

DECLARATIONS = declarations()


def test_the_list_is_pinned_to_a_bicep_types_az_commit():
    data = load_fixture()
    assert data["repository"] == "Azure/bicep-types-az"
    assert re.fullmatch(r"[0-9a-f]{40}", data["commit"]), data["commit"]
    for type_, entry in data["newestGa"].items():
        assert not is_preview(entry["version"]), f"{type_}: {entry['version']} is a preview"
        # The file is the version's own folder: generated/<provider>/<namespace>/<version>/types.md.
        assert entry["file"].startswith("generated/") and entry["file"].endswith(f"/{entry['version']}/types.md"), entry
        assert entry["line"] > 0
        if "newerPreview" in entry:
            assert is_preview(entry["newerPreview"]) and version_date(entry["newerPreview"]) > version_date(entry["version"])
    for type_, entry in data["previewAllowed"].items():
        assert is_preview(entry["version"]), f"{type_}: previewAllowed names a GA version"
        assert len(entry["reason"]) >= 60, f"{type_}: give the reason the GA version does not do"
    for type_, reason in data["notInBicepTypesAz"].items():
        assert len(reason) >= 30, type_


def test_the_list_names_exactly_the_types_in_use():
    data = load_fixture()
    outside = {k.lower() for k in data["notInBicepTypesAz"]}
    used = {d.type.lower() for d in DECLARATIONS}
    listed = {k.lower() for k in data["newestGa"]}
    assert used - outside == listed, f"regenerate {rel(FIXTURE)}: missing {sorted(used - outside - listed)}, stale {sorted(listed - used)}"
    assert {k.lower() for k in data["previewAllowed"]} <= listed
    assert outside <= used, f"stale notInBicepTypesAz: {sorted(outside - used)}"


def test_every_bicep_resource_statement_was_read():
    # The scanner reads tree-sitter's tree; a resource it missed would escape the check.
    for path in sorted(INFRA.rglob("*.bicep")):
        text = path.read_text(encoding="utf-8")
        written = len(re.findall(r"^\s*resource\s+\w+\s+'[^']+@[^']+'", text, re.MULTILINE))
        read = sum(1 for d in DECLARATIONS if d.path == path)
        assert read == written, f"{rel(path)}: {written} resource statements, {read} read"


@pytest.mark.parametrize("decl", DECLARATIONS, ids=lambda d: f"{rel(d.path)}:{d.symbol}")
def test_resource_uses_the_newest_ga_api_version(decl):
    assert violations([decl], load_fixture()) == []


# --- the check itself -----------------------------------------------------------------------------------


def scan(text: str) -> list:
    return declarations_in(text, INFRA / "example.bicep")


def test_an_older_version_fails():
    decls = scan("resource st 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {\n  name: 'x'\n}\n")
    (problem,) = violations(decls, load_fixture())
    assert "older than the newest GA version 2026-04-01" in problem
    assert "generated/storage/microsoft.storage/2026-04-01/types.md:14" in problem


def test_a_preview_fails_unless_allowed():
    decls = scan("resource a 'Microsoft.ApiManagement/service@2025-09-01-preview' existing = {\n  name: 'x'\n}\n")
    (problem,) = violations(decls, load_fixture())
    assert "preview version; the newest GA is 2024-05-01" in problem
    decls = scan("resource d 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {\n  name: 'x'\n}\n")
    assert violations(decls, load_fixture()) == []
    decls = scan("resource d 'Microsoft.Insights/diagnosticSettings@2020-01-01-preview' = {\n  name: 'x'\n}\n")
    assert len(violations(decls, load_fixture())) == 1


def test_unknown_types_fail_and_nested_children_get_their_full_type():
    text = (
        "resource p 'Microsoft.Example/things@2024-01-01' = {\n"
        "  name: 'p'\n"
        "  resource c 'children@2024-01-01' = {\n"
        "    name: 'c'\n"
        "  }\n"
        "}\n"
    )
    decls = scan(text)
    assert [(d.type, d.line) for d in decls] == [("Microsoft.Example/things", 1), ("Microsoft.Example/things/children", 3)]
    assert len(violations(decls, load_fixture())) == 2


def test_graph_extension_types_are_outside_the_check():
    graph = [d for d in DECLARATIONS if d.type.startswith("Microsoft.Graph/")]
    assert {d.type for d in graph} == {
        "Microsoft.Graph/applications",
        "Microsoft.Graph/applications/federatedIdentityCredentials",
        "Microsoft.Graph/servicePrincipals",
        "Microsoft.Graph/appRoleAssignedTo",
    }
    assert violations(graph, load_fixture()) == []


def test_the_monitoring_excerpt_agrees_with_the_list():
    # test_infra_monitoring.py pins property lines per type@version; both lists come from one commit.
    import json

    excerpt = json.loads((Path(__file__).parent / "fixtures" / "bicep-types-monitoring.json").read_text(encoding="utf-8"))
    data = load_fixture()
    assert excerpt["commit"] == data["commit"]
    allowed = {k.lower(): v["version"] for k, v in data["previewAllowed"].items()}
    ga = {k.lower(): v["version"] for k, v in data["newestGa"].items()}
    for key in excerpt["types"]:
        type_, _, version = key.rpartition("@")
        assert version in (ga[type_.lower()], allowed.get(type_.lower())), f"{key}: the excerpt is on another version"
