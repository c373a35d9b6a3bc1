"""The Key Vault as the system of record of the shared keys, checked offline.

The hooks run against a stub `az` (and `azd`) that keeps a vault, the Function App's host keys and
API Management's named value in a JSON file and records every call: a vault that has the secrets
gets no write, an empty one exactly one per secret, a value never appears in a hook's output nor
on a command line. The Bicep side: who may read which secret, and which app roles exist."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from infra_helpers import FAKE_AZD, INFRA, REPO_ROOT, fake_tools, parse_bicep, strip_comments

HOOKS = INFRA / "hooks"
SECRETS_BICEP = INFRA / "core" / "security" / "key-vault-secrets.bicep"
KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")
SUB = "00000000-0000-0000-0000-000000000001"
OID = "00000000-0000-0000-0000-0000000000aa"

FAKE_AZ = r"""#!/usr/bin/env python3
import json, os, secrets, sys
path = os.environ["FAKE_AZ_STATE"]
state = json.load(open(path))
args = sys.argv[1:]
state["calls"].append(args)
def opt(name):
    return args[args.index(name) + 1] if name in args else None
def save():
    json.dump(state, open(path, "w"))
def done(out=None):
    save()
    if out is not None:
        print(out)
    sys.exit(0)
if args[:2] == ["account", "show"]:
    done("user" if opt("--query") == "user.type" else None)
if args[:3] == ["ad", "signed-in-user", "show"]:
    done(os.environ["FAKE_OID"])
if args[:2] == ["keyvault", "list-deleted"]:
    done("")
if args[:3] == ["deployment", "sub", "create"]:
    done(state["vault"])
if args[:3] == ["keyvault", "secret", "show"]:
    name = opt("--name")
    if name not in state["secrets"]:
        save(); print(f"ERROR: (SecretNotFound) A secret with (name/id) {name} was not found in this key vault.", file=sys.stderr); sys.exit(3)
    q = opt("--query")
    s = state["secrets"][name]
    done(s["value"] if q == "value" else s["tags"].get("host-key", "") if q and "host-key" in q else None)
if args[:3] == ["keyvault", "secret", "set"]:
    assert opt("--file") == "/dev/stdin" and "--value" not in args
    value = sys.stdin.read()
    tags = dict(t.split("=", 1) for t in ([opt("--tags")] if opt("--tags") else []))
    state["secrets"][opt("--name")] = {"value": value, "tags": tags}
    state["written"].append(value)
    done()
if args[:3] == ["functionapp", "keys", "list"]:
    name = opt("--query").split('"')[1]
    done(state["hostKeys"].get(name, ""))
if args[:3] == ["functionapp", "keys", "set"]:
    state["hostKeys"][opt("--key-name")] = secrets.token_urlsafe(40)
    done('{"value": "' + state["hostKeys"][opt("--key-name")] + '"}')
if args[:3] == ["functionapp", "keys", "delete"]:
    state["hostKeys"].pop(opt("--key-name"))
    done()
if args[:2] == ["rest", "--method"] and opt("--method") == "post":
    state["refreshedAt"] = "2999-01-01T00:00:00Z"
    done()
if args[:2] == ["rest", "--method"] and opt("--method") == "get":
    done("Success\n" + state.get("refreshedAt", "2000-01-01T00:00:00Z"))
