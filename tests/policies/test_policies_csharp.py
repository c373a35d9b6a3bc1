"""Every C# policy expression compiles with Mono's mcs against the APIM context model, and
uses only .NET types on APIM's allow list (an approximate identifier scan)."""

import pytest

import policies_csharp as cs


def test_policies_contain_expressions():
    # Guards the extraction itself: the MCP API validates tokens in C#.
    files = {e.file for e in cs.all_expressions()}
    assert "fragments/session-token-open.xml" in files
    assert "mcp/api.xml" in files


@pytest.mark.skipif(not cs.have_mono(), reason="needs mono-mcs and libnewtonsoft-json-cil-dev")
def test_every_expression_compiles(tmp_path):
    model = tmp_path / "model.dll"
    ok, out = cs.compile_cs([cs.MODEL], model)
    assert ok, "APIM model does not compile:\n" + out
    exprs = cs.all_expressions()
    classes = [cs.class_source(f"E{i}", e, cs.DEFAULT_NAMED_VALUES) for i, e in enumerate(exprs)]
    src = tmp_path / "Expressions.cs"
    src.write_text(cs.source_file(classes))
    ok, out = cs.compile_cs([src], tmp_path / "expr.dll", references=[model])
    # mcs names the policy file and element through the #line directives.
    assert ok, "policy expressions failed to compile:\n" + out


def test_expressions_use_only_allowed_types():
    problems = {}
    for e in cs.all_expressions():
        bad = cs.disallowed_identifiers(e.code)
        if bad:
            problems[e.label] = bad
    assert problems == {}


def test_allowed_type_scan_catches_disallowed_types():
    assert cs.disallowed_identifiers('new System.Net.Http.HttpClient()') == ["System.Net.Http.HttpClient"]
    assert cs.disallowed_identifiers('File.ReadAllText("x")') == ["File"]
    assert cs.disallowed_identifiers('new System.Security.Cryptography.HMACSHA256(k)') == []
    assert cs.disallowed_identifiers('"File".Length + JObject.Parse(s).Count') == []
