# The deployed environment as the Windows azd hooks that drive `az` read it (the twin of
# azure-env.sh): values from the azd environment, each checked against what Azure allows in that
# name before it reaches a command line, and the Azure CLI checked to be there and signed in.
# Dot-source it after setting $hookName (each caller names itself in its messages); do not run it.
# PowerShell 7.2 or newer, as its callers: before 7.2 the `2>$null` below becomes a terminating
# error under 'Stop' on the first line a native command writes to stderr.
#Requires -Version 7.2

# A value of the azd environment, '' when it has none.
function Get-AzdValue([string]$name) {
    $value = & azd env get-value $name 2>$null
    if ($LASTEXITCODE -ne 0 -or $null -eq $value) { return '' }
    return ([string]$value).Trim()
}

# Every value reaches an az command line: accept only what Azure itself allows in these names (and
# nothing that could become an option). $requireHint, if a caller sets it after dot-sourcing this,
# says what to do when one is missing.
$requireHint = ''
function Get-Required([string]$name, [string]$pattern) {
    $value = Get-AzdValue $name
    if (-not $value) { throw "${hookName}: $name is not set in the azd environment$requireHint" }
    if ($value -cnotmatch $pattern) { throw "${hookName}: $name in the azd environment is not a valid name: refusing to use it" }
    return $value
}

function Assert-AzSignedIn {
    if (-not (Get-Command az -ErrorAction SilentlyContinue)) { throw "${hookName}: the Azure CLI (az) is required: https://aka.ms/azure-cli, then az login" }
    & az account show --output none 2>$null
    if ($LASTEXITCODE -ne 0) { throw "${hookName}: the Azure CLI is not signed in: run az login (same tenant as azd)" }
}
