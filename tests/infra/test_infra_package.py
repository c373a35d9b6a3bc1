"""scripts/package.sh builds a Linux x86-64 binary the Flex Consumption image
can run (glibc symbols <= 2.28) and assembles function_app/ + function_app.zip.

The package is built once per session (the release build is cached in
target/x86_64-unknown-linux-gnu/; a second run with nothing changed is fast).
The zip writer both package scripts call (scripts/lib/zip_package.py) is also
checked on its own, on a small folder, without the cross build."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from infra_helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "scripts" / "package.sh"
ZIP_WRITER = REPO_ROOT / "scripts" / "lib" / "zip_package.py"
OUT = REPO_ROOT / "function_app"
ZIP = REPO_ROOT / "function_app.zip"
MAX_GLIBC = (2, 28)

# A fresh release cross-build takes several minutes on two cores (more than the
# suite's default per-test timeout); the build runs in the module fixture.
pytestmark = pytest.mark.timeout(2400)


def run_package() -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(PACKAGE)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=2400)


@pytest.fixture(scope="module")
def packaged():
    proc = run_package()
    assert proc.returncode == 0, f"package.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def host_json() -> dict:
    import json

    return json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))


def executable_name() -> str:
    return host_json()["customHandler"]["description"]["defaultExecutablePath"]


def test_binary_is_x86_64_linux_elf(packaged):
    from elftools.elf.elffile import ELFFile

    with open(OUT / executable_name(), "rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 64
        assert elf.little_endian
        assert elf["e_machine"] == "EM_X86_64"
        assert elf["e_ident"]["EI_OSABI"] in ("ELFOSABI_SYSV", "ELFOSABI_LINUX")
        interp = elf.get_section_by_name(".interp")
        # glibc's dynamic loader: the Functions Linux image is glibc-based.
        assert interp is not None and interp.data().rstrip(b"\0") == b"/lib64/ld-linux-x86-64.so.2"


def glibc_versions(path: Path) -> set[tuple[int, ...]]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    found = set()
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for _verneed, auxes in section.iter_versions():
                    for aux in auxes:
                        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)+)", aux.name)
                        if m:
                            found.add(tuple(int(x) for x in m.group(1).split(".")))
    return found


def test_binary_needs_glibc_2_28_at_most(packaged):
    versions = glibc_versions(OUT / executable_name())
    assert versions, "no GLIBC_* version needs found: not a dynamically linked glibc binary?"
    newest = max(versions)
    assert newest <= MAX_GLIBC, f"binary requires GLIBC_{'.'.join(map(str, newest))} (> 2.28)"


def test_readelf_agrees_on_the_glibc_ceiling(packaged):
    proc = subprocess.run(["readelf", "-V", str(OUT / executable_name())], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("readelf unavailable")
    found = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", proc.stdout)}
    assert found and max(found) <= MAX_GLIBC, sorted(found)[-3:]


def test_function_app_holds_host_json_and_an_executable_handler(packaged):
    assert (OUT / "host.json").read_bytes() == (REPO_ROOT / "host.json").read_bytes()
    exe = OUT / executable_name()
    assert exe.is_file()
    assert exe.stat().st_mode & stat.S_IXUSR, "the handler must be executable"
    assert executable_name() == "snippets-mcp"


def test_the_packaged_binary_starts_here(packaged):
    # This machine is x86-64 glibc too: the binary must at least load (no
    # missing GLIBC symbols, no exec format error).
    proc = subprocess.run([str(OUT / executable_name()), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode not in (126, 127), proc.stderr
    assert "GLIBC" not in proc.stderr and "not found" not in proc.stderr, proc.stderr


def test_zip_has_the_deployable_layout(packaged):
    with zipfile.ZipFile(ZIP) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(["host.json", executable_name()]), names
        info = zf.getinfo(executable_name())
        mode = (info.external_attr >> 16) & 0o777
        assert mode == 0o755, oct(mode)
        assert zf.read(executable_name()) == (OUT / executable_name()).read_bytes()
        assert zf.read("host.json") == (REPO_ROOT / "host.json").read_bytes()


def test_second_run_is_idempotent(packaged):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (ZIP, OUT / executable_name())}
    start = time.monotonic()
    proc = run_package()
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path, (mtime, data) in before.items():
        assert path.read_bytes() == data, f"{path.name} changed without a source change"
        assert path.stat().st_mtime_ns == mtime, f"{path.name} was rewritten without a change"
    assert "installing" not in proc.stdout, "tools were reinstalled on the second run"
    assert elapsed < 300, f"no-op package took {elapsed:.0f}s"


# --- the one zip writer, on its own (no cross build) --------------------------------------


def write_zip(out: Path, src: Path, *executables: str) -> subprocess.CompletedProcess:
    import sys

    argv = [sys.executable, str(ZIP_WRITER), str(out), str(src)]
    for name in executables:
        argv += ["--executable", name]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    src = tmp_path / "app"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "host.json").write_text('{"version": "2.0"}\n')
    (src / "handler").write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    (src / "handler").chmod(0o644)  # no execute bit, as on Windows: the name alone decides
    (src / "tool.sh").write_text("#!/bin/sh\n")
    (src / "tool.sh").chmod(0o755)  # an execute bit alone does not make it 0755 in the zip
    (src / "sub" / "b.txt").write_text("b")
    (src / "sub" / "deeper" / "a.txt").write_text("a")
    (src / ".gitignore").write_text("*\n")
    (src / "sub" / ".hidden").write_text("h")
    return src


def test_zip_writer_puts_every_file_at_the_root_with_the_modes_asked_for(tmp_path, app_dir):
    out = tmp_path / "app.zip"
    proc = write_zip(out, app_dir, "handler")
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["handler", "host.json", "tool.sh", "sub/b.txt", "sub/deeper/a.txt"]
        for info in infos:
            assert info.create_system == 3, "Unix creator, so the host reads the mode from external_attr"
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert stat.S_ISREG(info.external_attr >> 16)
            want = 0o755 if info.filename == "handler" else 0o644
            assert stat.S_IMODE(info.external_attr >> 16) == want, (info.filename, oct(info.external_attr >> 16))
            assert zf.read(info) == (app_dir / info.filename).read_bytes()


def test_zip_writer_is_reproducible_and_rewrites_only_on_change(tmp_path, app_dir):
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    assert write_zip(first, app_dir, "handler").returncode == 0
    os.utime(app_dir / "host.json", (0, 0))  # file times must not reach the zip
    assert write_zip(second, app_dir, "handler").returncode == 0
    assert first.read_bytes() == second.read_bytes()
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    assert write_zip(first, app_dir, "handler").returncode == 0
    assert first.stat().st_mtime_ns == 1_000_000_000, "an unchanged zip must not be rewritten"
    (app_dir / "host.json").write_text('{"version": "2.0", "changed": true}\n')
    assert write_zip(first, app_dir, "handler").returncode == 0
    assert first.stat().st_mtime_ns != 1_000_000_000
    with zipfile.ZipFile(first) as zf:
        assert b"changed" in zf.read("host.json")
    assert not (tmp_path / "first.zip.tmp").exists()


def test_zip_writer_leaves_out_its_own_output(app_dir):
    out = app_dir / "package.zip"
    assert write_zip(out, app_dir, "handler").returncode == 0
    assert write_zip(out, app_dir, "handler").returncode == 0
    with zipfile.ZipFile(out) as zf:
        assert "package.zip" not in zf.namelist()


def test_zip_writer_refuses_an_executable_the_folder_lacks(tmp_path, app_dir):
    out = tmp_path / "app.zip"
    proc = write_zip(out, app_dir, "handler", "snippets-mcp")
    assert proc.returncode != 0
    assert "snippets-mcp" in proc.stderr
    assert not out.exists()


def test_both_package_scripts_call_the_one_zip_writer():
    package_sh = PACKAGE.read_text(encoding="utf-8")
    assert '"$REPO_ROOT/scripts/lib/zip_package.py" "$ZIP" "$OUT_DIR" --executable "$BIN"' in package_sh
    package_ps1 = (REPO_ROOT / "infra" / "hooks" / "prepackage.ps1").read_text(encoding="utf-8")
    assert "& $venvPy (Join-Path $repoRoot 'scripts\\lib\\zip_package.py') $zip $outDir --executable $bin" in package_ps1
    for name, text in (("package.sh", package_sh), ("prepackage.ps1", package_ps1)):
        code = code_lines(text)
        assert "zipfile" not in code and "Compress-Archive" not in code, f"{name} zips by itself again"


def code_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
