# azd postdeploy hook (Windows). Same steps as bind-function-key.sh: read the
# Function App's default host key (served only once code is deployed), store
# it as MCP_FUNCTION_KEY in the azd environment and write it into the
# McpFunctionKey named value of API Management. Needs `az login`.
# The key is never printed.
# PowerShell 7.2 or newer: azd runs this hook with Windows PowerShell 5.1 when
# pwsh is not on PATH, and before 7.2 a native command's redirected stderr (the
# `2>$null` below) becomes a terminating error under 'Stop' on its first line.
# The preup hook (scripts\preflight.ps1) says how to install PowerShell 7.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$namedValue = 'McpFunctionKey'

function Get-AzdValue([string]$name) {
    $value = & azd env get-value $name 2>$null
    if ($LASTEXITCODE -ne 0 -or $null -eq $value) { return '' }
    return ([string]$value).Trim()
}

# Every value below reaches an az command line: accept only valid Azure names.
function Get-Required([string]$name, [string]$pattern) {
    $value = Get-AzdValue $name
    if (-not $value) { throw "bind-function-key: $name is not set in the azd environment (run azd provision first)" }
    if ($value -cnotmatch $pattern) { throw "bind-function-key: $name in the azd environment is not a valid name: refusing to use it" }
    return $value
}

$rg = Get-Required 'AZURE_RESOURCE_GROUP' '^[A-Za-z0-9._()][-A-Za-z0-9._()]{0,89}$'
$app = Get-Required 'SERVICE_API_NAME' '^[A-Za-z0-9][-A-Za-z0-9]{0,58}[A-Za-z0-9]$'
$apim = Get-Required 'AZURE_APIM_NAME' '^[A-Za-z][-A-Za-z0-9]{0,48}[A-Za-z0-9]$'

if (-not (Get-Command az -ErrorAction SilentlyContinue)) { throw 'bind-function-key: the Azure CLI (az) is required: https://aka.ms/azure-cli, then az login' }
& az account show --output none 2>$null
if ($LASTEXITCODE -ne 0) { throw 'bind-function-key: the Azure CLI is not signed in: run az login (same tenant as azd)' }

$key = & az functionapp keys list --resource-group $rg --name $app --query functionKeys.default --output tsv 2>$null
if ($LASTEXITCODE -ne 0 -or -not $key) { throw "bind-function-key: the Function App $app has no default host key yet (is the deployment finished? rerun: azd hooks run postdeploy)" }
$key = ([string]$key).Trim()
if ($key -cnotmatch '^[A-Za-z0-9_=-]{20,200}$') { throw "bind-function-key: the default host key of $app has an unexpected form: not binding it" }

if ((Get-AzdValue 'MCP_FUNCTION_KEY') -cne $key) {
    & azd env set MCP_FUNCTION_KEY $key | Out-Null
    if ($LASTEXITCODE -ne 0) { throw 'bind-function-key: azd env set MCP_FUNCTION_KEY failed' }
}
& az apim nv update --resource-group $rg --service-name $apim --named-value-id $namedValue --secret true --value $key --output none
if ($LASTEXITCODE -ne 0) { throw "bind-function-key: updating the named value $namedValue of $apim failed" }
Write-Host "bind-function-key: $namedValue of $apim now holds the default host key of $app"
