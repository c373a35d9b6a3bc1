# azd preup hook (Windows): the first thing `azd up` runs. Same steps as preup.sh:
#  1. scripts\preflight.ps1: every prerequisite of azd up, each missing one named
#     with its install command (PowerShell 7.2 first of all);
#  2. prepare-environment.ps1: the policy check.
#
# This file and preflight.ps1 are the only hooks written to run under Windows
# PowerShell 5.1 too (no #Requires, no PowerShell 7 syntax, no redirected native
# stderr): azd falls back to 5.1 when pwsh is not on PATH, and this is where the
# user learns how to install PowerShell 7. Every other .ps1 hook declares
# `#Requires -Version 7.2`.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$repoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path

& (Join-Path $repoRoot 'scripts\preflight.ps1')
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

& (Join-Path $PSScriptRoot 'prepare-environment.ps1')
