"""Cross-references between the Bicep files, the policy manifest, the rendered
policy XML, main.parameters.json, azure.yaml and host.json."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra_helpers import (
    INFRA,
    POLICIES,
    REPO_ROOT,
    bicep_files,
    exported_variables,
    imports,
    module_params,
    parse_bicep,
    rel,
    strip_comments,
)

LOAD_RE = re.compile(r"\b(loadTextContent|loadJsonContent|loadFileAsBase64|loadYamlContent)\(\s*'([^']+)'")
NAMED_VALUE_REF_RE = re.compile(r"\{\{([^{}]+)\}\}")

# Named values the policies rely on (the contract between the policies and the infrastructure).
REQUIRED_NAMED_VALUES = {
    "McpEntraClientId": False,
    "EntraTenantId": False,
    "ApimIdentityClientId": False,
    "ApimGatewayUrl": False,
    "OAuthScopes": False,
    "SessionTokenEncKey": True,
    "SessionTokenMacKey": True,
    "McpFunctionKey": True,
    "RegistrationStoreUrl": False,
    # The previous pair of a session-key rotation and its deadline (docs/session-token.md).
    "SessionTokenPreviousEncKey": True,
    "SessionTokenPreviousMacKey": True,
    "SessionTokenPreviousUntil": True,  # a Key Vault secret, written with the keys
}

APIM_CONFIG = INFRA / "app" / "apim-config.bicep"
APIM_API = INFRA / "app" / "apim-api.bicep"
MAIN = INFRA / "main.bicep"
POLICY_FILES = POLICIES / "policy-files.bicep"


def loop_source(resource_or_module: dict) -> str:
    """`a.b` for `[for x in a.b: ...]` (pycep's loop tree, flattened)."""
    loop = resource_or_module["config"]["loop_type"]
    array = loop["detail"]["array_name"]
    if isinstance(array, str) and array.startswith("{"):
        array = ast.literal_eval(array)

    def flatten(node) -> str:
        if isinstance(node, str):
            return node
        operands = node["operator"]["operands"]
        return f"{flatten(operands['operand_1'])}.{flatten(operands['operand_2'])}"

    return flatten(array)


def load_map(var: str) -> dict[str, str]:
    """An object variable of policy-files.bicep, `'key': loadTextContent('path')` entries -> {key: path}."""
    value = parse_bicep(POLICY_FILES)["variables"][var]["value"]
    out = {}
    for key, expr in value.items():
        func = expr["function"]
        assert func["type"] == "load_text_content", f"{var}[{key}] is not loadTextContent"
        out[key.strip("'")] = func["parameters"]["file_path"]
    return out


# --- load*Content paths ----------------------------------------------------------


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_every_load_content_path_exists(path: Path):
    for func, target in LOAD_RE.findall(strip_comments(path.read_text(encoding="utf-8"))):
        resolved = (path.parent / target).resolve()
        assert resolved.is_file(), f"{rel(path)}: {func}('{target}') -> {resolved} does not exist"


# --- named values -----------------------------------------------------------------


def test_manifest_declares_the_named_values_the_task_requires(policy_manifest):
    declared = {nv["name"]: nv["secret"] for nv in policy_manifest["namedValues"]}
    for name, secret in REQUIRED_NAMED_VALUES.items():
        assert name in declared, f"manifest lacks named value {name}"
        assert declared[name] is secret, f"{name}: secret should be {secret}"


KEY_VAULT_SECRETS = INFRA / "core" / "security" / "key-vault-secrets.bicep"
# Key Vault named values whose manifest entries the previous-key support of the policies adds; the
# Bicep map may name them first (a name the manifest lacks is simply not created).
PENDING_PREVIOUS_KEY_NAMED_VALUES = {"SessionTokenPreviousEncKey", "SessionTokenPreviousMacKey", "SessionTokenPreviousUntil"}


def key_vault_map(var: str) -> dict[str, str]:
    value = parse_bicep(KEY_VAULT_SECRETS)["variables"][var]["value"]
    return {k.strip("'"): v for k, v in value.items()}


def test_bicep_creates_exactly_the_manifest_named_values(policy_manifest):
    tree = parse_bicep(APIM_CONFIG)
    assert loop_source(tree["resources"]["namedValues"]) == "manifest.namedValues"
    plain = set(tree["variables"]["namedValueValues"]["value"])
    vaulted = set(key_vault_map("apimSecretNamedValues"))
    declared = {nv["name"] for nv in policy_manifest["namedValues"]}
    assert not plain & vaulted, f"both a value and a Key Vault secret: {plain & vaulted}"
    assert plain | vaulted >= declared, f"only in the manifest: {declared - plain - vaulted}"
    assert (plain | vaulted) - declared <= PENDING_PREVIOUS_KEY_NAMED_VALUES, f"only in Bicep: {(plain | vaulted) - declared}"


def test_secret_named_values_are_key_vault_named_values(policy_manifest):
    # Every secret the manifest declares is read from the vault; no plain value is a secret.
    secret = {nv["name"] for nv in policy_manifest["namedValues"] if nv["secret"]}
    assert secret <= set(key_vault_map("apimSecretNamedValues")), secret
    text = strip_comments(APIM_CONFIG.read_text(encoding="utf-8"))
    assert "secretIdentifier: '${keyVaultUri}secrets/${apimSecretNamedValues[nv.name]}'" in text
    assert "identityClientId: apimIdentityClientId" in text
    assert "@secure()" not in text, "no secret passes through a parameter"


def test_every_named_value_referenced_in_policies_is_declared(policy_manifest):
    declared = {nv["name"] for nv in policy_manifest["namedValues"]}
    xml_files = sorted(POLICIES.rglob("*.xml"))
    assert xml_files, "no rendered policy XML under infra/policies/"
    missing = {}
    for path in xml_files:
        for ref in NAMED_VALUE_REF_RE.findall(path.read_text(encoding="utf-8")):
            if ref not in declared:
                missing.setdefault(ref, []).append(rel(path))
    assert not missing, f"{{{{named values}}}} used in policies but not created by Bicep: {missing}"


# --- fragments, APIs, operations, backends ------------------------------------------------


def test_fragments_deployed_from_the_manifest(policy_manifest):
    tree = parse_bicep(APIM_CONFIG)
    assert loop_source(tree["resources"]["fragments"]) == "manifest.fragments"
    files = load_map("fragmentXml")
    wanted = {f["file"] for f in policy_manifest["fragments"]}
    assert set(files) == wanted, f"fragmentXml: extra {set(files) - wanted}, missing {wanted - set(files)}"
    for key, path in files.items():
        assert path == key, f"fragmentXml['{key}'] loads {path}"
    ids = [f["id"] for f in policy_manifest["fragments"]]
    assert len(ids) == len(set(ids)), f"duplicate fragment ids: {ids}"


def test_policy_maps_are_generated_and_imported_not_hand_written():
    text = POLICY_FILES.read_text(encoding="utf-8")
    assert text.startswith("// GENERATED by `cargo run -p policies (binary render-policies)`"), "policy-files.bicep names its generator"
    assert exported_variables(text) == {"fragmentXml", "policyXml"}
    for path, name in ((APIM_CONFIG, "fragmentXml"), (APIM_API, "policyXml")):
        source = path.read_text(encoding="utf-8")
        assert ([name], "../policies/policy-files.bicep") in imports(source), f"{rel(path)} must import {name}"
        assert "loadTextContent(" not in strip_comments(source), f"{rel(path)} must not list policy files itself"
        assert "BEGIN policy-files" not in source, f"{rel(path)} still has a block for a second generator"
    assert not (INFRA / "hooks" / "sync-policy-files.py").exists()


def test_every_import_names_exported_variables():
    for path in bicep_files():
        for names, target in imports(path.read_text(encoding="utf-8")):
            source = (path.parent / target).resolve()
            assert source.is_file(), f"{rel(path)} imports from {target}, which does not exist"
            missing = set(names) - exported_variables(source.read_text(encoding="utf-8"))
            assert not missing, f"{rel(path)} imports {missing} from {target}, which does not @export() them"


def test_fragments_are_deployed_after_the_fragments_they_include(policy_manifest):
    # fragments deploy one at a time (@batchSize(1)) in manifest order.
    order = [f["id"] for f in policy_manifest["fragments"]]
    for i, fragment in enumerate(policy_manifest["fragments"]):
        text = (POLICIES / fragment["file"]).read_text(encoding="utf-8")
        for ref in re.findall(r'<include-fragment\s+fragment-id="([^"]+)"', text):
            assert ref in order[:i], f"fragment {fragment['id']} includes {ref}, which must come before it in the manifest"


def test_fragments_included_by_policies_exist(policy_manifest):
    ids = {f["id"] for f in policy_manifest["fragments"]}
    for path in sorted(POLICIES.rglob("*.xml")):
        for ref in re.findall(r'<include-fragment\s+fragment-id="([^"]+)"', path.read_text(encoding="utf-8")):
            assert ref in ids, f"{rel(path)} includes fragment {ref!r}, not in the manifest"


def test_api_and_operation_policies_deployed_from_the_manifest(policy_manifest):
    tree = parse_bicep(APIM_API)
    assert loop_source(tree["resources"]["operations"]) == "api.operations"
    assert loop_source(tree["resources"]["operationPolicies"]) == "api.operations"
    config = parse_bicep(APIM_CONFIG)
    assert loop_source(config["modules"]["apis"]) == "manifest.apis"

    files = load_map("policyXml")
    wanted = set()
    for api in policy_manifest["apis"]:
        if api.get("policy"):
            wanted.add(api["policy"])
        for op in api["operations"]:
            if op.get("policy"):
                wanted.add(op["policy"])
    assert set(files) == wanted, (
        "infra/app/apim-api.bicep policyXml must list exactly the manifest's API and operation policies: "
        f"extra {sorted(set(files) - wanted)}, missing {sorted(wanted - set(files))}"
    )
    for key, path in files.items():
        assert path == key, f"policyXml['{key}'] loads {path}"


def test_manifest_operations_are_deployable(policy_manifest):
    paths = set()
    for api in policy_manifest["apis"]:
        assert api["path"] not in paths, f"two APIs on path {api['path']!r}"
        paths.add(api["path"])
        names = [op["name"] for op in api["operations"]]
        assert len(names) == len(set(names)), f"{api['name']}: duplicate operation names {names}"
        routes = [(op["method"], op["urlTemplate"]) for op in api["operations"]]
        assert len(routes) == len(set(routes)), f"{api['name']}: duplicate method+urlTemplate"
        for op in api["operations"]:
            assert op["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"}, op
            assert op["urlTemplate"].startswith("/"), op
            # apim-api.bicep uses each template parameter as its name.
            for tp in op["templateParameters"]:
                assert isinstance(tp, str), f"{api['name']}/{op['name']}: templateParameters must be names"
                assert "{" + tp + "}" in op["urlTemplate"], f"{op['name']}: {tp} not in {op['urlTemplate']}"
    assert {"", "mcp"} <= paths, f"expected the OAuth API at the root and the MCP API at /mcp, got {paths}"


def test_mcp_api_exposes_both_transports(policy_manifest):
    mcp = next(api for api in policy_manifest["apis"] if api["path"] == "mcp")
    routes = {(op["method"], op["urlTemplate"]) for op in mcp["operations"]}
    for route in (("GET", "/sse"), ("POST", "/message"), ("POST", "/")):
        assert route in routes, f"MCP API lacks {route}"


def test_backends_from_the_manifest(policy_manifest):
    tree = parse_bicep(APIM_CONFIG)
    assert loop_source(tree["resources"]["backends"]) == "manifest.backends"
    urls = {k.strip("'") for k in tree["variables"]["backendUrls"]["value"]}
    ids = {b["id"] for b in policy_manifest["backends"]}
    assert "mcp-function-backend" in ids
    assert urls == ids, f"backendUrls keys {urls} != manifest backends {ids}"


# --- modules ------------------------------------------------------------------------------


def all_modules():
    for path in bicep_files():
        for name, module in (parse_bicep(path).get("modules") or {}).items():
            yield path, name, module


@pytest.mark.parametrize("path,name,module", list(all_modules()), ids=lambda v: v if isinstance(v, str) else None)
def test_module_params_match_declarations(path: Path, name: str, module: dict):
    assert module["type"] == "local", f"{rel(path)}: module {name} is not a local file"
    target = (path.parent / module["detail"]["path"]).resolve()
    assert target.is_file(), f"{rel(path)}: module {name} -> {target} missing"
    declared = parse_bicep(target).get("parameters") or {}
    passed = set(module_params(module))
    unknown = passed - set(declared)
    assert not unknown, f"{rel(path)}: module {name} passes {sorted(unknown)} not declared in {rel(target)}"
    required = {p for p, d in declared.items() if d.get("default") is None and not str(d.get("type", "")).endswith("?")}
    missing = required - passed
    assert not missing, f"{rel(path)}: module {name} does not pass required {sorted(missing)} of {rel(target)}"


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_module_outputs_referenced_exist(path: Path):
    tree = parse_bicep(path)
    modules = tree.get("modules") or {}
    text = strip_comments(path.read_text(encoding="utf-8"))
    for sym, out in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)!?(?:\[[^\]]*\])?\.outputs\.([A-Za-z_][A-Za-z0-9_]*)", text):
        assert sym in modules, f"{rel(path)}: {sym}.outputs.{out}: {sym} is not a module"
        target = (path.parent / modules[sym]["detail"]["path"]).resolve()
        outputs = parse_bicep(target).get("outputs") or {}
        assert out in outputs, f"{rel(path)}: {sym}.outputs.{out} is not an output of {rel(target)}"


