"""The MCP conformance suite as the protocol referee: both protocol revisions, directly and
through the local gateway, plus the authorization-server scenarios; judged against
expected-failures.yaml, and docs/conformance.md checked against the results."""

from __future__ import annotations

import os

import pytest

import conformance_support as cs
import oauth_flow
import report

CASES = [(path, era) for path in ("direct", "gateway", "authorization") for era in cs.ERAS]


@pytest.fixture(scope="session")
def runs(direct_url, gateway, gateway_mcp_url) -> dict[tuple[str, str], cs.Run]:
    """Every suite run once per session (about 30 s together)."""
    out: dict[tuple[str, str], cs.Run] = {}
    for era in cs.ERAS:
        out[("direct", era)] = cs.run_server_suite(direct_url, era, "direct")
    for era in cs.ERAS:
        out[("gateway", era)] = cs.run_server_suite(gateway_mcp_url, era, "gateway")
    for era in cs.ERAS:
        out[("authorization", era)] = oauth_flow.run_authorization_suite(gateway.url, era)
    return out


@pytest.fixture(scope="session")
def baseline():
    return cs.load_baseline()


@pytest.mark.parametrize(("path", "era"), CASES, ids=[f"{p}-{e}" for p, e in CASES])
def test_conformance_matches_baseline(runs, baseline, path, era):
    run = runs[(path, era)]
    new, stale = cs.verdict(run, baseline)
    assert not new, f"new conformance failures ({path}, {era}):\n" + "\n".join(new)
    assert not stale, f"expected failures that pass now ({path}, {era}):\n" + "\n".join(stale)


def test_conformance_baseline_names_only_real_scenarios(runs, baseline):
    """Every baseline entry names a scenario some run produced (no dead entries)."""
    seen = {name for run in runs.values() for name in run.scenarios}
    dead = sorted({f"{section}: {name}" for section, entries in baseline.items() for name in entries if name not in seen})
    assert not dead, f"baseline entries for scenarios no run produced: {dead}"


def test_conformance_report_is_current(runs, baseline):
    text = report.render([runs[c] for c in CASES], baseline)
    if os.environ.get("CONFORMANCE_UPDATE") == "1":
        cs.REPORT.write_text(text)
    committed = cs.REPORT.read_text() if cs.REPORT.exists() else ""
    assert committed == text, (
        f"{cs.REPORT.relative_to(cs.REPO)} is stale: regenerate it with "
        "CONFORMANCE_UPDATE=1 .venv/bin/python -m pytest tests/conformance"
    )
