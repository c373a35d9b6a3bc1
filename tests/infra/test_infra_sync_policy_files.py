"""infra/hooks/sync-policy-files.py keeps the Bicep's constant-path policy
lists equal to the manifest (run on a copy of infra/ with a fixture manifest)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra_helpers import INFRA, REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "infra" / "fixtures" / "manifest.json"


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    root = tmp_path / "infra"
    (root / "hooks").mkdir(parents=True)
    (root / "app").mkdir()
    shutil.copy(INFRA / "hooks" / "sync-policy-files.py", root / "hooks")
    for name in ("apim-config.bicep", "apim-api.bicep"):
        shutil.copy(INFRA / "app" / name, root / "app")
    policies = root / "policies"
    manifest = json.loads(FIXTURE.read_text())
    files = [f["file"] for f in manifest["fragments"]]
    for api in manifest["apis"]:
        files += [p for p in [api["policy"]] + [o["policy"] for o in api["operations"]] if p]
    for rel in files:
        (policies / rel).parent.mkdir(parents=True, exist_ok=True)
        (policies / rel).write_text("<policies />\n")
    shutil.copy(FIXTURE, policies / "manifest.json")
    return root


def sync(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / "hooks" / "sync-policy-files.py"), *args], capture_output=True, text=True, timeout=60
    )


def block(text: str, name: str) -> list[str]:
    start = text.index(f"// BEGIN policy-files {name}")
    end = text.index("// END policy-files", start)
    return [line.strip() for line in text[start:end].splitlines()[1:] if line.strip()]


def test_check_reports_stale_lists_then_sync_fixes_them(infra_copy: Path):
    assert sync(infra_copy, "--check").returncode == 1
    proc = sync(infra_copy)
    assert proc.returncode == 0, proc.stderr
    assert sync(infra_copy, "--check").returncode == 0
    config = (infra_copy / "app" / "apim-config.bicep").read_text()
    api = (infra_copy / "app" / "apim-api.bicep").read_text()
    assert block(config, "fragmentXml") == [
        "'fragments/alpha.xml': loadTextContent('../policies/fragments/alpha.xml')",
        "'fragments/beta.xml': loadTextContent('../policies/fragments/beta.xml')",
    ]
    # each policy once, in manifest order; null policies skipped
    assert block(api, "policyXml") == [
        "'mcp/api.xml': loadTextContent('../policies/mcp/api.xml')",
        "'mcp/op.xml': loadTextContent('../policies/mcp/op.xml')",
    ]
    # everything outside the blocks is untouched
    original = (INFRA / "app" / "apim-api.bicep").read_text()
    head = original.index("// BEGIN policy-files policyXml")
    assert api[:head] == original[:head]
    assert api[api.index("// END policy-files") :] == original[original.index("// END policy-files") :]


def test_second_sync_is_a_no_op(infra_copy: Path):
    sync(infra_copy)
    before = (infra_copy / "app" / "apim-api.bicep").read_bytes()
    proc = sync(infra_copy)
    assert proc.returncode == 0 and proc.stdout == ""
    assert (infra_copy / "app" / "apim-api.bicep").read_bytes() == before


def test_missing_policy_file_is_an_error(infra_copy: Path):
    (infra_copy / "policies" / "mcp" / "op.xml").unlink()
    proc = sync(infra_copy)
    assert proc.returncode != 0
    assert "mcp/op.xml" in (proc.stderr + proc.stdout)


def test_unsafe_path_is_refused(infra_copy: Path):
    manifest = json.loads((infra_copy / "policies" / "manifest.json").read_text())
    manifest["fragments"].append({"id": "evil", "file": "../../etc/passwd'.xml"})
    (infra_copy / "policies" / "manifest.json").write_text(json.dumps(manifest))
    proc = sync(infra_copy)
    assert proc.returncode != 0
    assert "unsafe" in (proc.stderr + proc.stdout)