# --- main.bicep, main.parameters.json ---------------------------------------------------------


def test_main_parameters_match_main_bicep():
    params = parse_bicep(MAIN)["parameters"]
    file = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(file) <= set(params), f"main.parameters.json sets undeclared {set(file) - set(params)}"
    required = {p for p, d in params.items() if d.get("default") is None}
    assert required <= set(file), f"main.parameters.json misses required {required - set(file)}"
    expect = {
        "environmentName": "${AZURE_ENV_NAME}",
        "location": "${AZURE_LOCATION}",
        "principalId": "${AZURE_PRINCIPAL_ID}",
        # azd substitutes it with the signed-in principal's type (User, or ServicePrincipal for a
        # client-id login): azure-dev cli/azd/pkg/infra/provisioning/bicep/bicep_provider.go:2157-2159,
        # current_principal_id_provider.go:61-77.
        "principalType": "${AZURE_PRINCIPAL_TYPE}",
        "deployerDataAccess": "${DEPLOYER_DATA_ACCESS=false}",
        "entraAssignmentRequired": "${ENTRA_ASSIGNMENT_REQUIRED=true}",
    }
    for key, value in expect.items():
        assert file[key]["value"] == value, f"{key} should be {value}"
    # No parameter carries a secret: the keys are in the Key Vault, written by a hook.
    assert not [k for k, d in params.items() if any(x["type"] == "secure" for x in d["decorators"])]


