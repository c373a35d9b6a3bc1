"""No API defines an `OPTIONS` operation, in the manifest or in the Bicep.

APIM does not run the `cors` policy's preflight handling for a request that matches an
explicit `OPTIONS` operation (cors policy reference, usage notes): the /mcp preflight would
meet the token check (401) and the OAuth API's would fall through to a backend that does not
exist, so browser-based clients could not call either API."""

import re

from policies_support import REPO, load_manifest

BICEP = sorted((REPO / "infra").rglob("*.bicep"))
# A literal OPTIONS method in a Bicep operation, or an OpenAPI `options:` path item.
LITERAL_OPTIONS = [re.compile(r"""method\s*:\s*'OPTIONS'""", re.I), re.compile(r"""['"]?options['"]?\s*:\s*\{""", re.I)]


def literal_options_operations(text):
    return [m.group(0) for pattern in LITERAL_OPTIONS for m in pattern.finditer(text)]


def test_manifest_defines_no_options_operation():
    manifest = load_manifest()
    assert manifest["apis"], "manifest.json lists no APIs"
    found = [
        f"{api['name']}/{op['name']}"
        for api in manifest["apis"]
        for op in api["operations"]
        if op["method"].strip().upper() == "OPTIONS"
    ]
    assert found == []


def test_bicep_defines_no_options_operation():
    assert BICEP, "no Bicep files under infra/"
    operation_resources = 0
    for path in BICEP:
        text = path.read_text()
        operation_resources += text.count("Microsoft.ApiManagement/service/apis/operations@")
        # A literal method in a Bicep operation (or an OpenAPI import) would bypass the manifest.
        assert literal_options_operations(text) == [], path
    # Operations come from the manifest (checked above), not from literals.
    assert operation_resources >= 1


def test_check_catches_literal_options_operations():
    bicep = "resource preflight 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' = {\n  properties: {\n    method: 'OPTIONS'\n  }\n}"
    openapi = "value: { paths: { '/mcp': { options: { responses: {} } } } }"
    assert literal_options_operations(bicep) == ["method: 'OPTIONS'"]
    assert len(literal_options_operations(openapi)) == 1
    assert literal_options_operations("method: 'POST'\noptionsList: []") == []
