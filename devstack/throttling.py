"""The local gateway's throttling limits: the named values of infra/policies/manifest.json that
carry a deployed default (docs/policies.md, "Throttling"). The command line (local/run-gateway.sh,
scripts/run-local.sh) takes them from environment variables, falling back to the deployed
defaults; tests give them to LocalGateway directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import named_values

# Environment variable -> named value. The same names set the deployed values through azd
# (infra/main.parameters.json), so one variable means one thing wherever it is read.
ENVIRONMENT = {
    "MCP_RATE_LIMIT_CALLS": "McpUserRateLimitCalls",
    "MCP_RATE_LIMIT_PERIOD_SECONDS": "McpRateLimitPeriodSecs",
    "MCP_CLIENT_RATE_LIMIT_CALLS": "McpClientRateLimitCalls",
    "MCP_QUOTA_CALLS": "McpUserQuotaCalls",
    "MCP_QUOTA_PERIOD_SECONDS": "McpUserQuotaPeriodSecs",
    "OAUTH_RATE_LIMIT_CALLS": "OAuthRateLimitCalls",
    "OAUTH_RATE_LIMIT_PERIOD_SECONDS": "OAuthRateLimitPeriodSecs",
    "OAUTH_TOKEN_CLIENT_RATE_LIMIT_CALLS": "OAuthTokenClientRateLimitCalls",
}

# What LocalGateway uses when given no limits (the test areas). The shared test stack signs every
# test in as one user (alice), so the MCP API's limits are far above what a test run sends; the
# OAuth API keeps 60 requests a minute per address, which its test reaches with 61 requests
# (each test has a loopback address of its own). A test that is about throttling sets its own.
TEST_LIMITS = {
    "McpUserRateLimitCalls": 1_000_000,
    "McpClientRateLimitCalls": 1_000_000,
    "McpRateLimitPeriodSecs": 60,
    "McpUserQuotaCalls": 100_000_000,
    "McpUserQuotaPeriodSecs": 86_400,
    "OAuthRateLimitCalls": 60,
    "OAuthRateLimitPeriodSecs": 60,
    "OAuthTokenClientRateLimitCalls": 1_000_000,
}


class LimitError(ValueError):
    """A limit is not a whole number APIM would accept there."""


def bounds(policies_dir: Path = named_values.POLICIES) -> dict[str, tuple[int, int]]:
    """{name: (least, greatest)} of every throttling named value, as the manifest declares them."""
    return {
        nv["name"]: (int(nv["min"]), int(nv["max"]))
        for nv in named_values.manifest(policies_dir).get("namedValues", [])
        if "default" in nv
    }


def check(limits: Mapping[str, object], policies_dir: Path = named_values.POLICIES, source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The limits as named-value strings, each a whole number within the manifest's bounds.
    `source` names where a value came from (an environment variable), for the message."""
    known = bounds(policies_dir)
    out = {}
    for name, value in limits.items():
        where = (source or {}).get(name, name)
        if name not in known:
            raise LimitError(f"{where}: not a throttling named value of {Path(policies_dir) / 'manifest.json'}")
        least, greatest = known[name]
        text = str(value).strip()
        if not text.isdigit() or not least <= int(text) <= greatest:
            raise LimitError(f"{where} must be a whole number from {least} to {greatest}, got {value!r}")
        out[name] = str(int(text))
    return out


def from_environment(env: Mapping[str, str], policies_dir: Path = named_values.POLICIES) -> dict[str, str]:
    """The deployed defaults, overridden by the environment variables of ENVIRONMENT that are set."""
    limits: dict[str, object] = {name: value for name, value in named_values.defaults(policies_dir).items() if name in ENVIRONMENT.values()}
    source = {}
    for variable, name in ENVIRONMENT.items():
        if env.get(variable, "") != "":
            limits[name] = env[variable]
            source[name] = variable
    return check(limits, policies_dir, source)