def test_main_outputs_for_azd():
    outputs = parse_bicep(MAIN)["outputs"]
    for name in ("AZURE_LOCATION", "AZURE_TENANT_ID", "SERVICE_API_NAME", "APIM_GATEWAY_URL", "MCP_SSE_URL", "MCP_STREAMABLE_URL"):
        assert name in outputs, f"main.bicep lacks output {name}"
    text = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert "output MCP_SSE_URL string = '${apimService.outputs.gatewayUrl}/mcp/sse'" in text
    assert "output MCP_STREAMABLE_URL string = '${apimService.outputs.gatewayUrl}/mcp'" in text
    for name, out in outputs.items():
        assert not re.search(r"(?i)key|secret|password", name) or name in ("ENTRA_APP_CLIENT_ID", "AZURE_KEY_VAULT_NAME", "AZURE_KEY_VAULT_URI"), f"output {name} looks secret"


def test_main_targets_subscription_and_creates_the_resource_group():
    tree = parse_bicep(MAIN)
    assert tree["globals"]["scope"]["value"] == "subscription"
    types = {r["type"] for r in tree["resources"].values()}
    assert "Microsoft.Resources/resourceGroups" in types


def test_apim_sku_defaults_to_basicv2_and_excludes_consumption():
    for path, param in ((MAIN, "apimSku"), (INFRA / "app" / "apim-service.bicep", "skuName")):
        decl = parse_bicep(path)["parameters"][param]
        assert decl["default"] == "BasicV2", f"{rel(path)}: {param} default"
        allowed = next(d["argument"] for d in decl["decorators"] if d["type"] == "allowed")
        assert "Consumption" not in allowed and "BasicV2" in allowed, allowed


