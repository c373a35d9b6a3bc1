"""The committed infra/policies/ files (XML, manifest.json and policy-files.bicep) are exactly
what `render-policies` writes: it is their only generator, and `--check` catches any drift."""

import shutil
import subprocess

from policies_support import REPO

POLICIES = REPO / "infra" / "policies"


def render(*args):
    return subprocess.run(
        ["cargo", "run", "-q", "-p", "policies", "--bin", "render-policies", "--", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_rendered_policies_match_templates():
    result = render("--check")
    assert result.returncode == 0, "infra/policies drifted from crates/policies/templates:\n" + result.stderr


def test_one_run_writes_every_committed_file_including_the_bicep_map(tmp_path):
    out = tmp_path / "policies"
    result = render("--dir", str(out))
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(POLICIES).as_posix() for p in POLICIES.rglob("*") if p.is_file())
    assert written == committed
    assert "policy-files.bicep" in written
    for name in written:
        assert (out / name).read_bytes() == (POLICIES / name).read_bytes(), name


def test_check_reports_a_hand_edited_bicep_map_and_a_stray_file_without_rewriting(tmp_path):
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    bicep = copy / "policy-files.bicep"
    edited = bicep.read_text(encoding="utf-8").replace("'mcp/api.xml': ", "'mcp/other.xml': ")
    bicep.write_text(edited, encoding="utf-8")
    (copy / "extra.bicep").write_text("// stray\n", encoding="utf-8")
    result = render("--check", "--dir", str(copy))
    assert result.returncode != 0
    assert "policy-files.bicep" in result.stderr and "extra.bicep" in result.stderr, result.stderr
    assert bicep.read_text(encoding="utf-8") == edited, "--check must not rewrite anything"
    assert (copy / "extra.bicep").exists()
