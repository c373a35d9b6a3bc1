# Checks every prerequisite of `azd up` on this machine and names the install
# command for each one that is missing. Runs first in azd's preup hook
# (infra/hooks/preup.ps1) and on its own, from any PowerShell:
#
#   powershell -ExecutionPolicy Bypass -File scripts\preflight.ps1   (Windows PowerShell 5.1)
#   pwsh -File scripts/preflight.ps1                                 (PowerShell 7)
#
# Exit 0 when everything `azd up` needs is there, 1 otherwise (every missing
# item is listed). It changes nothing on the machine.
#
# Deliberately written for Windows PowerShell 5.1 as well as PowerShell 7: it is
# what tells a user without PowerShell 7 to install it (azd falls back to 5.1
# when pwsh is missing, and every other hook requires 7.2). So: no #Requires,
# no PowerShell 7 syntax, and no redirection of a native command's stderr
# (5.1 turns the first redirected stderr line into an error record). Every
# check reads exit codes and stdout itself, so errors are not made fatal here.
$ErrorActionPreference = 'Continue'
Set-StrictMode -Version 2.0

$repoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
$rustTarget = 'x86_64-unknown-linux-gnu'
$pythonMin = [version]'3.9'
$pwshMin = [version]'7.2'
$onWindows = ($env:OS -eq 'Windows_NT')
$script:failures = 0

function Write-Ok([string]$text) { Write-Host "preflight: ok       $text" }
function Write-Note([string]$text) { Write-Host "preflight: note     $text" }
function Write-Missing([string]$id, [string]$problem, [string]$fix) {
    Write-Host "preflight: MISSING  ${id}: $problem" -ForegroundColor Red
    Write-Host "preflight:          install: $fix" -ForegroundColor Red
    $script:failures++
}

# First X.Y[.Z] in a text, as a [version]; $null when there is none.
function Get-VersionIn([object]$text) {
    $joined = ($text | Out-String)
    if ($joined -match '(\d+)\.(\d+)(\.(\d+))?') {
        $patch = if ($Matches[4]) { $Matches[4] } else { '0' }
        return [version]"$($Matches[1]).$($Matches[2]).$patch"
    }
    return $null
}

function Test-Tool([string]$name) {
    return [bool](Get-Command $name -CommandType Application -ErrorAction SilentlyContinue)
}

# Install commands: winget on Windows; Homebrew or the distribution elsewhere.
function Get-InstallCommand([string]$what) {
    if ($onWindows) {
        switch ($what) {
            'azd' { return 'winget install microsoft.azd' }
            'az' { return 'winget install -e --id Microsoft.AzureCLI' }
            'pwsh' { return 'winget install --id Microsoft.PowerShell --source winget' }
            'rust' { return 'winget install Rustlang.Rustup, then: rustup default stable' }
            'cc' { return 'winget install Microsoft.VisualStudio.2022.BuildTools --override "--wait --passive --add Microsoft.VisualStudio.Workload.VCTools --includeRecommended"' }
            'python' { return 'winget install Python.Python.3.12' }
        }
    }
    $isMac = (Test-Path '/System/Library/CoreServices') -and (Test-Tool 'sw_vers')
    switch ($what) {
        'azd' { if ($isMac) { return 'brew tap azure/azd && brew install azd' } else { return 'curl -fsSL https://aka.ms/install-azd.sh | bash' } }
        'az' { if ($isMac) { return 'brew install azure-cli' } else { return 'see https://aka.ms/azure-cli' } }
        'pwsh' { return 'see https://aka.ms/powershell' }
        'rust' { return "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" }
        'cc' { if ($isMac) { return 'xcode-select --install' } else { return 'sudo apt-get install build-essential (or your distribution''s gcc)' } }
        'python' { if ($isMac) { return 'brew install python@3.12' } else { return 'sudo apt-get install python3 python3-venv (or your distribution''s python3)' } }
    }
    return ''
}

# One source of truth each: azure.yaml's requiredVersions and Cargo.toml's rust-version.
$azdMin = $null
foreach ($line in (Get-Content (Join-Path $repoRoot 'azure.yaml'))) {
    if ($line -match '^\s+azd:\s*">=\s*([0-9.]+)"') { $azdMin = [version]$Matches[1]; break }
}
$rustMin = $null
foreach ($line in (Get-Content (Join-Path $repoRoot 'Cargo.toml'))) {
    if ($line -match '^rust-version\s*=\s*"([0-9.]+)"') { $rustMin = [version]$Matches[1]; break }
}
if (-not $azdMin -or -not $rustMin) {
    Write-Host 'preflight: cannot read the minimum versions from azure.yaml / Cargo.toml' -ForegroundColor Red
    exit 2
}