# --- resource settings that matter --------------------------------------------------------------


def resource(path: Path, name: str) -> dict:
    config = parse_bicep(path)["resources"][name]["config"]
    while "properties" not in config and isinstance(config.get("config"), dict):
        config = config["config"]
    return config


def test_storage_is_identity_only():
    props = resource(INFRA / "core/storage/storage-account.bicep", "storage")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True


def test_storage_containers_and_app_settings():
    params = module_params(parse_bicep(MAIN)["modules"]["storage"])
    containers = params["containers"]
    assert "snippetsContainerName" in containers and "registrationsContainerName" in containers
    assert "deploymentContainerName" in containers
    variables = parse_bicep(MAIN)["variables"]
    assert variables["snippetsContainerName"]["value"] == "snippets"
    assert variables["registrationsContainerName"]["value"] == "registrations"
    # The SSE relay creates its queues at run time: the Function identity
    # needs the queue role, checked in test_role_assignments_are_least_privilege.
    assert params["queues"] == []
    settings = module_params(parse_bicep(MAIN)["modules"]["functionApp"])["appSettings"]
    assert settings["SNIPPETS_CONTAINER"] == "snippetsContainerName"
    assert settings["MCP_RESOURCE_URL"] == "${apimService.outputs.gatewayUrl}/mcp"


