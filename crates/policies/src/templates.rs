//! One askama template type per rendered policy file, looked up by its path.
//! Templates reach shared names as `crate::names::*`; the consent page is rendered separately.

use askama::Template;

macro_rules! policy_templates {
    ($($ty:ident => $path:literal,)*) => {
        $(
            #[derive(Template)]
            #[template(path = $path, escape = "none")]
            struct $ty;
        )*

        pub(crate) fn render(path: &str) -> Option<askama::Result<String>> {
            match path {
                $($path => Some($ty.render()),)*
                "oauth/consent-get.xml" => Some(consent_get()),
                _ => None,
            }
        }
    };
}

policy_templates! {
    OauthError => "fragments/oauth-error.xml",
    RedirectError => "fragments/redirect-error.xml",
    EntraLogin => "fragments/entra-login.xml",
    EntraToken => "fragments/entra-token.xml",
    ParseForm => "fragments/parse-form.xml",
    LoadClient => "fragments/load-client.xml",
    SessionTokenSeal => "fragments/session-token-seal.xml",
    SessionTokenOpen => "fragments/session-token-open.xml",
    OauthApi => "oauth/api.xml",
    ProtectedResourceMetadata => "oauth/protected-resource-metadata.xml",
    AuthorizationServerMetadata => "oauth/authorization-server-metadata.xml",
    Register => "oauth/register.xml",
    Authorize => "oauth/authorize.xml",
    ConsentPost => "oauth/consent-post.xml",
    OauthCallback => "oauth/oauth-callback.xml",
    Token => "oauth/token.xml",
    Revoke => "oauth/revoke.xml",
    McpApi => "mcp/api.xml",
    McpStreamable => "mcp/streamable.xml",
}

/// The consent page, rendered at build time. Runtime values are `%%NAME%%` placeholders that
/// the policy replaces with HTML-encoded values.
#[derive(Template)]
#[template(path = "html/consent.html")]
struct ConsentPage;

#[derive(Template)]
#[template(path = "oauth/consent-get.xml", escape = "none")]
struct ConsentGet {
    /// The consent page as the body of a C# verbatim string literal.
    page_verbatim: String,
}

fn consent_get() -> askama::Result<String> {
    let page = ConsentPage.render()?;
    ConsentGet {
        page_verbatim: page.replace('"', "\"\""),
    }
    .render()
}
