# azd prepackage hook (Windows). Same result as scripts/package.sh: a Linux
# x86-64 (glibc 2.28) release binary of snippets-mcp, cross-linked by zig
# (PyPI ziglang in .venv) through cargo-zigbuild (installed into .tools),
# assembled with host.json in function_app\ and zipped to function_app.zip.
# If Git Bash is installed you can also run scripts/package.sh.
# PowerShell 7.2 or newer: azd runs this hook with Windows PowerShell 5.1 when
# pwsh is not on PATH, and before 7.2 a native command's redirected stderr
# becomes a terminating error under 'Stop' on its first line.
# The preup hook (scripts\preflight.ps1) says how to install PowerShell 7.
#Requires -Version 7.2
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$repoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
Set-Location $repoRoot

$bin = 'snippets-mcp'
$rustTarget = 'x86_64-unknown-linux-gnu'
$glibc = '2.28'
$zigbuildVersion = '0.24.1'
$ziglangVersion = '0.17.0'
$tools = Join-Path $repoRoot '.tools'
$venv = Join-Path $repoRoot '.venv'
$outDir = Join-Path $repoRoot 'function_app'
$zip = Join-Path $repoRoot 'function_app.zip'

$venvPy = Join-Path $venv 'Scripts\python.exe'
if (-not (Test-Path $venvPy)) {
    Write-Host '==> package: creating the project venv .venv\'
    & python -m venv $venv
    if ($LASTEXITCODE -ne 0) { throw 'python -m venv failed' }
}
# Asks without raising, so nothing reaches stderr: Windows PowerShell 5.1 turns a
# native command's stderr into a terminating error under 'Stop', even with 2>$null.
& $venvPy -c "import importlib.metadata as m, sys; sys.exit(all(d.version != '$ziglangVersion' for d in m.distributions(name='ziglang')))"
if ($LASTEXITCODE -ne 0) {
    Write-Host "==> package: installing zig (PyPI ziglang==$ziglangVersion) into .venv\"
    & $venvPy -m pip install -q "ziglang==$ziglangVersion"
    if ($LASTEXITCODE -ne 0) { throw 'pip install ziglang failed' }
}

$zigbuild = Join-Path $tools 'bin\cargo-zigbuild.exe'
$installed = if (Test-Path $zigbuild) { & $zigbuild --version } else { '' }
if ($installed -notmatch " $([regex]::Escape($zigbuildVersion))$") {
    Write-Host "==> package: installing cargo-zigbuild $zigbuildVersion into .tools\"
    & cargo install --locked --quiet --root $tools --version $zigbuildVersion cargo-zigbuild
    if ($LASTEXITCODE -ne 0) { throw 'cargo install cargo-zigbuild failed' }
}

if (Get-Command rustup -ErrorAction SilentlyContinue) {
    $targets = & rustup target list --installed
    if ($targets -notcontains $rustTarget) {
        & rustup target add $rustTarget
        if ($LASTEXITCODE -ne 0) { throw "rustup target add $rustTarget failed" }
    }
}

$env:PATH = (Join-Path $venv 'Scripts') + [IO.Path]::PathSeparator + (Join-Path $tools 'bin') + [IO.Path]::PathSeparator + $env:PATH
if (-not $env:ZIG_GLOBAL_CACHE_DIR) { $env:ZIG_GLOBAL_CACHE_DIR = Join-Path $tools 'zig-cache' }
Write-Host "==> package: cargo zigbuild --release --target $rustTarget.$glibc --bin $bin"
& cargo zigbuild --release --locked --target "$rustTarget.$glibc" --bin $bin
if ($LASTEXITCODE -ne 0) { throw 'cargo zigbuild failed' }

$targetDir = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $repoRoot 'target' }
$built = Join-Path $targetDir "$rustTarget\release\$bin"
if (-not (Test-Path $built)) { throw "build produced no $built" }

New-Item -ItemType Directory -Force -Path $outDir | Out-Null
Copy-Item -Force (Join-Path $repoRoot 'host.json') (Join-Path $outDir 'host.json')
Copy-Item -Force $built (Join-Path $outDir $bin)

# The one zip writer (also scripts/package.sh's), run by the venv's Python
# (.venv\Scripts\python.exe, made above from `python` on PATH). It writes mode
# 0755 on the handler itself: Windows has no execute bit to keep, Compress-Archive
# stores no Unix mode, and the Linux host must be able to run the file.
& $venvPy (Join-Path $repoRoot 'scripts\lib\zip_package.py') $zip $outDir --executable $bin
if ($LASTEXITCODE -ne 0) { throw 'writing function_app.zip failed' }
Write-Host '==> package: ok: function_app\ and function_app.zip'