save()
sys.exit(f"fake az: unexpected {args}")
"""

ALL_SECRETS = [
    "session-token-enc-key",
    "session-token-mac-key",
    "session-token-previous-enc-key",
    "session-token-previous-mac-key",
    "session-token-previous-until",
    "apim-function-key",
]
AZD_ENV = {
    "AZURE_ENV_NAME": "dev",
    "AZURE_LOCATION": "swedencentral",
    "AZURE_SUBSCRIPTION_ID": SUB,
    "AZURE_RESOURCE_GROUP": "rg-dev",
    "SERVICE_API_NAME": "func-snippets-abc123",
    "AZURE_APIM_NAME": "apim-abc123",
    "AZURE_KEY_VAULT_NAME": "kv-abc123",
}


@pytest.fixture
def azure(tmp_path: Path):
    tools = fake_tools(tmp_path, {"azd": FAKE_AZD, "az": FAKE_AZ})
    store, state_path = tmp_path / "azd.json", tmp_path / "az.json"
    store.write_text(json.dumps(AZD_ENV))

    def run(script: Path, state: dict):
        full = {"vault": "kv-abc123", "secrets": {}, "hostKeys": {}, "calls": [], "written": []} | state
        full["calls"], full["written"] = [], []
        state_path.write_text(json.dumps(full))
        env = dict(os.environ, AZD=str(tools["azd"]), AZ=str(tools["az"]), FAKE_AZD_STORE=str(store),
                   FAKE_AZ_STATE=str(state_path), FAKE_OID=OID, RBAC_WAIT_SECONDS="0", ROTATE_WAIT_SECONDS="0")
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
        return proc, json.loads(state_path.read_text())

    return run


def sets(state: dict) -> list[str]:
    return [c[c.index("--name") + 1] for c in state["calls"] if c[:3] == ["keyvault", "secret", "set"]]


def assert_never_shown(proc, state):
    out = proc.stdout + proc.stderr
    for value in state["written"] + [s["value"] for s in state["secrets"].values()]:
        if len(value) > 4:
            assert value not in out, "a secret value reached the hook's output"
            assert not any(value in arg for call in state["calls"] for arg in call), "a value on a command line"


def full_vault() -> dict:
    return {name: {"value": base64.b64encode(os.urandom(32)).decode(), "tags": {}} for name in ALL_SECRETS}


# --- ensure-key-vault (preprovision) ------------------------------------------------------------


def test_an_empty_vault_gets_each_secret_exactly_once(azure):
    proc, state = azure(HOOKS / "ensure-key-vault.sh", {})
    assert proc.returncode == 0, proc.stderr
    assert sorted(sets(state)) == sorted(ALL_SECRETS)
    secrets = state["secrets"]
    for name in ("session-token-enc-key", "session-token-mac-key"):
        assert KEY_RE.match(secrets[name]["value"]) and len(base64.b64decode(secrets[name]["value"])) == 32
    assert secrets["session-token-enc-key"]["value"] != secrets["session-token-mac-key"]["value"]
    assert secrets["session-token-previous-enc-key"]["value"] == "none"
    assert secrets["session-token-previous-mac-key"]["value"] == "none"
    assert secrets["session-token-previous-until"]["value"] == "0"
    assert secrets["apim-function-key"]["value"] == "unbound-until-first-deploy"
    assert_never_shown(proc, state)
    deploy = next(c for c in state["calls"] if c[:3] == ["deployment", "sub", "create"])
    assert str(INFRA / "key-vault.bicep") in deploy and f"principalId={OID}" in deploy and "principalType=User" in deploy
    # The vault exists before any secret is read or written.
    first_secret_call = min(i for i, c in enumerate(state["calls"]) if c[:2] == ["keyvault", "secret"])
    assert state["calls"].index(deploy) < first_secret_call


def test_a_second_machine_changes_no_secret(azure):
    # An empty .azure/ elsewhere: the azd environment has only what azd itself sets.
    before = full_vault()
    proc, state = azure(HOOKS / "ensure-key-vault.sh", {"secrets": before})
    assert proc.returncode == 0, proc.stderr
    assert sets(state) == []
    assert state["secrets"] == before
    assert_never_shown(proc, state)


def test_only_the_missing_secret_is_written(azure):
    before = full_vault()
    del before["session-token-previous-until"]
    proc, state = azure(HOOKS / "ensure-key-vault.sh", {"secrets": before})
    assert proc.returncode == 0, proc.stderr
    assert sets(state) == ["session-token-previous-until"]


def test_no_secret_variable_reaches_bicep():
    params = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    assert not re.search(r"SESSION_TOKEN|FUNCTION_KEY|SECRET", params)
    for path in (INFRA / "main.bicep", INFRA / "key-vault.bicep"):
        tree = parse_bicep(path)
        assert not [p for p, d in tree["parameters"].items() if any(x["type"] == "secure" for x in d["decorators"])]
        for name, out in (tree.get("outputs") or {}).items():
            assert "listSecrets" not in json.dumps(out) and "secrets/" not in json.dumps(out), name
    assert "Microsoft.KeyVault/vaults/secrets@" not in re.sub(r"resource \w+ '[^']+' existing", "", strip_comments((INFRA / "core/rbac/key-vault-roles.bicep").read_text()))
    for path in INFRA.rglob("*.bicep"):
        text = strip_comments(path.read_text(encoding="utf-8"))
        # Bicep never writes a secret: every secrets resource is an `existing` reference.
        for m in re.finditer(r"resource \w+ 'Microsoft\.KeyVault/vaults/secrets@[^']+'( existing)?", text):
            assert m.group(1), f"{path}: writes a secret"
        assert "deploymentScripts" not in text


def test_hook_secret_names_are_the_bicep_names():
    tree = parse_bicep(SECRETS_BICEP)["variables"]
    names = {v for v in tree["functionSecretSettings"]["value"].values()} | set(tree["apimSecretNamedValues"]["value"].values())
    assert names == set(ALL_SECRETS)
    assert list(tree["functionSecretNames"]["value"]) == list(tree["functionSecretSettings"]["value"].values())
    assert list(tree["apimSecretNames"]["value"]) == list(tree["apimSecretNamedValues"]["value"].values())
    for script in ("ensure-key-vault.sh", "ensure-key-vault.ps1"):
        text = (HOOKS / script).read_text(encoding="utf-8")
        for name in ALL_SECRETS:
            assert name in text, f"{script} lacks {name}"


# --- bind-function-key (postdeploy) ---------------------------------------------------------------


def test_bind_creates_the_apim_host_key_and_stores_it_once(azure):
    secrets = full_vault() | {"apim-function-key": {"value": "unbound-until-first-deploy", "tags": {}}}
    proc, state = azure(HOOKS / "bind-function-key.sh", {"secrets": secrets})
    assert proc.returncode == 0, proc.stderr
    assert "apim" in state["hostKeys"]
    assert state["secrets"]["apim-function-key"] == {"value": state["hostKeys"]["apim"], "tags": {"host-key": "apim"}}
    posts = [c for c in state["calls"] if c[:3] == ["rest", "--method", "post"]]
    assert len(posts) == 1 and posts[0][-1].endswith("/namedValues/McpFunctionKey/refreshSecret?api-version=2024-05-01")
    assert_never_shown(proc, state)
    # Run again: the vault already holds the key, nothing is written or refreshed.
    proc, again = azure(HOOKS / "bind-function-key.sh", {"secrets": state["secrets"], "hostKeys": state["hostKeys"]})
    assert proc.returncode == 0, proc.stderr
    assert sets(again) == [] and not [c for c in again["calls"] if c[:1] == ["rest"]]


@pytest.mark.parametrize("name,value", [("AZURE_KEY_VAULT_NAME", "kv;rm"), ("SERVICE_API_NAME", "--x")])
def test_bind_refuses_bad_names_before_calling_azure(azure, tmp_path, name, value):
    store = tmp_path / "azd.json"
    proc = None
    store.write_text(json.dumps(AZD_ENV | {name: value}))
    proc, state = azure(HOOKS / "bind-function-key.sh", {})
    assert proc.returncode != 0 and name in proc.stderr
    assert state["calls"] == []


# --- rotate-function-key ----------------------------------------------------------------------


def test_rotation_creates_stores_refreshes_then_deletes(azure):
    secrets = full_vault() | {"apim-function-key": {"value": "K" * 40, "tags": {"host-key": "apim"}}}
    proc, state = azure(REPO_ROOT / "scripts" / "rotate-function-key.sh", {"secrets": secrets, "hostKeys": {"apim": "K" * 40}})
    assert proc.returncode == 0, proc.stderr
    calls = state["calls"]

    def index(pred):
        return next(i for i, c in enumerate(calls) if pred(c))

    created = index(lambda c: c[:3] == ["functionapp", "keys", "set"] and "apim-a" in c)
    stored = index(lambda c: c[:3] == ["keyvault", "secret", "set"])
    refreshed = index(lambda c: c[:3] == ["rest", "--method", "post"])
    confirmed = index(lambda c: c[:3] == ["rest", "--method", "get"])
    deleted = index(lambda c: c[:3] == ["functionapp", "keys", "delete"] and "apim" in c)
    assert created < stored < refreshed < confirmed < deleted
    assert set(state["hostKeys"]) == {"apim-a"}
    assert state["secrets"]["apim-function-key"] == {"value": state["hostKeys"]["apim-a"], "tags": {"host-key": "apim-a"}}
    assert_never_shown(proc, state)
    # The next rotation goes back to apim-b.
    proc, nxt = azure(REPO_ROOT / "scripts" / "rotate-function-key.sh", {"secrets": state["secrets"], "hostKeys": state["hostKeys"]})
    assert proc.returncode == 0, proc.stderr
    assert set(nxt["hostKeys"]) == {"apim-b"}


# --- Bicep: who reads which secret, app roles --------------------------------------------------------

KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KV_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"


def resource(path: Path, name: str) -> dict:
    res = parse_bicep(path)["resources"][name]
    config = res["config"]
    while "properties" not in config and isinstance(config.get("config"), dict):
        config = config["config"]
    return config


def test_readers_hold_secrets_user_on_exactly_their_secrets():
    path = INFRA / "core/rbac/key-vault-roles.bicep"
    tree = parse_bicep(path)
    assert tree["variables"]["keyVaultSecretsUser"]["value"] == KV_SECRETS_USER
    text = strip_comments(path.read_text(encoding="utf-8"))
    for reads, secrets in (("functionReads", "functionSecrets"), ("apimReads", "apimSecrets")):
        assert re.search(rf"resource {reads} '[^']+' = \[\s*for \(secretName, i\) in \w+: \{{\s*name: guid\({secrets}\[i\]\.id", text)
        assert re.search(rf"resource {reads}[\s\S]*?scope: {secrets}\[i\]", text), f"{reads} must be scoped to the secret"
    main = strip_comments((INFRA / "main.bicep").read_text(encoding="utf-8"))
    assert "functionSecretNames: functionSecretNames" in main and "apimSecretNames: apimSecretNames" in main
    vault = strip_comments((INFRA / "core/security/key-vault.bicep").read_text(encoding="utf-8"))
    assert f"var keyVaultSecretsOfficer = '{KV_SECRETS_OFFICER}'" in vault
    assert "scope: vault" in vault and "principalType: deployerPrincipalType" in vault
    for needle in ("enableRbacAuthorization: true", "enableSoftDelete: true", "enablePurgeProtection: true", "name: 'standard'"):
        assert needle in vault, needle


def test_storage_roles_are_scoped_to_containers():
    path = INFRA / "core/rbac/storage-roles.bicep"
    text = strip_comments(path.read_text(encoding="utf-8"))
    for name, scope in (
        ("functionHostBlobOwner", "hostContainers[i]"),
        ("functionBlobContributor", "functionContainers[i]"),
        ("apimRegistrations", "registrationsContainer"),
        ("developerBlob", "developerContainers[i]"),
        ("functionQueueContributor", "storage"),
    ):
        block = text[text.index(f"resource {name} "):]
        block = block[: block.index("\n}\n") if "\n}\n" in block else len(block)]
        assert f"scope: {scope}\n" in block, f"{name}: scope {scope}"
    assert text.count("scope: storage\n") == 1, "only the queue role stays on the account"
    main = parse_bicep(INFRA / "main.bicep")
    assert "developerPrincipalId: deployerDataAccess ? principalId : ''" in (INFRA / "main.bicep").read_text()
    assert main["parameters"]["deployerDataAccess"]["default"] is False
    assert main["variables"]["relayContainerName"]["value"] == "mcp-sse-relay"
    assert 'OVERFLOW_CONTAINER: &str = "mcp-sse-relay"' in (REPO_ROOT / "src/mcp/sse/relay/mod.rs").read_text()


def test_every_deployer_role_assignment_carries_the_principal_type():
    for path in INFRA.rglob("*.bicep"):
        text = strip_comments(path.read_text(encoding="utf-8"))
        for m in re.finditer(r"principalId: (\w+)\n\s*principalType: (\S+)", text):
            if m.group(1) in ("deployerPrincipalId", "developerPrincipalId"):
                assert m.group(2) in ("deployerPrincipalType", "developerPrincipalType"), path


def names_rs_constant(name: str) -> str:
    text = (REPO_ROOT / "crates/policies/src/names.rs").read_text(encoding="utf-8")
    m = re.search(rf'pub const {name}: &str = "([^"]+)";', text)
    assert m, f"crates/policies/src/names.rs lacks {name}"
    return m.group(1)


def test_app_roles_match_the_policies_constants():
    path = INFRA / "app/entra-app.bicep"
    variables = parse_bicep(path)["variables"]
    assert variables["roleRead"]["value"] == names_rs_constant("ROLE_READ")
    assert variables["roleWrite"]["value"] == names_rs_constant("ROLE_WRITE")
    text = strip_comments(path.read_text(encoding="utf-8"))
    assert "var roleReadId = guid(uniqueName, roleRead)" in text and "var roleWriteId = guid(uniqueName, roleWrite)" in text
    assert text.count("allowedMemberTypes: [\n        'User'\n      ]") == 2
    assert "appRoleAssignmentRequired: assignmentRequired" in text
    assert re.search(r"resource deployerWriter 'Microsoft\.Graph/appRoleAssignedTo@v1\.0' = if \(!empty\(deployerPrincipalId\) && deployerPrincipalType == 'User'\)", text)
    assert "appRoleId: roleWriteId" in text and "resourceId: servicePrincipal.id" in text
    main = (INFRA / "main.parameters.json").read_text()
    assert '"${ENTRA_ASSIGNMENT_REQUIRED=true}"' in main


def test_the_bootstrap_vault_is_main_bicep_s_vault():
    boot = parse_bicep(INFRA / "key-vault.bicep")["variables"]
    main = parse_bicep(INFRA / "main.bicep")["variables"]
    for var in ("resourceToken", "keyVaultName", "tags"):
        assert boot[var] == main[var], var
    for path in (INFRA / "key-vault.bicep", INFRA / "main.bicep"):
        assert "module keyVault 'core/security/key-vault.bicep'" in path.read_text()


def test_ci_workflow_parses_and_deploys_without_prompts():
    import yaml

    doc = yaml.safe_load((REPO_ROOT / ".github/workflows/azure-deploy.yml").read_text(encoding="utf-8"))
    assert "workflow_dispatch" in doc[True] and doc["permissions"]["id-token"] == "write"
    runs = [s.get("run", "") for s in doc["jobs"]["deploy"]["steps"]]
    assert any("--federated-credential-provider github" in r for r in runs)
    assert "azd provision --no-prompt" in runs and "azd deploy --no-prompt" in runs
