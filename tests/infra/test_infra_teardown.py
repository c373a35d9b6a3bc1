"""Teardown and redeploy: the postdown hook deletes the Entra app registration and purges it from
Entra's deleted items, because a merely deleted application keeps its uniqueName
(snippets-mcp-<token>, the same for every deployment of one azd environment) for 30 days and the
next `azd up` would fail with "Another object with the same value for property uniqueName already
exists". azd runs `post<command>` hooks for `down` only after it succeeded (azure-dev
cli/azd/cmd/root.go:423-439, cli/azd/pkg/ext/hooks_runner.go:75-94).

azd and az are replaced by fakes (the hook honours $AZD and $AZ); the Windows twin is held to the
same steps as text."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from infra_helpers import INFRA, REPO_ROOT, fake_tools

HOOK = INFRA / "hooks" / "delete-entra-app.sh"
APP_ID = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
OBJECT_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"

FAKE_AZD = r"""#!/usr/bin/env python3
import json, os, sys
store = os.environ["FAKE_AZD_STORE"]
env = json.load(open(store))
args = sys.argv[1:]
if args[:2] == ["env", "get-value"]:
    if args[2] in env:
        print(env[args[2]]); sys.exit(0)
    print(f"ERROR: key '{args[2]}' not found in the environment values", file=sys.stderr); sys.exit(1)
if args[:2] == ["env", "set"]:
    env[args[2]] = args[3]; json.dump(env, open(store, "w")); sys.exit(0)
sys.exit(f"fake azd: unexpected {args}")
"""

# State: "active" (the app exists), "deleted" (in the deleted items), "gone".
FAKE_AZ = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
state_file = os.environ["FAKE_STATE"]
state = open(state_file).read().strip()
app_id, object_id = os.environ["FAKE_APP_ID"], os.environ["FAKE_OBJECT_ID"]
def opt(name):
    return args[args.index(name) + 1]
if args[:2] == ["account", "show"]:
    sys.exit(0)
if args[:3] == ["ad", "app", "show"]:
    if state == "active" and opt("--id") == app_id:
        print(object_id); sys.exit(0)
    sys.exit("ERROR: Resource '%s' does not exist or one of its queried reference-property objects are not present." % opt("--id"))
if args[:3] == ["ad", "app", "delete"]:
    if state != "active":
        sys.exit("ERROR: not found")
    open(state_file, "w").write("deleted"); sys.exit(0)
if args[:1] == ["rest"]:
    method, url = opt("--method"), opt("--url")
    if method == "GET" and "/directory/deletedItems/microsoft.graph.application?" in url:
        print(object_id if state == "deleted" and f"appId eq '{app_id}'" in url else ""); sys.exit(0)
    if method == "DELETE" and url.endswith("/directory/deletedItems/" + object_id):
        if os.environ.get("FAKE_PURGE_DENIED"):
            sys.exit("ERROR: Forbidden({\"error\":{\"code\":\"Authorization_RequestDenied\"}})")
        if state != "deleted":
            sys.exit("ERROR: Not Found")
        open(state_file, "w").write("gone"); sys.exit(0)
sys.exit(f"fake az: unexpected {args}")
"""


@pytest.fixture
def teardown(tmp_path: Path):
    tools = fake_tools(tmp_path, {"azd": FAKE_AZD, "az": FAKE_AZ})
    store, log, state = tmp_path / "env.json", tmp_path / "az.log", tmp_path / "state"

    def run(env_values: dict, app_state: str = "active", purge_denied: bool = False):
        store.write_text(json.dumps(env_values))
        state.write_text(app_state)
        log.write_text("")
        env = dict(
            os.environ,
            AZD=str(tools["azd"]),
            AZ=str(tools["az"]),
            FAKE_AZD_STORE=str(store),
            FAKE_LOG=str(log),
            FAKE_STATE=str(state),
            FAKE_APP_ID=APP_ID,
            FAKE_OBJECT_ID=OBJECT_ID,
            PURGE_ATTEMPTS="2",
            PURGE_WAIT_SECS="0",
        )
        if purge_denied:
            env["FAKE_PURGE_DENIED"] = "1"
        proc = subprocess.run(["bash", str(HOOK)], capture_output=True, text=True, env=env, timeout=60)
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        return proc, json.loads(store.read_text()), state.read_text().strip(), calls

    return run


