//! The scopes a session token grants (`scp`) and which tool needs which. One vocabulary for the
//! gateway, which grants scopes from the user's app roles, and the server, which enforces them per
//! tool: both import these names, so they cannot drift.

/// Reading: `hello_mcp`, `list_snippets`, `get_snippet`.
pub const SCOPE_READ: &str = "snippets.read";
/// Writing: `save_snippet`, `delete_snippet`.
pub const SCOPE_WRITE: &str = "snippets.write";
/// Every scope this server knows, in the order metadata and tokens list them.
pub const SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];
/// The tools that change stored data; every other tool needs [`SCOPE_READ`].
pub const WRITE_TOOLS: [&str; 2] = ["save_snippet", "delete_snippet"];

/// JSON-RPC error code of a tool call refused for insufficient scope (a server-defined code, in
/// the range JSON-RPC reserves for implementations), the same from the gateway and the server.
pub const JSONRPC_INSUFFICIENT_SCOPE_CODE: i32 = -32003;

/// The scope a call of `tool` needs. A tool this list does not name (also one the server does not
/// have) needs the read scope, so an unknown name is answered only to a caller who may read.
pub fn required_for_tool(tool: &str) -> &'static str {
    if WRITE_TOOLS.contains(&tool) {
        SCOPE_WRITE
    } else {
        SCOPE_READ
    }
}

/// Whether a space-separated `scp` value holds `scope` (an exact member, never a prefix).
pub fn grants(scp: &str, scope: &str) -> bool {
    scp.split(' ').any(|granted| granted == scope)
}

/// The `scope` of an `insufficient_scope` challenge for `required`: the scopes the caller already
/// holds plus the one it lacks, so a client that steps up keeps what it had (MCP authorization,
/// "Scope Challenge Handling"), in [`SCOPES`] order.
pub fn challenge_scope(scp: &str, required: &str) -> String {
    SCOPES
        .iter()
        .copied()
        .filter(|s| *s == required || grants(scp, s))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_tools_need_the_write_scope_and_others_the_read_scope() {
        assert_eq!(required_for_tool("save_snippet"), SCOPE_WRITE);
        assert_eq!(required_for_tool("delete_snippet"), SCOPE_WRITE);
        for tool in [
            "hello_mcp",
            "list_snippets",
            "get_snippet",
            "no_such_tool",
            "",
        ] {
            assert_eq!(required_for_tool(tool), SCOPE_READ, "{tool}");
        }
    }

    #[test]
    fn grants_matches_whole_members_only() {
        assert!(grants("snippets.read snippets.write", SCOPE_WRITE));
        assert!(grants("snippets.read", SCOPE_READ));
        assert!(!grants("snippets.read", SCOPE_WRITE));
        assert!(!grants("snippets.writer", SCOPE_WRITE));
        assert!(!grants("xsnippets.write", SCOPE_WRITE));
        assert!(!grants("", SCOPE_READ));
        assert!(!grants("mcp.tools", SCOPE_READ));
    }

    #[test]
    fn a_challenge_keeps_what_the_caller_holds() {
        assert_eq!(
            challenge_scope("snippets.read", SCOPE_WRITE),
            "snippets.read snippets.write"
        );
        assert_eq!(
            challenge_scope("snippets.write", SCOPE_READ),
            "snippets.read snippets.write"
        );
        assert_eq!(challenge_scope("", SCOPE_WRITE), "snippets.write");
        assert_eq!(challenge_scope("mcp.tools", SCOPE_READ), "snippets.read");
    }
}
