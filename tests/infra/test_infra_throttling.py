"""The throttling limits agree everywhere they are written: the manifest's named values (default and
bounds, from crates/policies/src/throttling.rs), the Bicep parameters that feed them (main.bicep's
defaults and @minValue/@maxValue, passed through apim-config.bicep), the azd environment variables of
main.parameters.json, and the local gateway's environment variables (devstack/throttling.py). The
v2 tiers get the stand-ins of the fragments whose policies they lack."""

from __future__ import annotations

import json
import re

from infra_helpers import INFRA, module_params, parse_bicep

MAIN = INFRA / "main.bicep"
APIM_CONFIG = INFRA / "app" / "apim-config.bicep"
ENV_DEFAULT_RE = re.compile(r"^\$\{([A-Z0-9_]+)=([0-9]+)\}$")


def limits(policy_manifest) -> dict[str, dict]:
    return {nv["name"]: nv for nv in policy_manifest["namedValues"] if "default" in nv}


def parameter_of(named_value: str) -> str:
    """The apim-config.bicep parameter a named value is set from: `string(<param>)`."""
    expr = parse_bicep(APIM_CONFIG)["variables"]["namedValueValues"]["value"][named_value]
    function = expr["function"]
    assert function["type"] == "string", f"{named_value} is not string(<parameter>)"
    return function["parameters"]["value_to_convert"]


def decorator(decl: dict, kind: str):
    return next((d["argument"] for d in decl["decorators"] if d["type"] == kind), None)


def test_the_throttling_named_values_are_declared(policy_manifest):
    assert set(limits(policy_manifest)) == {
        "McpUserRateLimitCalls", "McpClientRateLimitCalls", "McpRateLimitPeriodSecs",
        "McpUserQuotaCalls", "McpUserQuotaPeriodSecs", "OAuthRateLimitCalls", "OAuthRateLimitPeriodSecs",
        "OAuthTokenClientRateLimitCalls",
    }  # fmt: skip
    for nv in limits(policy_manifest).values():
        assert not nv["secret"] and nv["min"] <= nv["default"] <= nv["max"], nv


def test_bicep_parameters_carry_the_manifest_defaults_and_bounds(policy_manifest):
    main = parse_bicep(MAIN)
    config_params = parse_bicep(APIM_CONFIG)["parameters"]
    passed = module_params(main["modules"]["apimConfig"])
    for name, nv in limits(policy_manifest).items():
        param = parameter_of(name)
        assert config_params[param]["type"] == "int", f"apim-config.bicep {param}"
        assert passed.get(param) == param, f"main.bicep passes {param} to apimConfig as {passed.get(param)!r}"
        decl = main["parameters"][param]
        assert decl["type"] == "int", f"main.bicep {param}"
        assert decl["default"] == nv["default"], f"main.bicep {param} default"
        assert (decorator(decl, "min_value"), decorator(decl, "max_value")) == (nv["min"], nv["max"]), f"main.bicep {param} bounds"
        assert decorator(decl, "description"), f"main.bicep {param} has no description"


def test_azd_environment_variables_match_the_local_ones(policy_manifest):
    from devstack import throttling

    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    for variable, name in throttling.ENVIRONMENT.items():
        nv = limits(policy_manifest)[name]
        param = parameter_of(name)
        m = ENV_DEFAULT_RE.match(params[param]["value"])
        assert m, f"main.parameters.json {param}: {params[param]['value']!r}"
        assert m.group(1) == variable, f"main.parameters.json {param} reads {m.group(1)}, the local gateway {variable}"
        assert int(m.group(2)) == nv["default"], f"main.parameters.json {param} default"
    assert set(throttling.ENVIRONMENT.values()) == set(limits(policy_manifest))


def test_v2_tiers_get_the_stand_ins_of_the_fragments_they_cannot_run(policy_manifest):
    stand_ins = policy_manifest["v2TierFragments"]
    ids = {f["id"] for f in policy_manifest["fragments"]}
    assert set(stand_ins) <= ids and "mcp-user-quota" in stand_ins
    for fid, xml in stand_ins.items():
        assert "<quota-by-key" not in xml and xml.startswith("<fragment>"), fid
    quota = next(f for f in policy_manifest["fragments"] if f["id"] == "mcp-user-quota")
    assert "<quota-by-key " in (INFRA / "policies" / quota["file"]).read_text(encoding="utf-8")
    text = APIM_CONFIG.read_text(encoding="utf-8")
    assert "var v2Tier = endsWith(apimSku, 'V2')" in text
    assert (
        "value: v2Tier && contains(manifest.v2TierFragments, fragment.id) ? manifest.v2TierFragments[fragment.id] : fragmentXml[fragment.file]"
        in text
    )
    assert module_params(parse_bicep(MAIN)["modules"]["apimConfig"]).get("apimSku") == "apimSku"
    allowed = next(d["argument"] for d in parse_bicep(MAIN)["parameters"]["apimSku"]["decorators"] if d["type"] == "allowed")
    assert {s for s in allowed if s.endswith("V2")} == {"BasicV2", "StandardV2"}
