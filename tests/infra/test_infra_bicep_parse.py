"""Every Bicep file parses, with two independent parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra_helpers import INFRA, bicep_files, extension_aliases, parse_bicep, rel, strip_extensions

FILES = bicep_files()


def test_infra_has_the_expected_bicep_layout():
    names = {rel(p) for p in FILES}
    for required in (
        "infra/main.bicep",
        "infra/app/apim-service.bicep",
        "infra/app/apim-config.bicep",
        "infra/app/apim-api.bicep",
        "infra/app/function-app.bicep",
        "infra/app/entra-app.bicep",
        "infra/core/storage/storage-account.bicep",
        "infra/core/monitor/monitoring.bicep",
    ):
        assert required in names, f"{required} is missing"


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_bicep_parses_with_pycep(path: Path):
    tree = parse_bicep(path)
    declared = sum(len(tree.get(k) or {}) for k in ("parameters", "variables", "resources", "modules", "outputs"))
    assert declared > 0, f"{rel(path)} parsed to an empty tree"


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_bicep_parses_with_tree_sitter(path: Path):
    import tree_sitter
    import tree_sitter_bicep

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    source = strip_extensions(path.read_text(encoding="utf-8")).encode("utf-8")
    tree = parser.parse(source)

    errors = []

    def walk(node):
        if node.type == "ERROR" or node.is_missing:
            errors.append(f"line {node.start_point[0] + 1}: {node.text[:60]!r}")
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    assert not errors, f"{rel(path)}: syntax errors: {errors}"


def test_extensions_are_declared_in_bicepconfig():
    config = json.loads((INFRA / "bicepconfig.json").read_text(encoding="utf-8"))
    declared = config.get("extensions", {})
    used = {}
    for path in FILES:
        for alias in extension_aliases(path.read_text(encoding="utf-8")):
            used.setdefault(alias, []).append(rel(path))
    assert "microsoftGraphV1" in used, "the Entra app module must use the Microsoft Graph extension"
    for alias, files in used.items():
        assert alias in declared, f"extension {alias} (used in {files}) is not declared in infra/bicepconfig.json"
    graph = declared["microsoftGraphV1"]
    assert graph.startswith("br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:"), graph


def test_graph_resources_only_in_files_with_the_extension():
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        if "'Microsoft.Graph/" in text:
            assert extension_aliases(text), f"{rel(path)} declares Microsoft.Graph resources without `extension microsoftGraphV1`"
