"""Networking modes (docs/deploy.md, "Networking"), checked on main.bicep evaluated with the
parameters of each mode (bicep_eval.py follows the modules):

- default: no VNet; the Function App and storage take public traffic (the function key and Entra
  ID guard them);
- VNET_ENABLED: storage behind private endpoints with its public endpoint on, default Deny, and a
  resource-instance rule for API Management (BasicV2 cannot join a VNet); the Function App is
  VNet-integrated but still public;
- PRIVATE_BACKEND (APIM_SKU StandardV2): API Management joins the VNet for its outbound calls, the
  Function App admits only that subnet, storage's public endpoint is disabled.

The properties written are checked against an excerpt of Azure/bicep-types-az
(tests/infra/fixtures/bicep-types-networking.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bicep_eval import ModuleRef, Symbol, allowed_values, main
from bicep_types_versions import load_fixture
from infra_helpers import INFRA, rel

TYPES = Path(__file__).parent / "fixtures" / "bicep-types-networking.json"
PRIVATE = {"privateBackend": True, "apimSku": "StandardV2"}
# The keys the private option adds; none of them may be set when it is off.
RESTRICTION_KEYS = {
    "ipSecurityRestrictions",
    "ipSecurityRestrictionsDefaultAction",
    "scmIpSecurityRestrictionsUseMain",
    "scmIpSecurityRestrictionsDefaultAction",
}


def site(deployment) -> dict:
    return deployment.module("functionApp").resource("functionApp")["properties"]


def storage(deployment) -> dict:
    return deployment.module("storage").resource("storage")["properties"]


def gateway(deployment) -> dict:
    return deployment.module("apimService").resource("apim")["properties"]


def subnets(deployment) -> dict[str, dict]:
    body = deployment.module("vnet").resource("vnet")
    return {s["name"]: s for s in body["properties"]["subnets"]}


def depends_on(deployment, module: str) -> set[str]:
    _, _, body = deployment.decls.modules[module]
    return {d.symbol for d in deployment.eval(body).get("dependsOn", []) if isinstance(d, ModuleRef)}


# --- the parameter ------------------------------------------------------------------------------------


def test_private_backend_is_a_parameter_off_by_default():
    deployment = main()
    assert deployment.lookup("privateBackend") is False
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert params["privateBackend"]["value"] == "${PRIVATE_BACKEND=false}"
    assert params["vnetEnabled"]["value"] == "${VNET_ENABLED=false}"


def test_private_backend_requires_standard_v2_before_anything_networked_is_created():
    guard = INFRA / "core" / "network" / "vnet-integration-sku.bicep"
    assert allowed_values(guard, "apimSku") == ["StandardV2"]
    assert main().deployed("module", "privateBackendSku") is False
    deployment = main(**PRIVATE)
    assert deployment.deployed("module", "privateBackendSku") is True
    assert deployment.module("privateBackendSku").params["apimSku"] == "StandardV2"
    assert main(privateBackend=True, apimSku="BasicV2").module("privateBackendSku").params["apimSku"] == "BasicV2"
    for module in ("vnet", "apimService"):
        assert "privateBackendSku" in depends_on(deployment, module), f"{module} must wait for the SKU guard"


# --- off: today's shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("apim_sku", ["BasicV2", "StandardV2"])
def test_default_deployment_is_public_and_has_no_vnet(apim_sku):
    deployment = main(apimSku=apim_sku)
    for module in ("vnet", "storagePrivateEndpoints", "privateBackendSku"):
        assert deployment.deployed("module", module) is False, module
    app = site(deployment)
    assert app["publicNetworkAccess"] == "Enabled"
    assert "virtualNetworkSubnetId" not in app
    assert not RESTRICTION_KEYS & set(app["siteConfig"]), "no access restrictions without the private backend"
    st = storage(deployment)
    assert st["publicNetworkAccess"] == "Enabled"
    assert st["networkAcls"] == {"defaultAction": "Allow", "bypass": "AzureServices"}
    assert not {"virtualNetworkType", "virtualNetworkConfiguration"} & set(gateway(deployment))


@pytest.mark.parametrize("apim_sku", ["BasicV2", "StandardV2"])
def test_vnet_alone_keeps_storage_reachable_for_the_gateway_and_the_app_public(apim_sku):
    deployment = main(vnetEnabled=True, apimSku=apim_sku)
    assert deployment.deployed("module", "vnet") and deployment.deployed("module", "storagePrivateEndpoints")
    assert deployment.deployed("module", "privateBackendSku") is False
    assert list(subnets(deployment)) == ["app", "private-endpoints"]
    assert deployment.module("vnet").output("apimSubnetId") == ""
    app = site(deployment)
    assert app["publicNetworkAccess"] == "Enabled"
    assert app["virtualNetworkSubnetId"] == deployment.module("vnet").output("appSubnetId")
    assert not RESTRICTION_KEYS & set(app["siteConfig"])
    st = storage(deployment)
    # The public endpoint stays on, denies by default and admits API Management's instance only.
    assert st["publicNetworkAccess"] == "Enabled"
    acls = st["networkAcls"]
    assert (acls["defaultAction"], acls["bypass"]) == ("Deny", "None")
    (rule,) = acls["resourceAccessRules"]
    assert "Microsoft.ApiManagement/service" in str(rule["resourceId"])
    assert not {"virtualNetworkType", "virtualNetworkConfiguration"} & set(gateway(deployment))


# --- on: the private backend ------------------------------------------------------------------------------


@pytest.mark.parametrize("vnet_enabled", [False, True])
def test_private_backend_closes_the_function_app_to_everyone_but_the_gateway(vnet_enabled):
    deployment = main(vnetEnabled=vnet_enabled, **PRIVATE)
    apim_subnet = deployment.module("vnet").output("apimSubnetId")
    assert isinstance(apim_subnet, Symbol) and apim_subnet.text.endswith("/subnets/apim")
    config = site(deployment)["siteConfig"]
    # Requests that match no rule get 403 from the platform: the default action is Deny, and the
    # only rule admits the gateway's subnet (no IP range, no service tag).
    assert config["ipSecurityRestrictionsDefaultAction"] == "Deny"
    (rule,) = config["ipSecurityRestrictions"]
    assert rule["action"] == "Allow" and rule["vnetSubnetResourceId"] == apim_subnet
    assert not {"ipAddress", "tag", "subnetMask", "headers"} & set(rule)
    # The deployment endpoint keeps its own rules, open to azd (it takes Entra ID tokens only).
    assert config["scmIpSecurityRestrictionsUseMain"] is False
    assert config["scmIpSecurityRestrictionsDefaultAction"] == "Allow"
    assert deployment.module("functionApp").resource("basicPublishingScm")["properties"]["allow"] is False
    # Its own calls still leave through the app subnet.
    assert site(deployment)["virtualNetworkSubnetId"] == deployment.module("vnet").output("appSubnetId")


@pytest.mark.parametrize("vnet_enabled", [False, True])
def test_private_backend_integrates_the_gateway_and_disables_public_storage(vnet_enabled):
    deployment = main(vnetEnabled=vnet_enabled, **PRIVATE)
    apim_subnet = deployment.module("vnet").output("apimSubnetId")
    apim = gateway(deployment)
    assert apim["virtualNetworkType"] == "External"
    assert apim["virtualNetworkConfiguration"] == {"subnetResourceId": apim_subnet}
    assert deployment.deployed("module", "storagePrivateEndpoints")
    st = storage(deployment)
    assert st["publicNetworkAccess"] == "Disabled"
    assert st["networkAcls"]["defaultAction"] == "Deny" and st["networkAcls"]["resourceAccessRules"] == []


def test_the_gateway_subnet_meets_the_vnet_integration_requirements():
    deployment = main(**PRIVATE)
    nets = subnets(deployment)
    assert list(nets) == ["app", "private-endpoints", "apim"]
    props = nets["apim"]["properties"]
    # Delegated to Microsoft.Web/serverFarms, with a network security group, /27 or larger.
    assert [d["properties"]["serviceName"] for d in props["delegations"]] == ["Microsoft.Web/serverFarms"]
    assert props["networkSecurityGroup"] == {"id": Symbol("nsg.id")}
    prefix = int(props["addressPrefix"].split("/")[1])
    assert prefix <= 27, props["addressPrefix"]
    # The Microsoft.Web service endpoint is what lets the app's rule recognise the gateway's calls.
    assert [e["service"] for e in props["serviceEndpoints"]] == ["Microsoft.Web"]
    assert props["defaultOutboundAccess"] is True
    # No overlap with the other subnets.
    prefixes = {name: s["properties"]["addressPrefix"] for name, s in nets.items()}
    assert len(set(prefixes.values())) == 3, prefixes


# --- against bicep-types-az -----------------------------------------------------------------------------


def objects() -> dict:
    return json.loads(TYPES.read_text(encoding="utf-8"))["objects"]


def written(deployment) -> list[tuple[str, str, dict]]:
    """(where, excerpt object, body) for every object the networking options write."""
    web, apim = "Microsoft.Web/sites@2025-03-01", "Microsoft.ApiManagement/service@2024-05-01"
    net, st = "Microsoft.Network/virtualNetworks@2025-09-01", "Microsoft.Storage/storageAccounts@2026-04-01"
    app = site(deployment)
    out = [
        ("function app properties", f"{web} SiteProperties", app),
        ("function app siteConfig", f"{web} SiteConfig", app["siteConfig"]),
        ("API Management properties", f"{apim} ApiManagementServiceProperties", gateway(deployment)),
        ("storage properties", f"{st} StorageAccountPropertiesCreateParametersOrStorageAccountProperties", storage(deployment)),
        ("storage networkAcls", f"{st} NetworkRuleSet", storage(deployment)["networkAcls"]),
    ]
    out += [("access restriction", f"{web} IpSecurityRestriction", r) for r in app["siteConfig"].get("ipSecurityRestrictions", [])]
    out += [("storage resource rule", f"{st} ResourceAccessRule", r) for r in storage(deployment)["networkAcls"].get("resourceAccessRules", [])]
    if "virtualNetworkConfiguration" in gateway(deployment):
        out.append(("API Management VNet", f"{apim} VirtualNetworkConfiguration", gateway(deployment)["virtualNetworkConfiguration"]))
    if deployment.deployed("module", "vnet"):
        for name, subnet in subnets(deployment).items():
            out.append((f"subnet {name}", f"{net} Subnet", subnet))
            out.append((f"subnet {name} properties", f"{net} SubnetPropertiesFormat", subnet["properties"]))
            for e in subnet["properties"].get("serviceEndpoints", []):
                out.append((f"subnet {name} service endpoint", f"{net} ServiceEndpointPropertiesFormat", e))
            for d in subnet["properties"].get("delegations", []):
                out.append((f"subnet {name} delegation", f"{net} Delegation", d))
                out.append((f"subnet {name} delegation properties", f"{net} ServiceDelegationPropertiesFormat", d["properties"]))
    return out


MODES = {"default": {}, "vnet": {"vnetEnabled": True}, "private": PRIVATE}


@pytest.mark.parametrize("mode", list(MODES))
def test_written_properties_and_values_exist_in_bicep_types(mode):
    types = objects()
    for where, key, body in written(main(**MODES[mode])):
        entry = types[key]
        unknown = set(body) - set(entry["properties"])
        assert not unknown, f"{mode}: {where}: {sorted(unknown)} not in {key} ({entry['file']}:{entry['line']})"
        for prop, value in body.items():
            allowed = entry["properties"][prop].get("values")
            if allowed and isinstance(value, str):
                # The types list known values and accept any string; a value outside them is a typo here.
                assert value in allowed, f"{mode}: {where}.{prop} = {value!r}, known values {allowed}"


def test_excerpt_is_pinned_with_the_api_versions_in_use():
    data = json.loads(TYPES.read_text(encoding="utf-8"))
    assert data["repository"] == "Azure/bicep-types-az"
    assert data["commit"] == load_fixture()["commit"]
    ga = {k.lower(): v["version"] for k, v in load_fixture()["newestGa"].items()}
    for key, entry in data["objects"].items():
        type_, version = key.split(" ")[0].rsplit("@", 1)
        assert ga[type_.lower()] == version, f"{key}: the template uses {ga[type_.lower()]}"
        assert re.fullmatch(r"generated/[^ ]+/" + re.escape(version) + r"/types\.md", entry["file"]), entry["file"]
    texts = {p: p.read_text(encoding="utf-8") for p in (INFRA / "app" / "function-app.bicep", INFRA / "app" / "apim-service.bicep")}
    assert "'Microsoft.Web/sites@2025-03-01'" in texts[INFRA / "app" / "function-app.bicep"], rel(INFRA / "app" / "function-app.bicep")
    assert "'Microsoft.ApiManagement/service@2024-05-01'" in texts[INFRA / "app" / "apim-service.bicep"]
