"""The named values the generated policies declare (infra/policies/manifest.json), and a check
that a local set of values defines all of those: a policy that gains a named value fails the
local gateway's start with a message naming it, instead of at a request."""

from __future__ import annotations

import json
from pathlib import Path

from . import REPO

POLICIES = REPO / "infra" / "policies"


class NamedValuesError(ValueError):
    """The local named values do not match the manifest."""


def manifest(policies_dir: Path = POLICIES) -> dict:
    return json.loads((Path(policies_dir) / "manifest.json").read_text())


def declared(policies_dir: Path = POLICIES) -> dict[str, bool]:
    """{name: secret} for every named value in the manifest."""
    return {nv["name"]: bool(nv.get("secret")) for nv in manifest(policies_dir).get("namedValues", [])}


def defaults(policies_dir: Path = POLICIES) -> dict[str, str]:
    """{name: value} of the named values the manifest gives a deployed default (the throttling
    limits): a local set of values may leave them out."""
    return {nv["name"]: str(nv["default"]) for nv in manifest(policies_dir).get("namedValues", []) if "default" in nv}


def backend_ids(policies_dir: Path = POLICIES) -> list[str]:
    return [b["id"] for b in manifest(policies_dir).get("backends", [])]


def check(values: dict[str, str], policies_dir: Path = POLICIES) -> None:
    missing = sorted(set(declared(policies_dir)) - set(values))
    if missing:
        raise NamedValuesError(
            f"named values: {Path(policies_dir) / 'manifest.json'} declares {missing}, which the local gateway does not define"
        )