Write-Host "preflight: checking the prerequisites of azd up (PowerShell $($PSVersionTable.PSVersion))"

# --- PowerShell 7.2+ (azd runs the Windows hooks with pwsh, else with 5.1) --------------
if ($onWindows) {
    $pwshVersion = $null
    if ($PSVersionTable.PSVersion -ge $pwshMin) {
        $pwshVersion = $PSVersionTable.PSVersion
    }
    elseif (Test-Tool 'pwsh') {
        $pwshVersion = Get-VersionIn (& pwsh -NoProfile -Command '$PSVersionTable.PSVersion.ToString()')
    }
    if (-not $pwshVersion) {
        Write-Missing 'pwsh' "PowerShell 7 (pwsh) is not on PATH: azd falls back to Windows PowerShell $($PSVersionTable.PSVersion), which the hooks refuse" (Get-InstallCommand 'pwsh')
    }
    elseif ($pwshVersion -lt $pwshMin) {
        Write-Missing 'pwsh' "pwsh $pwshVersion is older than $pwshMin, which the hooks require" (Get-InstallCommand 'pwsh')
    }
    else {
        Write-Ok "pwsh $pwshVersion (>= $pwshMin)"
    }
}

# --- azd, its version, and the alpha feature azure.yaml needs ---------------------------
if (Test-Tool 'azd') {
    $azdVersion = Get-VersionIn (& azd version)
    if (-not $azdVersion) {
        Write-Missing 'azd' "azd is on PATH but 'azd version' printed no version" (Get-InstallCommand 'azd')
    }
    elseif ($azdVersion -lt $azdMin) {
        Write-Missing 'azd' "azd $azdVersion is older than $azdMin (azure.yaml requiredVersions)" (Get-InstallCommand 'azd')
    }
    else {
        Write-Ok "azd $azdVersion (>= $azdMin)"
        # azd refuses `language: custom` before any hook runs unless this alpha
        # feature is on (the variable is parsed like Go's strconv.ParseBool).
        $alpha = ''
        if (@('1', 't', 'T', 'true', 'TRUE', 'True') -ccontains [string]$env:AZD_ALPHA_ENABLE_LANGUAGE_CUSTOM) { $alpha = 'on' }
        else { $alpha = [string](& azd config get alpha.language.custom) }
        if ($alpha -match 'on') { Write-Ok 'azd alpha feature language.custom is on' }
        else { Write-Missing 'azd-alpha' "azd's alpha feature language.custom is off (azure.yaml uses language: custom)" 'azd config set alpha.language.custom on' }
    }
}
else {
    Write-Missing 'azd' 'the Azure Developer CLI (azd) is not on PATH' (Get-InstallCommand 'azd')
}

# --- az, signed in --------------------------------------------------------------------------
if (Test-Tool 'az') {
    & az account show --output none | Out-Null
    if ($LASTEXITCODE -eq 0) { Write-Ok 'az is signed in' }
    else { Write-Missing 'az-login' 'the Azure CLI is not signed in (the postdeploy and postdown hooks use it)' 'az login' }
}
else {
    Write-Missing 'az' 'the Azure CLI (az) is not on PATH (the postdeploy and postdown hooks use it)' (Get-InstallCommand 'az')
}

# --- Rust ---------------------------------------------------------------------------------
if ((Test-Tool 'cargo') -and (Test-Tool 'rustc')) {
    $rustVersion = Get-VersionIn (& rustc --version)
    if (-not $rustVersion -or $rustVersion -lt $rustMin) {
        Write-Missing 'rust' "rustc $rustVersion is older than $rustMin (Cargo.toml rust-version)" 'rustup update stable'
    }
    else {
        Write-Ok "rustc $rustVersion (>= $rustMin)"
    }
    # The package step adds the Linux target with rustup; without rustup the
    # toolchain must already carry its standard library.
    if (Test-Tool 'rustup') {
        Write-Ok "rustup (the package step adds the $rustTarget target if it is missing)"
    }
    else {
        $sysroot = [string](& rustc --print sysroot)
        if ($sysroot -and (Test-Path (Join-Path $sysroot.Trim() "lib/rustlib/$rustTarget"))) { Write-Ok "the Rust standard library for $rustTarget" }
        else { Write-Missing 'rust-target' "no rustup and no Rust standard library for $rustTarget" (Get-InstallCommand 'rust') }
    }
}
else {
    Write-Missing 'rust' 'cargo/rustc are not on PATH' (Get-InstallCommand 'rust')
}

