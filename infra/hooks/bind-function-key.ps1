# azd postdeploy hook (Windows). Same steps as bind-function-key.sh: create the dedicated host key
# (`apim`, or the one the last rotation recorded on the secret) if the Function App lacks it, store
# it in the vault's apim-function-key when the vault lacks it or holds another value, then
# refreshSecret on API Management's McpFunctionKey named value. Needs `az login`.
# The key is never printed and never stored in .azure/; it reaches az through a temporary file
# deleted at once.
# PowerShell 7.2 or newer: azd runs this hook with Windows PowerShell 5.1 when
# pwsh is not on PATH, and before 7.2 a native command's redirected stderr (the
# `2>$null` below) becomes a terminating error under 'Stop' on its first line.
# The preup hook (scripts\preflight.ps1) says how to install PowerShell 7.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$namedValue = 'McpFunctionKey'
$secret = 'apim-function-key'
$keyName = 'apim'
$apimApiVersion = '2024-05-01'

$hookName = 'bind-function-key'
. (Join-Path $PSScriptRoot '../../scripts/lib/azure-env.ps1')
$requireHint = ' (run azd provision first)'

$rg = Get-Required 'AZURE_RESOURCE_GROUP' '^[A-Za-z0-9._()][-A-Za-z0-9._()]{0,89}$'
$app = Get-Required 'SERVICE_API_NAME' '^[A-Za-z0-9][-A-Za-z0-9]{0,58}[A-Za-z0-9]$'
$apim = Get-Required 'AZURE_APIM_NAME' '^[A-Za-z][-A-Za-z0-9]{0,48}[A-Za-z0-9]$'
$vault = Get-Required 'AZURE_KEY_VAULT_NAME' '^[A-Za-z][-A-Za-z0-9]{1,22}[A-Za-z0-9]$'
$subscription = Get-Required 'AZURE_SUBSCRIPTION_ID' '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'

Assert-AzSignedIn

function Get-HostKey([string]$name) {
    $value = & az functionapp keys list --resource-group $rg --name $app --query "functionKeys.`"$name`"" --output tsv 2>$null
    if ($LASTEXITCODE -ne 0 -or $null -eq $value) { return '' }
    return ([string]$value).Trim()
}

$inUse = & az keyvault secret show --vault-name $vault --name $secret --query 'tags.\"host-key\"' --output tsv 2>$null
$inUse = if ($LASTEXITCODE -eq 0 -and $inUse) { ([string]$inUse).Trim() } else { '' }
if ($inUse -cnotmatch '^apim(-a|-b)?$') { $inUse = $keyName }

$key = Get-HostKey $inUse
if (-not $key) {
    & az functionapp keys set --resource-group $rg --name $app --key-type functionKeys --key-name $inUse --output none 2>$null | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "bind-function-key: creating the host key $inUse of $app failed (is the deployment finished? rerun: azd hooks run postdeploy)" }
    $key = Get-HostKey $inUse
}
if (-not $key) { throw "bind-function-key: the Function App $app has no host key $inUse yet (is the deployment finished? rerun: azd hooks run postdeploy)" }
if ($key -cnotmatch '^[A-Za-z0-9_=-]{20,200}$') { throw "bind-function-key: the host key $inUse of $app has an unexpected form: not binding it" }

$stored = & az keyvault secret show --vault-name $vault --name $secret --query value --output tsv 2>$null
$stored = if ($LASTEXITCODE -eq 0 -and $stored) { ([string]$stored).Trim() } else { '' }
if ($stored -ceq $key) {
    Write-Host "bind-function-key: $secret in $vault already holds the host key $inUse of $app"
    exit 0
}
$file = New-TemporaryFile
try {
    [System.IO.File]::WriteAllText($file.FullName, $key)
    & az keyvault secret set --vault-name $vault --name $secret --file $file.FullName --encoding utf-8 --tags "host-key=$inUse" --output none | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "bind-function-key: writing $secret to $vault failed" }
}
finally {
    Remove-Item -LiteralPath $file.FullName -Force -ErrorAction SilentlyContinue
}
& az rest --method post --output none --url "/subscriptions/$subscription/resourceGroups/$rg/providers/Microsoft.ApiManagement/service/$apim/namedValues/$namedValue/refreshSecret?api-version=$apimApiVersion"
if ($LASTEXITCODE -ne 0) { throw "bind-function-key: refreshing the named value $namedValue of $apim failed" }
Write-Host "bind-function-key: $namedValue of $apim now reads the host key $inUse of $app from $vault"
