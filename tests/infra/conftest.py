"""Fixtures of the infra test area."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from infra_helpers import MANIFEST, REPO_ROOT, manifest, rel  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def policy_manifest() -> dict:
    if not MANIFEST.is_file():
        pytest.fail(f"{rel(MANIFEST)} is missing: run `cargo run -p policies --bin render-policies`")
    return manifest()
