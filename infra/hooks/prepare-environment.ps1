# azd preup hook's second step and preprovision hook's first (Windows). Same as
# prepare-environment.sh: checks that infra/policies/ is what the policy templates render (no
# rewrite). No key is generated here: the session-token keys live in the Key Vault, written once by
# ensure-key-vault.ps1, never through a Bicep parameter.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$repoRoot = Resolve-Path (Join-Path $PSScriptRoot '..\..')
Set-Location $repoRoot

Write-Host 'prepare-environment: checking infra/policies/ against the policy templates'
& cargo run -q --locked -p policies --bin render-policies -- --check
if ($LASTEXITCODE -ne 0) { throw 'infra/policies/ is out of date: run `cargo run -p policies --bin render-policies` and commit' }
