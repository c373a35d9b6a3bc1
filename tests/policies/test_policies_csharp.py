"""Every C# policy expression compiles (the local runner's compiler, against the APIM context
model), a broken one is refused naming its policy file, and every expression uses only .NET
types on APIM's allow list (an approximate identifier scan)."""

import shutil

import pytest

import policies_csharp as cs

pytestmark = pytest.mark.skipif(not cs.have_mono(), reason="needs mono-mcs and libnewtonsoft-json-cil-dev")


def test_policies_contain_expressions():
    # Guards the extraction itself: the MCP API validates tokens in C#.
    files = {e.file for e in cs.all_expressions()}
    assert "fragments/session-token-open.xml" in files
    assert "mcp/api.xml" in files


def test_every_expression_compiles(tmp_path):
    # mcs names the policy file and element through the #line directives on failure.
    exprs = cs.compile_expressions(tmp_path)
    assert len(exprs) == len(cs.all_expressions()) > 0
    assert (tmp_path / "Expressions.dll").stat().st_size > 0
    assert not list(tmp_path.glob("expressions-src-*")), "the generated source (named values) was left behind"


def test_a_broken_expression_is_refused_with_its_file(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(cs.POLICIES, policies)
    revoke = policies / "oauth" / "revoke.xml"
    text = revoke.read_text()
    assert "<inbound>\n    <base />" in text
    revoke.write_text(text.replace("<inbound>\n    <base />", '<inbound>\n    <base />\n    <set-variable name="x" value="@(context.NoSuchMember)" />', 1))
    with pytest.raises(cs.ExpressionsError) as refused:
        cs.compile_expressions(tmp_path, policies_dir=policies)
    assert "policy expressions do not compile" in str(refused.value)
    assert "oauth/revoke.xml" in str(refused.value) and "NoSuchMember" in str(refused.value)
    assert not (tmp_path / "Expressions.dll").exists()


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