def test_function_app_settings_and_runtime():
    path = INFRA / "app/function-app.bicep"
    tree = parse_bicep(path)
    settings = tree["variables"]["baseAppSettings"]["value"]
    assert settings["AzureWebJobsFeatureFlags"] == "EnableMcpCustomHandlerPreview"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for key in (
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    ):
        assert key in settings, f"app setting {key} missing"
    # The session-token keys: versionless Key Vault references to the secrets of key-vault-secrets.bicep.
    for key, secret in key_vault_map("functionSecretSettings").items():
        assert settings[key] == f"@Microsoft.KeyVault(SecretUri=${{keyVaultUri}}secrets/${{functionSecretSettings.{key}}})", key
    assert not any(k == "AzureWebJobsStorage" for k in settings), "no connection-string storage setting"
    assert tree["parameters"]["runtimeName"]["default"] == "custom"
    assert not [p for p, d in tree["parameters"].items() if any(x["type"] == "secure" for x in d["decorators"])]
    site = resource(path, "functionApp")
    # A user-assigned identity resolves the references (bicep-types-az web 2025-03-01 types.md:3867).
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"


def test_role_assignments_are_least_privilege():
    text = (INFRA / "core/rbac/storage-roles.bicep").read_text(encoding="utf-8")
    tree = parse_bicep(INFRA / "core/rbac/storage-roles.bicep")
    variables = {k: v["value"] for k, v in tree["variables"].items()}
    assert variables["storageBlobDataOwner"] == "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
    assert variables["storageBlobDataContributor"] == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert variables["storageQueueDataContributor"] == "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
    apim = resource(INFRA / "core/rbac/storage-roles.bicep", "apimRegistrations")
    assert apim["scope"] == "registrationsContainer", "APIM's blob role must be scoped to the registrations container"
    assert "Owner" not in json.dumps(apim)
    assert "'Microsoft.Authorization/roleAssignments" in text
    mon = (INFRA / "core/rbac/monitoring-roles.bicep").read_text(encoding="utf-8")
    assert "3913510d-42f4-4e42-8a64-420c390055eb" in mon  # Monitoring Metrics Publisher


def test_entra_app_trusts_apim_identity():
    text = (INFRA / "app/entra-app.bicep").read_text(encoding="utf-8")
    assert "'Microsoft.Graph/applications@v1.0'" in text
    assert "'Microsoft.Graph/servicePrincipals@v1.0'" in text
    assert "federatedIdentityCredentials@v1.0" in text
    assert "'api://AzureADTokenExchange'" in text
    assert "subject: apimIdentityPrincipalId" in text
    assert "passwordCredentials" not in text, "no client secret"
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert "redirectUri: '${apimService.outputs.gatewayUrl}/oauth-callback'" in main


def test_diagnostics_never_log_bodies_or_headers():
    for path in (APIM_CONFIG, APIM_API):
        text = strip_comments(path.read_text(encoding="utf-8"))
        bytes_values = re.findall(r"bytes:\s*(\S+)", text)
        assert bytes_values and all(v == "0" for v in bytes_values), f"{rel(path)}: body bytes {bytes_values}"
        assert re.findall(r"headers:\s*\[\s*\]", text), f"{rel(path)}: headers must be empty"
        assert "logClientIp: false" in text


def test_named_value_secrets_not_in_outputs():
    for path in bicep_files():
        tree = parse_bicep(path)
        for name, out in (tree.get("outputs") or {}).items():
            blob = json.dumps(out)
            for secret in ("sessionTokenEncKey", "sessionTokenMacKey", "listKeys"):
                assert secret not in blob, f"{rel(path)}: output {name} exposes {secret}"


