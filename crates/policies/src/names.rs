//! Names shared between the APIM policies, Bicep (through the manifest) and the Rust server.
//! Each name is defined once here; templates and the manifest read these constants. Names the
//! server shares with the policies through the session token (its format constants and the
//! named values holding its keys) are defined in the `session-token` crate, which both depend
//! on, and are used from there rather than copied.

/// APIM named value: client id of the Entra app registration that represents the MCP server.
pub const NV_MCP_ENTRA_CLIENT_ID: &str = "McpEntraClientId";
/// APIM named value: Entra tenant id.
pub const NV_ENTRA_TENANT_ID: &str = "EntraTenantId";
/// APIM named value: client id of APIM's user-assigned managed identity.
pub const NV_APIM_IDENTITY_CLIENT_ID: &str = "ApimIdentityClientId";
/// APIM named value: public gateway URL, `https://<name>.azure-api.net`, no trailing slash.
pub const NV_APIM_GATEWAY_URL: &str = "ApimGatewayUrl";
/// APIM named value: space-separated scopes requested from Entra.
pub const NV_OAUTH_SCOPES: &str = "OAuthScopes";
/// APIM named value (secret): Function App function key sent to the backend.
pub const NV_MCP_FUNCTION_KEY: &str = "McpFunctionKey";
/// APIM named value: blob container URL holding client registrations.
pub const NV_REGISTRATION_STORE_URL: &str = "RegistrationStoreUrl";

/// Entra ID authority host; the local policy runner maps it to its stand-in OpenID provider.
pub const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Audience of the managed identity token used as client assertion (workload identity federation).
pub const FEDERATION_AUDIENCE: &str = "api://AzureADTokenExchange";

/// APIM backend that Bicep points at the Function App root URL.
pub const BACKEND_ID: &str = "mcp-function-backend";

/// Header carrying the function key to the Functions host.
pub const HEADER_FUNCTIONS_KEY: &str = "x-functions-key";
/// Identity-looking headers the MCP API policy deletes from every request before forwarding
/// it. Nothing sets them: the server takes subject and client id from the claims of the
/// session token it verifies itself. A caller may still send them, and deleting them means no
/// backend that trusted such a header could be handed a value the caller chose.
pub const HEADERS_STRIPPED_FROM_CALLER: &[&str] =
    &["x-mcp-subject", "x-mcp-client-id", "x-mcp-session-id"];
/// Blob name prefix, inside the registrations container, of the refresh-token family records
/// (`<prefix><family id>.json`). Refresh-token state outlives APIM's cache, which may be
/// cleared or evict at any time: one blob per sign-in holds the hash of the family's current
/// refresh token and the sealed Entra refresh token; deleting it revokes the family.
pub const BLOB_PREFIX_FAMILY: &str = "refresh-families/";
/// Label that starts the MAC input of a sealed Entra refresh token (domain separation from
/// session tokens, which use the same keys).
pub const UPSTREAM_SEAL_LABEL: &str = "mcp-upstream-refresh-v1.";
/// `x-ms-version` of the gateway's own Blob Storage calls: the `send-request`s on the
/// registrations container (client registrations and refresh-token family blobs). It is
/// separate from the server's storage version, which its SDK clients send: the two callers
/// are written and tested apart, and the gateway's plain blob reads and conditional writes
/// need nothing newer, so neither has to move when the other does. The local policy runner
/// reads it from the manifest.
pub const GATEWAY_STORAGE_API_VERSION: &str = "2023-11-03";

/// Cookie holding the HMAC-protected list of client ids the user consented to.
pub const COOKIE_CONSENT: &str = "__Host-mcp-consent";
/// Cookie holding the CSRF token of the consent form (double submit).
pub const COOKIE_CSRF: &str = "__Host-mcp-csrf";
/// Cookie binding the browser to the state sent to Entra (checked on the callback).
pub const COOKIE_AUTH_STATE: &str = "__Host-mcp-authstate";

/// The scopes this authorization server grants, defined with the tools each allows in the
/// `session-token` crate because the server enforces them too.
pub use session_token::scope::{
    JSONRPC_INSUFFICIENT_SCOPE_CODE, SCOPE_READ, SCOPE_WRITE, SCOPES, WRITE_TOOLS,
};
/// The largest MCP request body the gateway parses to check a tool call's scope; a larger one
/// (only a big `save_snippet` is) is left to the server, which checks every call.
pub const SCOPE_CHECK_MAX_BODY_BYTES: u32 = 64 * 1024;
/// Entra app role (its `value`, carried in the ID token's `roles` claim) that may read snippets:
/// it grants [`SCOPE_READ`].
pub const ROLE_READ: &str = "Snippets.Read";
/// Entra app role that may also write: it grants [`SCOPE_READ`] and [`SCOPE_WRITE`].
pub const ROLE_WRITE: &str = "Snippets.Write";
/// The page a signed-in user with neither app role sees at the callback (static, so it needs no
/// escaping; XML-escaped because it sits in a policy document).
pub const NO_ROLE_PAGE: &str = "&lt;!doctype html&gt;&lt;html lang=\"en\"&gt;&lt;head&gt;&lt;meta charset=\"utf-8\"&gt;\
&lt;title&gt;No access&lt;/title&gt;&lt;/head&gt;&lt;body&gt;&lt;h1&gt;No access to Snippets MCP server&lt;/h1&gt;\
&lt;p&gt;You signed in, but your account has no role for this server. Ask an administrator \
to assign you the Snippets reader or Snippets writer role of its app registration, then \
sign in again.&lt;/p&gt;&lt;/body&gt;&lt;/html&gt;";
/// Human-readable name of the protected resource.
pub const RESOURCE_NAME: &str = "Snippets MCP server";

