//! Throttling of the two APIs: the named values holding the limits, their deployed defaults and
//! the bounds APIM accepts, and the names the MCP API's policies and error answer use.
//!
//! The MCP API counts calls per verified user (`sub` of the session token), per client
//! application (`cid`) and, on the tiers that offer `quota-by-key`, per user over a long period.
//! The keys come from the token the gateway has just verified, never from a header, so a caller
//! can neither spend someone else's allowance nor escape its own. The OAuth API's endpoints are
//! anonymous and keep counting per client IP address; `/token` also counts the grants it
//! answers per client application, once the grant has been verified.

/// A limit Bicep passes to APIM as a named value.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Named value, `{{name}}` in the policies.
    pub name: &'static str,
    /// Deployed default (the Bicep parameter's default, checked by tests/infra).
    pub default: u32,
    /// Least value APIM accepts here.
    pub min: u32,
    /// Greatest value APIM accepts here.
    pub max: u32,
    /// What it limits.
    pub description: &'static str,
}

/// APIM named value: calls one user may make to the MCP API per rate-limit period.
pub const NV_MCP_USER_RATE_LIMIT_CALLS: &str = "McpUserRateLimitCalls";
/// APIM named value: calls all users of one client application may make per rate-limit period.
pub const NV_MCP_CLIENT_RATE_LIMIT_CALLS: &str = "McpClientRateLimitCalls";
/// APIM named value: the MCP API's rate-limit period in seconds (per user and per client).
pub const NV_MCP_RATE_LIMIT_PERIOD_SECS: &str = "McpRateLimitPeriodSecs";
/// APIM named value: calls one user may make to the MCP API per quota period.
pub const NV_MCP_USER_QUOTA_CALLS: &str = "McpUserQuotaCalls";
/// APIM named value: the MCP API's quota period in seconds.
pub const NV_MCP_USER_QUOTA_PERIOD_SECS: &str = "McpUserQuotaPeriodSecs";
/// APIM named value: requests one client IP address may make to the OAuth API per period.
pub const NV_OAUTH_RATE_LIMIT_CALLS: &str = "OAuthRateLimitCalls";
/// APIM named value: the OAuth API's rate-limit period in seconds.
pub const NV_OAUTH_RATE_LIMIT_PERIOD_SECS: &str = "OAuthRateLimitPeriodSecs";
/// APIM named value: tokens `/token` may issue to one client application per OAuth period.
pub const NV_OAUTH_TOKEN_CLIENT_RATE_LIMIT_CALLS: &str = "OAuthTokenClientRateLimitCalls";

/// `rate-limit-by-key` accepts renewal periods up to 300 seconds.
pub const RATE_LIMIT_MAX_PERIOD_SECS: u32 = 300;
/// `quota-by-key` accepts renewal periods from 300 seconds on (0, "never renews", is not
/// offered: a quota that never renews would lock a user out for good).
pub const QUOTA_MIN_PERIOD_SECS: u32 = 300;

/// Every throttling named value, with its deployed default and bounds.
///
/// Defaults, and why:
/// * 120 calls a minute per user. An agent working for a person calls a tool every few seconds
///   (10-30 a minute) and a session start costs a handful of calls (initialize, tools/list);
///   120 leaves room for bursts, while a runaway loop or a stolen token is stopped within a
///   minute at 2 calls a second.
/// * 600 calls a minute per client application: five users at their full limit, or dozens at a
///   normal pace. A client identified by a metadata document URL is shared by every user of that
///   application, so a deployment with many users of one application raises it.
/// * 10,000 calls a day per user: hours of continuous agent use, so no person meets it, while a
///   token used to drain storage or the Function App is stopped for the rest of the day.
/// * 600 requests a minute per client IP address on the OAuth API: a company's users often
///   reach it from one NAT address, and a sign-in costs about ten requests (metadata,
///   registration, authorize, consent, callback, token) plus a refresh an hour per client, so
///   60 a minute would refuse an office signing in at nine; 600 still bounds what one address
///   can make the gateway do (registration writes, Entra calls, metadata document fetches).
/// * 300 grants a minute per client application at `/token`, counted once the code or refresh
///   token has been verified (so nobody can spend another client's allowance with made-up
///   requests): a sign-in costs one grant and a session one refresh an hour, so 300 is an
///   office of hundreds signing in within a minute through one application, while a client
///   refreshing in a loop, from however many addresses, is stopped.
pub const LIMITS: &[Limit] = &[
    Limit {
        name: NV_MCP_USER_RATE_LIMIT_CALLS,
        default: 120,
        min: 1,
        max: 1_000_000,
        description: "MCP API: calls per user (session token sub) per McpRateLimitPeriodSecs",
    },
    Limit {
        name: NV_MCP_CLIENT_RATE_LIMIT_CALLS,
        default: 600,
        min: 1,
        max: 1_000_000,
        description: "MCP API: calls per client application (session token cid) per McpRateLimitPeriodSecs",
    },
    Limit {
        name: NV_MCP_RATE_LIMIT_PERIOD_SECS,
        default: 60,
        min: 1,
        max: RATE_LIMIT_MAX_PERIOD_SECS,
        description: "MCP API: rate-limit period in seconds (rate-limit-by-key allows at most 300)",
    },
    Limit {
        name: NV_MCP_USER_QUOTA_CALLS,
        default: 10_000,
        min: 1,
        max: 100_000_000,
        description: "MCP API: calls per user per McpUserQuotaPeriodSecs (quota-by-key; not on the v2 tiers)",
    },
    Limit {
        name: NV_MCP_USER_QUOTA_PERIOD_SECS,
        default: 86_400,
        min: QUOTA_MIN_PERIOD_SECS,
        max: 31_536_000,
        description: "MCP API: quota period in seconds, counted from 0001-01-01T00:00:00Z (86400: UTC days; quota-by-key allows at least 300)",
    },
    Limit {
        name: NV_OAUTH_RATE_LIMIT_CALLS,
        default: 600,
        min: 1,
        max: 1_000_000,
        description: "OAuth API: requests per client IP address per OAuthRateLimitPeriodSecs (CORS preflights not counted)",
    },
    Limit {
        name: NV_OAUTH_RATE_LIMIT_PERIOD_SECS,
        default: 60,
        min: 1,
        max: RATE_LIMIT_MAX_PERIOD_SECS,
        description: "OAuth API: rate-limit period in seconds (rate-limit-by-key allows at most 300)",
    },
    Limit {
        name: NV_OAUTH_TOKEN_CLIENT_RATE_LIMIT_CALLS,
        default: 300,
        min: 1,
        max: 1_000_000,
        description: "OAuth API: verified grants /token answers per client application (client_id) per OAuthRateLimitPeriodSecs",
    },
];

