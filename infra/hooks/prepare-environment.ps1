# azd preup and preprovision hook (Windows). Same steps as prepare-environment.sh:
#  1. session token keys, generated once per azd environment only when absent
#     (in preup, because `azd up` resolves Bicep parameters before preprovision);
#  2. check that infra/policies/ is what the policy templates render (no rewrite).
# The key values are never printed.
# PowerShell 7.2 or newer: azd runs this hook with Windows PowerShell 5.1 when
# pwsh is not on PATH, and before 7.2 a native command's redirected stderr (the
# `2>$null` below) becomes a terminating error under 'Stop' on its first line.
# The preup hook (scripts\preflight.ps1) says how to install PowerShell 7.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$repoRoot = Resolve-Path (Join-Path $PSScriptRoot '..\..')
Set-Location $repoRoot

$enc = 'SESSION_TOKEN_ENC_KEY'
$mac = 'SESSION_TOKEN_MAC_KEY'

function Get-AzdValue([string]$name) {
    $value = & azd env get-value $name 2>$null
    if ($LASTEXITCODE -ne 0 -or $null -eq $value) { return '' }
    return ([string]$value).Trim()
}

function Test-Key([string]$value) {
    return $value -match '^[A-Za-z0-9+/]{43}=$'
}

$encValue = Get-AzdValue $enc
$macValue = Get-AzdValue $mac

if ($encValue -and $macValue) {
    if (-not (Test-Key $encValue)) { throw "$enc in the azd environment is not base64 of 32 bytes; fix or unset it" }
    if (-not (Test-Key $macValue)) { throw "$mac in the azd environment is not base64 of 32 bytes; fix or unset it" }
    Write-Host 'prepare-environment: session token keys already set in this azd environment (kept)'
}
elseif ($encValue -or $macValue) {
    throw "Only one of $enc / $mac is set in this azd environment; set both, or unset both to generate a new pair (this invalidates existing sessions)."
}
else {
    Write-Host 'prepare-environment: generating session token keys for this azd environment'
    $lines = & cargo run -q --locked -p session-token --bin session-token-keygen
    if ($LASTEXITCODE -ne 0) { throw 'session-token-keygen failed' }
    $newEnc = ''; $newMac = ''
    foreach ($line in $lines) {
        if ($line.StartsWith("$enc=")) { $newEnc = $line.Substring($enc.Length + 1) }
        elseif ($line.StartsWith("$mac=")) { $newMac = $line.Substring($mac.Length + 1) }
    }
    if (-not (Test-Key $newEnc) -or -not (Test-Key $newMac) -or $newEnc -eq $newMac) {
        throw 'session-token-keygen printed no valid key pair'
    }
    & azd env set $enc $newEnc | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "azd env set $enc failed" }
    & azd env set $mac $newMac | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "azd env set $mac failed" }
    Write-Host "prepare-environment: stored $enc and $mac in the azd environment"
}

Write-Host 'prepare-environment: checking infra/policies/ against the policy templates'
& cargo run -q --locked -p policies --bin render-policies -- --check
if ($LASTEXITCODE -ne 0) { throw 'infra/policies/ is out of date: run `cargo run -p policies --bin render-policies` and commit' }
