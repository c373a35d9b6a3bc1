"""Windows hooks under Windows PowerShell 5.1.

azd runs a hook declared with `shell: pwsh` through `pwsh` and, on Windows only, falls back to
`powershell` (Windows PowerShell 5.1) when pwsh is not on PATH (azure-dev
cli/azd/pkg/tools/powershell/powershell.go:65-99). In PowerShell before 7.2 the first line a
native command writes to a *redirected* stderr (`2>$null`, `2>&1`) becomes an error record
(NativeCommandError) to which $ErrorActionPreference applies, so under 'Stop' it ends the hook;
7.1 stopped applying the preference to native stderr (PowerShell CHANGELOG/7.1.md:443) and 7.2
made that stable (CHANGELOG/7.2.md:932). `azd env get-value` of a key a fresh environment lacks
writes "key not found" to stderr, so the hooks' `2>$null` would stop them under 5.1.

The rule checked here, as text (no PowerShell on this machine): every .ps1 the project runs
either declares `#Requires -Version 7.2` (or later), or redirects no native stderr while
$ErrorActionPreference is 'Stop'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from infra_helpers import REPO_ROOT, rel

REQUIRES_RE = re.compile(r"^#Requires\s+-Version\s+(\d+)(?:\.(\d+))?\s*$", re.M | re.I)
# `2>` followed by $null, a file or &1, on a line that runs something.
STDERR_REDIRECT_RE = re.compile(r"\b2>")
# `. (Join-Path $PSScriptRoot '<path>')` or `$repoRoot`: a library dot-sourced by a hook.
DOT_SOURCE_RE = re.compile(r"^\. \(Join-Path \$(PSScriptRoot|repoRoot) '([^']+)'\)$")


def project_ps1() -> list[Path]:
    # scripts/lib: the libraries the hooks dot-source run in the hook, under its preference.
    found = [p for d in ("infra/hooks", "scripts", "scripts/lib") for p in sorted((REPO_ROOT / d).glob("*.ps1"))]
    assert found
    return found


def azure_yaml_windows_hooks() -> dict[str, Path]:
    doc = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    hooks = dict(doc.get("hooks") or {})
    hooks.update({f"api.{k}": v for k, v in (doc["services"]["api"].get("hooks") or {}).items()})
    return {name: REPO_ROOT / hook["windows"]["run"] for name, hook in hooks.items()}


def code_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]


def requires_version(path: Path) -> tuple[int, int] | None:
    m = REQUIRES_RE.search(path.read_text(encoding="utf-8"))
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def stop_preference(path: Path) -> bool:
    return any(re.search(r"\$ErrorActionPreference\s*=\s*'Stop'", line) for line in code_lines(path))


@pytest.mark.parametrize("path", project_ps1(), ids=rel)
def test_every_ps1_requires_7_2_or_redirects_no_native_stderr_under_stop(path: Path):
    version = requires_version(path)
    if version is not None:
        assert version >= (7, 2), f"{rel(path)}: #Requires -Version {version}: 7.0 and 7.1 still stop on redirected stderr"
        return
    redirects = [line.strip() for line in code_lines(path) if STDERR_REDIRECT_RE.search(line)]
    assert not (stop_preference(path) and redirects), (
        f"{rel(path)} redirects native stderr under 'Stop' without #Requires -Version 7.2: {redirects}"
    )


def test_every_windows_hook_in_azure_yaml_is_covered():
    hooks = azure_yaml_windows_hooks()
    assert {"preup", "preprovision", "postdeploy", "postdown", "api.prepackage"} <= set(hooks), hooks
    for name, path in hooks.items():
        assert path in project_ps1(), f"{name}: {rel(path)} is not checked"


def test_hooks_that_redirect_stderr_declare_7_2():
    # The hooks that read the azd environment with `2>$null` (a fresh environment's
    # `azd env get-value` writes "key not found" to stderr), through the reader they dot-source.
    reader = REPO_ROOT / "scripts" / "lib" / "azure-env.ps1"
    assert any("azd env get-value" in line and "2>$null" in line for line in code_lines(reader))
    assert requires_version(reader) == (7, 2)
    for name in ("ensure-key-vault.ps1", "bind-function-key.ps1", "delete-entra-app.ps1"):
        path = REPO_ROOT / "infra" / "hooks" / name
        found = [DOT_SOURCE_RE.match(line) for line in code_lines(path)]
        sourced = {(path.parent if m[1] == "PSScriptRoot" else REPO_ROOT).joinpath(m[2]).resolve() for m in found if m}
        assert reader in sourced, name
        assert requires_version(path) == (7, 2), name


def test_only_the_5_1_entry_points_lack_requires():
    # preup.ps1 and preflight.ps1 must run under 5.1: they tell the user to install PowerShell 7.
    without = {rel(p) for p in project_ps1() if requires_version(p) is None}
    assert without == {"infra/hooks/preup.ps1", "scripts/preflight.ps1"}, without
    for path in (REPO_ROOT / "infra/hooks/preup.ps1", REPO_ROOT / "scripts/preflight.ps1"):
        assert not [line for line in code_lines(path) if STDERR_REDIRECT_RE.search(line)], rel(path)


def test_azure_yaml_says_why_7_2():
    text = (REPO_ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert "PowerShell 7.2" in text and "5.1" in text