/// Policy fragment: the per-user quota of the MCP API (`quota-by-key`). APIM's v2 tiers do not
/// offer `quota-by-key`, so on them Bicep deploys [`QUOTA_V2_STAND_IN`] under this id instead.
pub const FRAGMENT_MCP_USER_QUOTA: &str = "mcp-user-quota";

/// `id` of the per-user `rate-limit-by-key`; `context.LastError.PolicyId` names the limit that
/// refused a call, so the answer can say which one it was.
pub const POLICY_ID_USER_RATE: &str = "mcp-user-rate";
/// `id` of the per-client `rate-limit-by-key`.
pub const POLICY_ID_CLIENT_RATE: &str = "mcp-client-rate";
/// `id` of the per-user `quota-by-key`.
pub const POLICY_ID_USER_QUOTA: &str = "mcp-user-quota";

/// Counter key prefixes. APIM shares one counter per key value across every scope (and, for
/// quotas, every API), so each limit's keys carry a prefix of their own.
pub const KEY_PREFIX_USER_RATE: &str = "mcp-user-";
/// Counter key prefix of the per-client rate limit.
pub const KEY_PREFIX_CLIENT_RATE: &str = "mcp-client-";
/// Counter key prefix of the per-user quota.
pub const KEY_PREFIX_USER_QUOTA: &str = "mcp-quota-";
/// Counter key prefix of the OAuth API's per-address limit.
pub const KEY_PREFIX_OAUTH: &str = "oauth-";
/// Counter key prefix of `/token`'s per-client limit (an address never starts with `token-`,
/// so these keys never meet the per-address ones).
pub const KEY_PREFIX_TOKEN_CLIENT: &str = "oauth-token-client-";

/// Variable the MCP API's rate limits store their suggested wait in (`retry-after-variable-name`).
pub const VAR_RETRY_AFTER: &str = "mcpRetryAfter";

/// JSON-RPC error code of a throttled MCP POST: the first code of JSON-RPC 2.0's range for
/// implementation-defined server errors. MCP defines no code for throttling, and clients show
/// an error's `message` whatever its code; the HTTP status (429) and `Retry-After` carry the
/// meaning for clients that act on them.
pub const JSONRPC_THROTTLED_CODE: i32 = -32000;

/// The `mcp-user-quota` fragment Bicep deploys on the v2 tiers, where `quota-by-key` does not
/// exist: it only records that no quota applies, so the MCP API policy is the same on every tier.
pub const QUOTA_V2_STAND_IN: &str = "<fragment>
  <!-- API Management's v2 tiers have no quota-by-key: no per-user quota applies there. -->
  <set-variable name=\"mcpUserQuota\" value=\"unavailable on this tier\" />
</fragment>
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lie_within_what_apim_accepts() {
        for limit in LIMITS {
            assert!(
                limit.min <= limit.default && limit.default <= limit.max,
                "{}",
                limit.name
            );
        }
        let period = |name| LIMITS.iter().find(|l| l.name == name).unwrap();
        for name in [
            NV_MCP_RATE_LIMIT_PERIOD_SECS,
            NV_OAUTH_RATE_LIMIT_PERIOD_SECS,
        ] {
            assert!(period(name).max <= RATE_LIMIT_MAX_PERIOD_SECS);
        }
        assert!(period(NV_MCP_USER_QUOTA_PERIOD_SECS).min >= QUOTA_MIN_PERIOD_SECS);
    }

    #[test]
    fn the_v2_stand_in_holds_no_quota() {
        let xml = QUOTA_V2_STAND_IN;
        assert!(xml.starts_with("<fragment>") && xml.trim_end().ends_with("</fragment>"));
        assert!(!xml.contains("<quota-by-key"));
        assert!(!xml.contains("{{"));
    }
}