# --- azure.yaml --------------------------------------------------------------------------------


def test_azure_yaml_service_and_hooks():
    doc = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert doc["infra"]["path"] == "infra" and doc["infra"]["module"] == "main"
    api = doc["services"]["api"]
    assert api["host"] == "function"
    assert api["language"] == "custom"
    assert api["dist"] == "function_app.zip"
    assert api["project"] == "."
    hooks = []
    for name, hook in (doc.get("hooks") or {}).items():
        hooks.append((name, hook))
    for name, hook in (api.get("hooks") or {}).items():
        hooks.append((name, hook))
    names = {n for n, _ in hooks}
    assert {"preup", "preprovision", "prepackage", "postdeploy"} <= names, names
    for name, hook in hooks:
        for platform in ("posix", "windows"):
            assert platform in hook, f"hook {name} lacks a {platform} variant"
            run = hook[platform]["run"]
            script = REPO_ROOT / run
            assert script.is_file(), f"hook {name}/{platform}: {run} does not exist"
            if platform == "posix":
                assert os.access(script, os.X_OK), f"{run} must be executable (azd runs posix hooks directly)"
                assert script.read_text(encoding="utf-8").startswith("#!"), f"{run} needs a shebang"
            else:
                assert hook[platform]["shell"] == "pwsh" and run.endswith(".ps1")
    prepackage = dict(hooks)["prepackage"]
    assert prepackage["posix"]["run"] == "scripts/package.sh"


def test_host_json_names_the_packaged_binary():
    host = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["configurationProfile"] == "mcp-custom-handler"
    assert host["customHandler"]["description"]["defaultExecutablePath"] == "snippets-mcp"
    assert "BIN=snippets-mcp" in (REPO_ROOT / "scripts/package.sh").read_text(encoding="utf-8")


# --- what the policies need from the infrastructure -----------------------------------------------


def test_policies_reference_only_deployed_backends(policy_manifest):
    ids = {b["id"] for b in policy_manifest["backends"]}
    for path in sorted(POLICIES.rglob("*.xml")):
        for ref in re.findall(r'backend-id="([^"]+)"', path.read_text(encoding="utf-8")):
            assert ref in ids, f"{rel(path)} uses backend {ref!r}, not in the manifest"


def test_mcp_api_streams_unbuffered_to_the_function_backend(policy_manifest):
    import xml.etree.ElementTree as ET

    mcp = next(api for api in policy_manifest["apis"] if api["path"] == "mcp")
    files = [mcp["policy"]] + [op["policy"] for op in mcp["operations"] if op.get("policy")]
    forwards, backends, key_headers = [], [], []
    for rel_path in files:
        root = ET.parse(POLICIES / rel_path).getroot()
        forwards += root.iter("forward-request")
        backends += [e.get("backend-id") for e in root.iter("set-backend-service")]
        key_headers += [e for e in root.iter("set-header") if e.get("name") == "x-functions-key"]
    assert forwards, "the MCP API must forward requests"
    for forward in forwards:
        assert forward.get("buffer-response") == "false", "SSE needs forward-request buffer-response=\"false\""
    assert "mcp-function-backend" in backends
    assert key_headers and all("{{McpFunctionKey}}" in "".join(h.itertext()) for h in key_headers)


# --- portability and docs --------------------------------------------------------------------


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_no_hardcoded_cloud_endpoints(path: Path):
    # Sovereign clouds: endpoints come from environment() or resource properties.
    text = strip_comments(path.read_text(encoding="utf-8"))
    for host in ("core.windows.net", "azure-api.net", "azurewebsites.net", "login.microsoftonline.com", "management.azure.com"):
        assert host not in text, f"{rel(path)} hard-codes {host}"


def test_deploy_doc_names_real_outputs():
    outputs = set(parse_bicep(MAIN)["outputs"])
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:MCP|APIM|SERVICE|ENTRA|AZURE)_[A-Z_]+)`", doc))
    # azd inputs and values the hooks store, not outputs
    named -= {"AZURE_PRINCIPAL_ID", "AZURE_PRINCIPAL_TYPE", "AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID", "MCP_FUNCTION_KEY"}
    assert named, "docs/deploy.md should name the azd outputs"
    assert named <= outputs, f"docs/deploy.md names outputs main.bicep lacks: {sorted(named - outputs)}"
    assert "azd down --purge" in doc