/// Cache key prefix: a pending authorization request, keyed by the state sent to Entra.
pub const CACHE_AUTH_REQUEST: &str = "mcp-authreq-";
/// Cache key prefix: a pending consent decision, keyed by the consent request id.
pub const CACHE_CONSENT_REQUEST: &str = "mcp-consentreq-";
/// Cache key prefix: an issued authorization code (single use).
pub const CACHE_AUTH_CODE: &str = "mcp-code-";
/// Cache key prefix: a client registration or fetched client metadata document.
pub const CACHE_CLIENT: &str = "mcp-client-";
/// Cache key prefix: a Client ID Metadata Document that could not be loaded, remembered briefly
/// so that a failing URL cannot make the gateway fetch it on every request.
pub const CACHE_CLIENT_FAILURE: &str = "mcp-clientfail-";
/// Cache key prefix: a spent authorization code, pointing at the token family it issued, so
/// that a replay revokes that family (OAuth 2.1 4.1.3).
pub const CACHE_SPENT_CODE: &str = "mcp-spentcode-";

/// Private-use URI schemes (RFC 8252 7.1) accepted in redirect URIs besides reverse-domain
/// ones (a scheme containing a dot, such as `com.example.app`): native clients that predate
/// that rule. Kept to a short list on purpose: a browser hands any other scheme to whatever
/// protocol handler is installed, which has been an attack path of its own.
pub const PRIVATE_USE_SCHEMES: &[&str] = &["cursor"];

/// Lifetime of a session (access) token in seconds.
pub const SESSION_TOKEN_TTL_SECS: u32 = 3600;
/// Lifetime of an authorization code in seconds.
pub const AUTH_CODE_TTL_SECS: u32 = 300;
/// Lifetime of a pending authorization / consent request in seconds.
pub const AUTH_REQUEST_TTL_SECS: u32 = 600;
/// Lifetime of a refresh token (and its family) in seconds.
pub const REFRESH_TTL_SECS: u32 = 30 * 24 * 3600;
/// Lifetime of a dynamic client registration in seconds.
pub const REGISTRATION_TTL_SECS: u32 = 90 * 24 * 3600;
/// How long a spent-code marker is kept: well beyond the code's own lifetime, so that a late
/// replay still revokes the tokens the code issued.
pub const SPENT_CODE_TTL_SECS: u32 = 3600;
/// How long a failed Client ID Metadata Document load is remembered.
pub const CLIENT_FAILURE_TTL_SECS: u32 = 60;
/// Largest Client ID Metadata Document accepted, in bytes (real documents are a few hundred).
pub const CLIENT_DOCUMENT_MAX_BYTES: usize = 5120;
/// The one error for every Client ID Metadata Document that was fetched (or tried) and not
/// accepted: a distinct text per cause would tell the caller what the named host answered.
pub const CLIENT_DOCUMENT_ERROR: &str =
    "client metadata document could not be loaded or is not valid";
/// Lifetime of the consent cookie in seconds.
pub const CONSENT_TTL_SECS: u32 = 365 * 24 * 3600;

/// Policy fragment: opens the session token in `sessionToken` into `sessionTokenResult`.
pub const FRAGMENT_SESSION_TOKEN_OPEN: &str = "session-token-open";
/// Policy fragment: seals a session token from the `sessionClaims` variable.
pub const FRAGMENT_SESSION_TOKEN_SEAL: &str = "session-token-seal";
/// Policy fragment: parses an `application/x-www-form-urlencoded` body into the `form` variable.
pub const FRAGMENT_PARSE_FORM: &str = "parse-form";
/// Policy fragment: loads and validates the OAuth client named by the `clientId` variable.
pub const FRAGMENT_LOAD_CLIENT: &str = "load-client";
/// Policy fragment: returns the OAuth JSON error held in the `oauthError*` variables.
pub const FRAGMENT_OAUTH_ERROR: &str = "oauth-error";
/// Policy fragment: redirects to the client's verified redirect URI with an OAuth error.
pub const FRAGMENT_REDIRECT_ERROR: &str = "redirect-error";
/// Policy fragment: stores a pending authorization and prepares the redirect to Entra ID.
pub const FRAGMENT_ENTRA_LOGIN: &str = "entra-login";
/// Policy fragment: calls Entra ID's token endpoint with APIM's federated credential.
pub const FRAGMENT_ENTRA_TOKEN: &str = "entra-token";

