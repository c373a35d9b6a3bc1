//! One askama template type per rendered policy file, looked up by its path.
//! Each path is typed once, here: the macro also declares it as a constant in [`path`], which the
//! manifest uses. Templates reach shared names as `crate::names::*`; the consent page is rendered
//! separately.

use askama::Template;

macro_rules! policy_templates {
    ($($ty:ident $name:ident => $path:literal,)*) => {
        $(
            #[derive(Template)]
            #[template(path = $path, escape = "none")]
            struct $ty;
        )*

        /// Rendered file of each template, relative to `infra/policies/` (and to `templates/`).
        pub mod path {
            $(
                #[allow(missing_docs)]
                pub const $name: &str = $path;
            )*
            /// The consent page policy (rendered by hand: it embeds the HTML page).
            pub const CONSENT_GET: &str = "oauth/consent-get.xml";
            /// Every path above.
            pub const ALL: &[&str] = &[$($name,)* CONSENT_GET];
        }

        /// Renders the template whose output is `path`, if there is one.
        pub(crate) fn render(path: &str) -> Option<askama::Result<String>> {
            match path {
                $($path => Some($ty.render()),)*
                path::CONSENT_GET => Some(consent_get()),
                _ => None,
            }
        }
    };
}

policy_templates! {
    OauthError FRAGMENT_OAUTH_ERROR => "fragments/oauth-error.xml",
    RedirectError FRAGMENT_REDIRECT_ERROR => "fragments/redirect-error.xml",
    EntraLogin FRAGMENT_ENTRA_LOGIN => "fragments/entra-login.xml",
    EntraToken FRAGMENT_ENTRA_TOKEN => "fragments/entra-token.xml",
    ParseForm FRAGMENT_PARSE_FORM => "fragments/parse-form.xml",
    LoadClient FRAGMENT_LOAD_CLIENT => "fragments/load-client.xml",
    SessionTokenSeal FRAGMENT_SESSION_TOKEN_SEAL => "fragments/session-token-seal.xml",
    SessionTokenOpen FRAGMENT_SESSION_TOKEN_OPEN => "fragments/session-token-open.xml",
    McpUserQuota FRAGMENT_MCP_USER_QUOTA => "fragments/mcp-user-quota.xml",
    OauthApi OAUTH_API => "oauth/api.xml",
    ProtectedResourceMetadata PROTECTED_RESOURCE_METADATA => "oauth/protected-resource-metadata.xml",
    AuthorizationServerMetadata AUTHORIZATION_SERVER_METADATA => "oauth/authorization-server-metadata.xml",
    Register REGISTER => "oauth/register.xml",
    Authorize AUTHORIZE => "oauth/authorize.xml",
    ConsentPost CONSENT_POST => "oauth/consent-post.xml",
    OauthCallback OAUTH_CALLBACK => "oauth/oauth-callback.xml",
    Token TOKEN => "oauth/token.xml",
    Revoke REVOKE => "oauth/revoke.xml",
    McpApi MCP_API => "mcp/api.xml",
    McpStreamable MCP_STREAMABLE => "mcp/streamable.xml",
}

/// The consent page, rendered at build time. Runtime values are `%%NAME%%` placeholders that
/// the policy replaces with HTML-encoded values. With `forget`, the page that lists and forgets
/// the approvals remembered in the browser (same template: one stylesheet, one head).
#[derive(Template)]
#[template(path = "html/consent.html")]
struct ConsentPage {
    forget: bool,
}

#[derive(Template)]
#[template(path = "oauth/consent-get.xml", escape = "none")]
struct ConsentGet {
    /// The consent page as the body of a C# verbatim string literal.
    page_verbatim: String,
    /// The remembered-approvals page, likewise.
    forget_verbatim: String,
}

fn consent_get() -> askama::Result<String> {
    let verbatim = |forget| -> askama::Result<String> {
        Ok(ConsentPage { forget }.render()?.replace('"', "\"\""))
    };
    ConsentGet {
        page_verbatim: verbatim(false)?,
        forget_verbatim: verbatim(true)?,
    }
    .render()
}
