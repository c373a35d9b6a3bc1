"""scripts/package.sh builds a Linux x86-64 binary the Flex Consumption image
can run (glibc symbols <= 2.28) and assembles function_app/ + function_app.zip.

The package is built once per session (the release build is cached in
target/x86_64-unknown-linux-gnu/; a second run with nothing changed is fast)."""

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