def test_deletes_then_purges_so_the_unique_name_is_free(teardown):
    proc, env, state, calls = teardown({"ENTRA_APP_CLIENT_ID": APP_ID})
    assert proc.returncode == 0, proc.stderr
    assert state == "gone", "the application must leave the deleted items too"
    kinds = [c[:3] for c in calls]
    assert kinds.index(["ad", "app", "delete"]) < kinds.index(["rest", "--method", "DELETE"])
    purge = [c for c in calls if c[:3] == ["rest", "--method", "DELETE"]][0]
    assert purge[purge.index("--url") + 1] == f"https://graph.microsoft.com/v1.0/directory/deletedItems/{OBJECT_ID}"
    assert "ENTRA_APP_GENERATION" not in env, "a purged name needs no new generation"
    assert "permanently deleted" in proc.stdout


def test_an_app_deleted_by_hand_is_found_in_the_deleted_items_and_purged(teardown):
    proc, env, state, calls = teardown({"ENTRA_APP_CLIENT_ID": APP_ID}, app_state="deleted")
    assert proc.returncode == 0, proc.stderr
    assert state == "gone"
    assert not [c for c in calls if c[:3] == ["ad", "app", "delete"]]
    lookup = [c for c in calls if c[:3] == ["rest", "--method", "GET"]]
    assert lookup and f"$filter=appId eq '{APP_ID}'" in lookup[0][lookup[0].index("--url") + 1]


def test_nothing_left_is_fine_and_runs_again(teardown):
    proc, _, state, calls = teardown({"ENTRA_APP_CLIENT_ID": APP_ID}, app_state="gone")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stdout
    assert not [c for c in calls if "DELETE" in c]


def test_a_refused_purge_moves_the_next_deployment_to_a_new_generation(teardown):
    proc, env, state, _ = teardown({"ENTRA_APP_CLIENT_ID": APP_ID}, purge_denied=True)
    assert proc.returncode == 0, proc.stderr
    assert state == "deleted"
    assert env["ENTRA_APP_GENERATION"] == "2"
    assert "generation 2" in proc.stderr and f"deletedItems/{OBJECT_ID}" in proc.stderr
    # Another refused purge after the next deployment moves on again.
    proc, env, _, _ = teardown({"ENTRA_APP_CLIENT_ID": APP_ID, "ENTRA_APP_GENERATION": "2"}, purge_denied=True)
    assert env["ENTRA_APP_GENERATION"] == "3"


def test_no_app_in_the_environment_is_a_no_op(teardown):
    proc, _, _, calls = teardown({})
    assert proc.returncode == 0 and calls == [], proc.stderr


@pytest.mark.parametrize("value", ["not-a-guid", "--id=other", f"{APP_ID};rm -rf /"])
def test_refuses_a_malformed_app_id_before_calling_azure(teardown, value):
    proc, _, _, calls = teardown({"ENTRA_APP_CLIENT_ID": value})
    assert proc.returncode != 0 and "not a GUID" in proc.stderr
    assert calls == []


def test_postdown_hook_is_declared_for_both_shells():
    doc = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    hook = doc["hooks"]["postdown"]
    assert hook["posix"]["run"] == "infra/hooks/delete-entra-app.sh"
    assert hook["windows"]["run"] == "infra/hooks/delete-entra-app.ps1"
    assert os.access(HOOK, os.X_OK)


def test_windows_hook_takes_the_same_steps():
    sh = HOOK.read_text(encoding="utf-8")
    ps1 = HOOK.with_suffix(".ps1").read_text(encoding="utf-8")
    for needle in (
        "ENTRA_APP_CLIENT_ID",
        "ENTRA_APP_GENERATION",
        "ad app show",
        "ad app delete",
        "--method DELETE",
        "/directory/deletedItems/",
        "microsoft.graph.application?",
        "filter=appId eq '",
        "https://graph.microsoft.com/v1.0",
    ):
        assert needle in sh and needle in ps1, needle
    guid_sh = re.search(r"GUID_RE='([^']+)'", sh).group(1)
    guid_ps1 = re.search(r"\$guid = '([^']+)'", ps1).group(1)
    assert guid_sh == guid_ps1


def test_bicep_names_each_generation_apart():
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert re.search(r"^param entraAppGeneration string = ''$", main, re.M)
    assert (
        "uniqueName: empty(entraAppGeneration) ? 'snippets-mcp-${resourceToken}' "
        ": 'snippets-mcp-${resourceToken}-g${entraAppGeneration}'"
    ) in main, "the first generation keeps the name existing deployments have"
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert params["entraAppGeneration"]["value"] == "${ENTRA_APP_GENERATION=}"


def test_deploy_doc_tears_down_with_the_hook_not_a_bare_delete():
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    teardown = doc[doc.index("## Tear down") :]
    assert "azd down --purge" in teardown and "postdown" in teardown and "deletedItems" in teardown
    assert "azd hooks run postdown" in teardown
    bare = re.findall(r"^az ad app delete .*$", doc, re.M)
    assert not bare, f"a bare `az ad app delete` leaves the unique name taken for 30 days: {bare}"
