"""Shared paths and loaders for the APIM policy tests (imported by module name, not a conftest)."""

import json
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
POLICIES = REPO / "infra" / "policies"
HERE = pathlib.Path(__file__).resolve().parent



def load_manifest():
    return json.loads((POLICIES / "manifest.json").read_text())


def policy_files():
    return sorted(POLICIES.rglob("*.xml"))
