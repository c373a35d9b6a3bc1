"""checkov over infra/: every finding is fixed or accepted with a reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra_helpers import INFRA, strip_extensions


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory) -> dict:
    # checkov's Bicep parser (pycep-parser 0.5) predates `extension`: scan a
    # copy of infra/ with those lines blanked (the Graph resources they enable
    # have no checkov checks; test_infra_bicep_parse covers them).
    work = tmp_path_factory.mktemp("checkov") / "infra"
    shutil.copytree(INFRA, work, ignore=shutil.ignore_patterns("policies"))
    for path in work.rglob("*.bicep"):
        path.write_text(strip_extensions(path.read_text(encoding="utf-8")), encoding="utf-8")
    checkov = Path(sys.executable).with_name("checkov")
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", LOG_LEVEL="ERROR")
    proc = subprocess.run(
        [str(checkov), "-d", str(work), "--framework", "bicep", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    # Exit code 1 means "failed checks"; anything else is an error.
    assert proc.returncode in (0, 1), f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        reports = [r for r in report if r.get("check_type") == "bicep"]
        assert len(reports) == 1, f"expected one bicep report, got {[r.get('check_type') for r in report]}"
        report = reports[0]
    assert report.get("check_type") == "bicep", report.get("check_type")
    return report


def accepted() -> dict[str, dict]:
    data = yaml.safe_load((INFRA / "checkov-accepted.yaml").read_text(encoding="utf-8"))
    entries = {}
    for entry in data["accepted"]:
        assert entry["id"] not in entries, f"{entry['id']} is listed twice"
        assert len(entry.get("reason", "").strip()) >= 30, f"{entry['id']}: give a real reason"
        assert entry.get("resources"), f"{entry['id']}: list the resources it applies to"
        entries[entry["id"]] = entry
    return entries


def test_checkov_parsed_everything(checkov_report):
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] > 0, summary
    assert summary["passed"] > 0, summary


def test_checkov_scanned_every_bicep_file(checkov_report):
    results = checkov_report["results"]
    scanned = {r["file_path"].lstrip("/") for r in results["passed_checks"] + results["failed_checks"]}
    for must in ("app/function-app.bicep", "app/apim-service.bicep", "core/storage/storage-account.bicep"):
        assert must in scanned, f"checkov did not evaluate {must}: {sorted(scanned)}"


def test_every_checkov_finding_is_accepted(checkov_report):
    allowed = accepted()
    unexpected = []
    for check in checkov_report["results"]["failed_checks"]:
        entry = allowed.get(check["check_id"])
        if entry is None or check["resource"] not in entry["resources"]:
            unexpected.append(f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}")
    assert not unexpected, "fix these or accept them with a reason in infra/checkov-accepted.yaml:\n" + "\n".join(unexpected)


def test_no_stale_acceptances(checkov_report):
    failing = {(c["check_id"], c["resource"]) for c in checkov_report["results"]["failed_checks"]}
    stale = [
        f"{cid} {res}" for cid, entry in accepted().items() for res in entry["resources"] if (cid, res) not in failing
    ]
    assert not stale, f"these accepted findings no longer fail; remove them from infra/checkov-accepted.yaml: {stale}"


def test_security_baseline_checks_pass(checkov_report):
    passed = {(c["check_id"], c["resource"]) for c in checkov_report["results"]["passed_checks"]}
    ids = {cid for cid, _ in passed}
    baseline = {
        "CKV_AZURE_3": "storage: HTTPS only",
        "CKV_AZURE_44": "storage: TLS 1.2",
        "CKV_AZURE_59": "storage: no public access",
        "CKV_AZURE_34": "blob containers: private",
        "CKV_AZURE_70": "function app: HTTPS only",
        "CKV_AZURE_145": "function app: TLS 1.2",
        "CKV_AZURE_78": "function app: FTP disabled",
        "CKV_AZURE_71": "function app: managed identity",
        "CKV_AZURE_173": "API Management: TLS 1.2",
        "CKV_AZURE_42": "key vault: recoverable (soft delete and purge protection)",
        "CKV_AZURE_110": "key vault: purge protection",
    }
    missing = {cid: what for cid, what in baseline.items() if cid not in ids}
    assert not missing, f"baseline checks that did not pass: {missing}"