/// How long, in seconds, the refresh token a rotation replaced stays usable. A client whose
/// refresh response was lost (connection dropped after the rotation was stored) still holds
/// only the old token; within this window it may present it again and gets a fresh rotation,
/// while the token issued in the lost response becomes spent. Past the window, the old token
/// is a reused one and revokes the family.
pub const REFRESH_GRACE_SECS: u32 = 60;
/// How many hashes of spent refresh tokens a family record keeps. Presenting one of them is
/// proof that a token issued to the family is being reused, and revokes it; a token matching
/// none of the record's hashes was never issued (or is too old to tell) and changes nothing,
/// so knowing a family id alone cannot end a session.
pub const REFRESH_SPENT_HASHES_KEPT: usize = 10;
/// How long a Client ID Metadata Document fetch that got no usable answer (timeout, refused
/// connection, 5xx, 429) is remembered: shorter than a definitive failure, so sessions of a
/// client whose host was briefly down resume soon, yet a down host is not fetched on every
/// request.
pub const CLIENT_UNAVAILABLE_TTL_SECS: u32 = 10;
/// DNS suffixes that name private hosts by convention and never a public document host:
/// RFC 6761 (`localhost`, `invalid`), mDNS and cluster DNS (`local`, which covers
/// `svc.cluster.local`), RFC 8375 (`home.arpa`, under `arpa`, which holds no document hosts),
/// ICANN's private-use `internal`, and names left undelegated for collisions with private
/// networks. A metadata document URL whose host is one of them, or ends in `.<suffix>`, is
/// refused before any fetch.
pub const CLIENT_DOCUMENT_PRIVATE_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
    "arpa",
    "invalid",
];

/// Cookie binding a pending consent request to the browser that started it at `/authorize`:
/// the pending request holds the SHA-256 of its value, and `GET`/`POST /consent` refuse a
/// request whose cookie is missing or different. A consent link created by someone else (an
/// attacker calling `/authorize` with its own PKCE challenge) is therefore useless in the
/// victim's browser. `SameSite=Lax`, not `Strict`: the consent page is reached by a redirect
/// chain that a client's page (another site) starts, and a `Strict` cookie would not be sent
/// on that navigation.
pub const COOKIE_CONSENT_BINDING: &str = "__Host-mcp-binding";
/// Cache key prefix: when the consent page of a pending consent request was last served
/// (Unix milliseconds), keyed like the request. `POST /consent` approves only once
/// [`CONSENT_DWELL_MS`] have passed since.
pub const CACHE_CONSENT_SHOWN: &str = "mcp-consentshown-";
/// How long, in milliseconds, the consent page must have been visible, focused and in use
/// (a pointer or key event) before its Allow button works, and the least time the gateway
/// accepts between serving the page and an approval. A second an attacker cannot shorten:
/// long enough that a click meant for another window (a double click whose first half closes
/// a popup) lands on a disabled button, short enough that a person reading the page never
/// waits for it.
pub const CONSENT_DWELL_MS: u32 = 1000;
/// How long an approval for a redirect URI that is not loopback is remembered, in seconds.
/// Such a redirect delivers codes to a server somewhere, so a remembered approval lets any
/// navigation of the browser to `/authorize` hand that server a code without a page or a
/// click. Web clients keep their 30-day refresh tokens and come back to `/authorize` only to
/// connect again, so a day costs real users about one click per new connection and stops one
/// approval from being a lasting, silent code source. Loopback approvals (a program on this
/// computer, one exact port) keep [`CONSENT_TTL_SECS`].
pub const CONSENT_REMOTE_TTL_SECS: u32 = 24 * 3600;
/// What a sealed Entra refresh token waiting in an authorization code's cache value is bound
/// to, before the code's SHA-256 (hex): the seal's MAC input names the code instead of a
/// family (`UPSTREAM_SEAL_LABEL` + this + hash + "." + ...), so a value sealed for a code can
/// never be opened as a family's, and the token is re-sealed for its family at the exchange.
pub const UPSTREAM_SEAL_CODE_BINDING: &str = "code-";

/// Largest body, in bytes, of the OAuth endpoints that take a form (`/token`, `/revoke`,
/// `POST /consent`), judged on the declared `Content-Length` before anything reads the body
/// (macro `request_body_limit`, in fragment `parse-form`). The largest real form, a code
/// exchange with a 512-character redirect URI and a 128-character verifier, is under 1 KiB.
pub const FORM_BODY_MAX_BYTES: u32 = 16 * 1024;
/// Largest `/register` body, in bytes, judged like [`FORM_BODY_MAX_BYTES`]: ten redirect URIs
/// of 512 characters and a 200-character name fit with room for other metadata.
pub const REGISTRATION_BODY_MAX_BYTES: u32 = 8 * 1024;
