# azd preprovision hook (Windows). Same steps as preprovision.sh: the policy check, then the Key
# Vault and its secrets, which main.bicep's deployment needs to exist already.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

& (Join-Path $PSScriptRoot 'prepare-environment.ps1')
& (Join-Path $PSScriptRoot 'ensure-key-vault.ps1')
