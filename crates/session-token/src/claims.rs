//! The claims carried inside a session token, serialized as a compact UTF-8 JSON object.
//! Unknown members are ignored on read so later versions of the policies can add claims.

use serde::{Deserialize, Serialize};

/// Session token claims. Serialized in this member order; readers must not depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Session id: 32 lowercase hex characters from 16 random bytes.
    pub sid: String,
    /// Subject: the Entra object id of the user.
    pub sub: String,
    /// OAuth client id of the MCP client the token was issued to.
    pub cid: String,
    /// Granted scope (space separated).
    pub scp: String,
    /// Audience: the MCP resource URL, e.g. `https://<gateway>/mcp`.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds; the token is expired when `exp <= now`.
    pub exp: i64,
}

impl Claims {
    /// A fresh session id: 16 random bytes as 32 lowercase hex characters.
    pub fn new_session_id() -> String {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The claims as the compact JSON bytes that get encrypted.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and integers into memory cannot fail.
        serde_json::to_vec(self).expect("claims serialize to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_32_lowercase_hex_and_fresh() {
        let a = Claims::new_session_id();
        let b = Claims::new_session_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn unknown_members_are_ignored_and_missing_ones_rejected() {
        let json =
            r#"{"exp":2,"iat":1,"aud":"a","scp":"s","cid":"c","sub":"u","sid":"i","future":[1]}"#;
        let claims: Claims = serde_json::from_str(json).unwrap();
        assert_eq!(claims.exp, 2);
        assert_eq!(claims.sid, "i");
        assert!(serde_json::from_str::<Claims>(r#"{"sid":"i"}"#).is_err());
    }
}