# --- a C linker for the host ------------------------------------------------------------------
# Build scripts and proc-macros are compiled for the host and linked by the host's
# toolchain (on Windows, MSVC's link.exe, which rustc finds through the Visual Studio
# installer even when it is not on PATH); only the final binary is linked by zig.
if ($onWindows) {
    $linker = ''
    $vswhere = Join-Path ${env:ProgramFiles(x86)} 'Microsoft Visual Studio\Installer\vswhere.exe'
    if (Test-Path $vswhere) {
        $vsPath = [string](& $vswhere -latest -products * -requires Microsoft.VisualStudio.Component.VC.Tools.x86.x64 -property installationPath)
        if ($vsPath.Trim()) { $linker = "MSVC build tools in $($vsPath.Trim())" }
    }
    if (-not $linker) {
        $link = Get-Command link.exe -CommandType Application -ErrorAction SilentlyContinue
        # Git for Windows ships a coreutils `link`: only MSVC's counts.
        if ($link -and $link.Source -match 'MSVC') { $linker = "MSVC link.exe ($($link.Source))" }
    }
    if ($linker) { Write-Ok "C linker for the host: $linker" }
    else { Write-Missing 'cc' 'no MSVC C++ build tools (link.exe) for the host: Rust on Windows links with them' (Get-InstallCommand 'cc') }
}
else {
    $cc = @('cc', 'gcc', 'clang') | Where-Object { Test-Tool $_ } | Select-Object -First 1
    if ($cc) { Write-Ok "C linker for the host: $cc" }
    else { Write-Missing 'cc' 'no C compiler/linker (cc, gcc or clang) for the host' (Get-InstallCommand 'cc') }
}

# --- Python 3 with venv (zig comes from PyPI into .venv) -----------------------------------------
# prepackage.ps1 runs `python -m venv`. On Windows, `python` may be the Microsoft
# Store's placeholder, which prints no version: that counts as missing.
$python = @('python', 'python3') | Where-Object { Test-Tool $_ } | Select-Object -First 1
if (-not $python) {
    Write-Missing 'python' 'Python 3 is not on PATH (python)' (Get-InstallCommand 'python')
}
else {
    $pyVersion = Get-VersionIn (& $python -c 'import sys; print(sys.version.split()[0])')
    if (-not $pyVersion -or $pyVersion -lt $pythonMin) {
        Write-Missing 'python' "$python is $pyVersion; Python $pythonMin or newer is needed" (Get-InstallCommand 'python')
    }
    else {
        & $python -c 'import venv, ensurepip' | Out-Null
        if ($LASTEXITCODE -ne 0) { Write-Missing 'python-venv' "$python has no working venv module (ensurepip is missing)" (Get-InstallCommand 'python') }
        else { Write-Ok "Python $pyVersion with venv" }
    }
}

# --- the cross build's own tools: installed by the package step itself --------------------------
if ((Test-Path (Join-Path $repoRoot '.tools/bin/cargo-zigbuild.exe')) -or (Test-Path (Join-Path $repoRoot '.tools/bin/cargo-zigbuild'))) {
    Write-Ok 'cargo-zigbuild in .tools'
}
else {
    Write-Note 'cargo-zigbuild: the first package step installs it into .tools (cargo install from crates.io, a few minutes)'
}
if ((Test-Path (Join-Path $repoRoot '.venv/Lib/site-packages/ziglang')) -or (Get-ChildItem (Join-Path $repoRoot '.venv/lib') -Filter 'python*' -ErrorAction SilentlyContinue | Where-Object { Test-Path (Join-Path $_.FullName 'site-packages/ziglang') })) {
    Write-Ok 'zig (PyPI ziglang) in .venv'
}
else {
    Write-Note 'zig: the first package step installs PyPI ziglang into .venv (needs access to PyPI)'
}

if ($script:failures -gt 0) {
    Write-Host "preflight: $($script:failures) prerequisite(s) missing: install them, then rerun scripts\preflight.ps1" -ForegroundColor Red
    exit 1
}
Write-Host 'preflight: everything azd up needs is here'
exit 0
