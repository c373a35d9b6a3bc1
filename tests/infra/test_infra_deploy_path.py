"""What a first `azd up` needs, checked offline against the behaviour of the
real tools (azd, the Functions host, API Management); each check names the
source that makes it necessary (see docs/deploy.md, "Why the deployment is
shaped this way")."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from infra_helpers import INFRA, REPO_ROOT, bicep_files, rel, strip_comments

AZURE_YAML = REPO_ROOT / "azure.yaml"
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
README = REPO_ROOT / "README.md"
# Values azd itself provides to main.parameters.json before any hook runs.
AZD_PROVIDED = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID", "AZURE_PRINCIPAL_TYPE"}


def azure_yaml() -> dict:
    return yaml.safe_load(AZURE_YAML.read_text(encoding="utf-8"))


def hook_scripts(name: str) -> dict[str, Path]:
    hook = (azure_yaml().get("hooks") or {}).get(name)
    assert hook, f"azure.yaml has no {name} hook"
    return {platform: REPO_ROOT / hook[platform]["run"] for platform in ("posix", "windows")}


def readme_deploy_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = re.search(r"^#+ .*deploy", text, re.IGNORECASE | re.MULTILINE)
    assert start, "README has no deploy section"
    rest = text[start.end() :]
    end = re.search(r"^#{1,%d} " % start.group(0).count("#"), rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


# --- azd: `language: custom` is gated by the alpha feature language.custom -------------------


def test_custom_language_alpha_flag_is_documented_for_every_os():
    assert azure_yaml()["services"]["api"]["language"] == "custom"
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for text, where in ((doc, "docs/deploy.md"), (readme_deploy_section(), "README deploy section")):
        assert "azd config set alpha.language.custom on" in text, f"{where} must give the alpha flag command"
        assert "AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM=true" in text or "AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM" in text, where
    assert "no alpha flag" not in doc.lower()
    for os_name in ("macOS", "Windows", "Linux"):
        assert os_name in doc, f"docs/deploy.md: no step-by-step for {os_name}"
    # the flag comes before the first `azd up` in the walk-through
    assert doc.index("azd config set alpha.language.custom on") < doc.index("azd up\n")


# --- azd: a folder `dist` is zipped by azd (no Unix mode before 1.26.0) --------------------


def test_dist_is_the_zip_the_package_scripts_build_with_mode_0755():
    dist = azure_yaml()["services"]["api"]["dist"]
    assert dist.endswith(".zip"), "azd passes a .zip dist through unchanged; a folder it zips itself"
    package_sh = (REPO_ROOT / "scripts/package.sh").read_text(encoding="utf-8")
    assert f'ZIP="$REPO_ROOT/{dist}"' in package_sh
    assert "chmod 0755" in package_sh and '"$ZIP" "$OUT_DIR" --executable "$BIN"' in package_sh
    package_ps1 = (INFRA / "hooks/prepackage.ps1").read_text(encoding="utf-8")
    assert f"'{dist}'" in package_ps1
    assert "$zip $outDir --executable $bin" in package_ps1 and "$bin = 'snippets-mcp'" in package_ps1
    # Both hand the zip to scripts/lib/zip_package.py, which writes 0755 for --executable.
    assert "0o755 if arc in executables" in (REPO_ROOT / "scripts/lib/zip_package.py").read_text(encoding="utf-8")


def test_packaging_needs_nothing_from_provisioning():
    # `azd up` packages before it provisions (and recent azd overlaps the two).
    for path in (REPO_ROOT / "scripts/package.sh", INFRA / "hooks/prepackage.ps1"):
        text = path.read_text(encoding="utf-8")
        for needle in ("render-policies", "SESSION_TOKEN", "azd env", "infra/policies"):
            assert needle not in text, f"{rel(path)} depends on {needle}, which packaging cannot rely on"
    comment = "\n".join(line for line in AZURE_YAML.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    order = [comment.index(f"#   {step}") for step in ("preup", "package", "provision", "deploy")]
    assert order == sorted(order), "azure.yaml's comment must give azd up's real order"


# --- azd: parameters are resolved before the provision step's preprovision hook --------------


def required_parameter_variables() -> set[str]:
    text = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"\$\{([A-Z0-9_]+)\}", text)}  # no `=default`


def test_no_parameter_needs_a_hook_before_parameter_resolution():
    # azd resolves main.parameters.json before the provision step's preprovision hook: every
    # variable without a default is one azd provides itself. No secret is among them.
    assert required_parameter_variables() - AZD_PROVIDED == set()
    text = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    for name in ("SESSION_TOKEN", "MCP_FUNCTION_KEY", "KEY}"):
        assert name not in text, f"main.parameters.json references {name}"
    preprovision = hook_scripts("preprovision")
    assert {p.name for p in preprovision.values()} == {"preprovision.sh", "preprovision.ps1"}
    for platform, script in preprovision.items():
        text = script.read_text(encoding="utf-8")
        assert "prepare-environment" in text and "ensure-key-vault" in text, platform


# --- Functions host: keys exist only once code is deployed -------------------------------------


def test_no_host_keys_are_read_or_created_at_provision_time():
    for path in bicep_files():
        text = strip_comments(path.read_text(encoding="utf-8"))
        assert "Microsoft.Web/sites/host" not in text, f"{rel(path)} creates a host key resource"
        assert not re.search(r"listKeys\([^)]*host", text), f"{rel(path)} reads host keys while provisioning"
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert "mcpFunctionKey" not in params, "the host key reaches API Management through the vault"
    for platform, script in hook_scripts("postdeploy").items():
        text = script.read_text(encoding="utf-8")
        assert "McpFunctionKey" in text and "apim-function-key" in text and "refreshSecret" in text, platform
        assert "MCP_FUNCTION_KEY" not in text, "the key is never stored in .azure/"


# --- API Management: v2 tiers do not take protocol/cipher customProperties --------------------


def test_no_custom_properties_on_the_api_management_service():
    text = strip_comments((INFRA / "app/apim-service.bicep").read_text(encoding="utf-8"))
    assert "customProperties" not in text, "v2 tiers refuse changes to the protocol/cipher defaults"
    allowed = re.search(r"@allowed\(\[(.*?)\]\)\s*@description\([^)]*\)\s*param skuName", text, re.S).group(1)
    assert "'BasicV2'" in allowed and "'StandardV2'" in allowed


# --- Functions host: functionTimeout bounds every invocation, SSE streams included -------------

TIMESPAN_RE = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def timeout_seconds(value: str) -> float:
    """Seconds of a host.json functionTimeout; inf for -1 (unbounded, allowed on Flex Consumption)."""
    if value == "-1":
        return float("inf")
    m = TIMESPAN_RE.match(value)
    assert m, f"functionTimeout {value!r} is not -1 or [d.]hh:mm:ss"
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    assert hours < 24 and minutes < 60 and seconds < 60, value
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def test_function_timeout_is_set_and_lets_sse_streams_outlive_the_default():
    host = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    assert "functionTimeout" in host, "the Flex default (30 min) would end SSE streams"
    seconds = timeout_seconds(host["functionTimeout"])
    # Flex Consumption accepts any value >= 1 s, or -1 (no upper bound); the
    # default is 30 minutes, which ends long streams.
    assert seconds >= 1
    assert seconds > 30 * 60, "functionTimeout must be longer than the 30 minute default"


@pytest.mark.parametrize(
    "value,ok", [("-1", True), ("00:30:00", False), ("12:00:00", True), ("1.00:00:00", True), ("30", None)]
)
def test_function_timeout_parser(value, ok):
    if ok is None:
        with pytest.raises(AssertionError):
            timeout_seconds(value)
    else:
        assert (timeout_seconds(value) > 30 * 60) is ok
