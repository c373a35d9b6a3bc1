# azd postdown hook (Windows). Same steps as delete-entra-app.sh: `azd down`
# leaves the Entra app registration behind (a Graph object, not in the resource
# group), and a merely deleted application keeps its uniqueName
# (snippets-mcp-<token>) for 30 days, so the next `azd up` of this environment
# would fail. This deletes the application, then deletes it permanently from
# Entra's deleted items (DELETE <graph>/directory/deletedItems/<object id>).
# If the permanent delete is refused, it stores the next ENTRA_APP_GENERATION
# in the azd environment so that the next `azd up` uses a new unique name.
# Runs after a successful `azd down`, or on its own: azd hooks run postdown.
# PowerShell 7.2 or newer: azd runs this hook with Windows PowerShell 5.1 when
# pwsh is not on PATH, and before 7.2 a native command's redirected stderr (the
# `2>$null` below) becomes a terminating error under 'Stop' on its first line.
# The preup hook (scripts\preflight.ps1) says how to install PowerShell 7.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$graph = 'https://graph.microsoft.com/v1.0'
# Entra replicates a deletion before the deleted item can be purged: retry.
$purgeAttempts = 6
$purgeWaitSeconds = 10
$guid = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

# Get-AzdValue only: this hook signs in to the app registration's tenant, not azd's, so it keeps
# its own az check.
$hookName = 'delete-entra-app'
. (Join-Path $PSScriptRoot '../../scripts/lib/azure-env.ps1')

$appId = Get-AzdValue 'ENTRA_APP_CLIENT_ID'
if (-not $appId) {
    Write-Host 'delete-entra-app: no ENTRA_APP_CLIENT_ID in this azd environment: no app registration to delete'
    exit 0
}
# The value reaches az and a URL: accept only a GUID.
if ($appId -cnotmatch $guid) { throw 'delete-entra-app: ENTRA_APP_CLIENT_ID in the azd environment is not a GUID: refusing to use it' }

if (-not (Get-Command az -ErrorAction SilentlyContinue)) { throw 'delete-entra-app: the Azure CLI (az) is required: https://aka.ms/azure-cli, then az login' }
& az account show --output none 2>$null
if ($LASTEXITCODE -ne 0) { throw 'delete-entra-app: the Azure CLI is not signed in: run az login (the tenant of the app registration)' }

$objectId = [string](& az ad app show --id $appId --query id --output tsv 2>$null)
$objectId = $objectId.Trim()
if ($LASTEXITCODE -eq 0 -and $objectId) {
    if ($objectId -cnotmatch $guid) { throw 'delete-entra-app: az ad app show returned an unexpected object id: stopping' }
    & az ad app delete --id $appId
    if ($LASTEXITCODE -ne 0) { throw "delete-entra-app: deleting the app registration $appId failed (you must own it or be an application administrator)" }
    Write-Host "delete-entra-app: deleted the app registration $appId (it is now in Entra's deleted items)"
}
else {
    # Already deleted (by hand, or by an earlier run that could not purge it).
    $url = "$graph/directory/deletedItems/microsoft.graph.application?`$filter=appId eq '$appId'&`$select=id,appId"
    $objectId = [string](& az rest --method GET --url $url --query 'value[0].id' --output tsv 2>$null)
    $objectId = $objectId.Trim()
    if (-not $objectId) {
        Write-Host "delete-entra-app: the app registration $appId no longer exists, not even in the deleted items: nothing to do"
        exit 0
    }
    if ($objectId -cnotmatch $guid) { throw 'delete-entra-app: the deleted items returned an unexpected object id: stopping' }
    Write-Host "delete-entra-app: the app registration $appId was already deleted; purging it from the deleted items"
}

for ($attempt = 1; $attempt -le $purgeAttempts; $attempt++) {
    & az rest --method DELETE --url "$graph/directory/deletedItems/$objectId" --output none 2>$null
    if ($LASTEXITCODE -eq 0) {
        Write-Host "delete-entra-app: permanently deleted the app registration ${appId}: its unique name is free for the next azd up"
        exit 0
    }
    if ($attempt -lt $purgeAttempts) { Start-Sleep -Seconds $purgeWaitSeconds }
}

# Could not purge: make the next deployment of this environment use a new name.
$generation = Get-AzdValue 'ENTRA_APP_GENERATION'
if ($generation -notmatch '^[0-9]{1,4}$') { $generation = '1' }
$next = [int]$generation + 1
& azd env set ENTRA_APP_GENERATION "$next" | Out-Null
if ($LASTEXITCODE -ne 0) { throw 'delete-entra-app: azd env set ENTRA_APP_GENERATION failed' }
Write-Warning "delete-entra-app: could not delete $appId permanently (it stays in the deleted items for 30 days and keeps its unique name)."
Write-Warning "delete-entra-app: the next azd up in this environment creates the app as generation $next under a new unique name."
Write-Warning "delete-entra-app: to purge it yourself (Application Administrator): az rest --method DELETE --url $graph/directory/deletedItems/$objectId"
