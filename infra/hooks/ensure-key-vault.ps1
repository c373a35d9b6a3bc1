# azd preprovision hook, second half (Windows). Same steps as ensure-key-vault.sh:
#  1. recover this environment's soft-deleted vault, if `azd down` left one;
#  2. deploy infra/key-vault.bicep (resource group, vault, deployer's Secrets Officer role);
#  3. write each secret only when the vault lacks it (new session-token keys: 32 random bytes,
#     standard base64; `none` / `0` for the previous keys; a placeholder host key).
# A value reaches az through a temporary file readable by the current user only, deleted at once;
# it is never an argument, never printed, never stored in .azure/.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$repoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
$rbacWaitSeconds = 10
$rbacAttempts = 30

# Secret names: infra/core/security/key-vault-secrets.bicep (tests/infra checks they match).
$sessionKeys = @('session-token-enc-key', 'session-token-mac-key')
$previousKeys = @('session-token-previous-enc-key', 'session-token-previous-mac-key')
$previousUntil = 'session-token-previous-until'
$functionKey = 'apim-function-key'
$functionKeyPlaceholder = 'unbound-until-first-deploy'

$hookName = 'ensure-key-vault'
. (Join-Path $repoRoot 'scripts/lib/azure-env.ps1')

$envName = Get-Required 'AZURE_ENV_NAME' '^[A-Za-z0-9][-A-Za-z0-9_]{0,63}$'
$location = Get-Required 'AZURE_LOCATION' '^[a-z0-9]{1,40}$'
$subscription = Get-Required 'AZURE_SUBSCRIPTION_ID' '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
$rgName = Get-AzdValue 'AZURE_RESOURCE_GROUP_NAME'
if ($rgName -and $rgName -cnotmatch '^[A-Za-z0-9._()][-A-Za-z0-9._()]{0,89}$') { throw 'ensure-key-vault: AZURE_RESOURCE_GROUP_NAME is not a valid name' }

Assert-AzSignedIn

$principalType = 'User'
if ((& az account show --query user.type --output tsv) -eq 'servicePrincipal') {
    $principalType = 'ServicePrincipal'
    $clientId = & az account show --query user.name --output tsv
    $principalId = & az ad sp show --id $clientId --query id --output tsv
}
else {
    $principalId = & az ad signed-in-user show --query id --output tsv
}
$principalId = ([string]$principalId).Trim()
if ($principalId -cnotmatch '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$') { throw "ensure-key-vault: no object id for the signed-in principal" }

# 1. A vault of this environment that `azd down` deleted: recover it (and its keys).
$deleted = & az keyvault list-deleted --subscription $subscription --resource-type vault `
    --query "[?properties.tags.\`"azd-env-name\`"=='$envName' && properties.location=='$location'].name" --output tsv 2>$null
if ($LASTEXITCODE -eq 0 -and $deleted) {
    $deleted = ([string]$deleted).Trim()
    if ($deleted -cnotmatch '^[A-Za-z0-9-]{3,24}$') { throw 'ensure-key-vault: unexpected deleted vault name' }
    Write-Host "ensure-key-vault: recovering the soft-deleted vault $deleted of this environment"
    & az keyvault recover --subscription $subscription --name $deleted --output none
    if ($LASTEXITCODE -ne 0) { throw "ensure-key-vault: recovering the vault $deleted failed" }
}

# 2. The vault as main.bicep declares it.
Write-Host 'ensure-key-vault: deploying the Key Vault (infra/key-vault.bicep)'
$vault = & az deployment sub create --subscription $subscription --location $location `
    --name "$envName-key-vault" --template-file (Join-Path $repoRoot 'infra/key-vault.bicep') `
    --parameters environmentName=$envName location=$location resourceGroupName=$rgName `
    principalId=$principalId principalType=$principalType `
    --query properties.outputs.AZURE_KEY_VAULT_NAME.value --output tsv
if ($LASTEXITCODE -ne 0) { throw 'ensure-key-vault: deploying infra/key-vault.bicep failed' }
$vault = ([string]$vault).Trim()
if ($vault -cnotmatch '^[A-Za-z0-9-]{3,24}$') { throw 'ensure-key-vault: the Key Vault deployment returned no vault name' }

# 3. Each secret, only when absent (only SecretNotFound means absent; Forbidden while the
# deployer's new role propagates is retried).
function Test-Secret([string]$name) {
    for ($attempt = 1; $attempt -le $rbacAttempts; $attempt++) {
        $err = & az keyvault secret show --vault-name $vault --name $name --query id --output none 2>&1
        if ($LASTEXITCODE -eq 0) { return $true }
        $text = [string]::Join("`n", @($err))
        if ($text -match 'SecretNotFound|was not found') { return $false }
        if ($text -match 'Forbidden|not authorized') { Start-Sleep -Seconds $rbacWaitSeconds; continue }
        throw "ensure-key-vault: reading secret $name of $vault failed"
    }
    throw "ensure-key-vault: no access to the secrets of $vault after $rbacAttempts attempts (role assignment not propagated?)"
}

function Set-Secret([string]$name, [string]$value) {
    $file = New-TemporaryFile
    try {
        [System.IO.File]::WriteAllText($file.FullName, $value)
        & az keyvault secret set --vault-name $vault --name $name --file $file.FullName --encoding utf-8 --output none | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "ensure-key-vault: writing secret $name of $vault failed" }
    }
    finally {
        Remove-Item -LiteralPath $file.FullName -Force -ErrorAction SilentlyContinue
    }
    Write-Host "ensure-key-vault: wrote $name"
}

function New-Key {
    $bytes = [byte[]]::new(32)
    [System.Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
    return [Convert]::ToBase64String($bytes)
}

$written = 0
foreach ($name in $sessionKeys) {
    if (-not (Test-Secret $name)) { Set-Secret $name (New-Key); $written++ }
}
foreach ($name in $previousKeys) {
    if (-not (Test-Secret $name)) { Set-Secret $name 'none'; $written++ }
}
if (-not (Test-Secret $previousUntil)) { Set-Secret $previousUntil '0'; $written++ }
if (-not (Test-Secret $functionKey)) { Set-Secret $functionKey $functionKeyPlaceholder; $written++ }
Write-Host "ensure-key-vault: $vault holds every secret ($written written, the others kept)"
