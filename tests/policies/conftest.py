"""Shared paths and loaders for the APIM policy tests."""

import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
POLICIES = REPO / "infra" / "policies"
HERE = pathlib.Path(__file__).resolve().parent

# Test modules import helpers from this directory by plain module name.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def load_manifest():
    return json.loads((POLICIES / "manifest.json").read_text())


def policy_files():
    return sorted(POLICIES.rglob("*.xml"))
