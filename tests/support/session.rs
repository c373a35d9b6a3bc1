//! A session token as the gateway would mint it after Alice signs in, for tests that go past the
//! server's session-token check.

use session_token::{Claims, Keys};

/// Valid for five minutes from now, for `audience` (the server's `MCP_RESOURCE_URL`).
pub fn alice_token(keys: &Keys, audience: &str) -> String {
    token_for(keys, audience, "alice")
}

/// The same for any user (token subject).
pub fn token_for(keys: &Keys, audience: &str, subject: &str) -> String {
    let now = session_token::unix_now();
    session_token::seal(
        keys,
        &Claims {
            sid: Claims::new_session_id(),
            sub: subject.into(),
            cid: "client".into(),
            scp: "snippets.read snippets.write".into(),
            aud: audience.into(),
            iat: now,
            exp: now + 300,
        },
    )
}
