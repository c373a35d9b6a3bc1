//! Second line of defence behind APIM: when the session-token keys are configured, every MCP request
//! must carry a valid `Authorization: Bearer <session token>` (the format of docs/session-token.md).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use session_token::{Claims, KeySet};

/// Keys and the audience a token must name; cheap to clone into middleware state.
#[derive(Clone, Debug)]
pub struct SessionAuth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The current pair, and the previous one while a rotation's window is open.
    keys: KeySet,
    /// `aud` a token must carry (the gateway's MCP resource URL), when known.
    audience: Option<String>,
    /// Value of the `WWW-Authenticate` challenge on every 401.
    challenge: HeaderValue,
    /// Bodies of refused requests are read up to this size so the client sees the 401, not a reset.
    drain_limit: usize,
}

impl SessionAuth {
    pub fn new(keys: impl Into<KeySet>, audience: Option<String>, drain_limit: usize) -> Self {
        let keys = keys.into();
        let challenge = challenge(audience.as_deref());
        SessionAuth {
            inner: Arc::new(Inner {
                keys,
                audience,
                challenge,
                drain_limit,
            }),
        }
    }

    /// The claims of a valid token, or `None`; the reason is logged by name only.
    pub fn verify(&self, authorization: Option<&str>) -> Option<Claims> {
        let token = bearer_token(authorization?)?;
        let now = session_token::unix_now();
        let result = match &self.inner.audience {
            Some(aud) => self.inner.keys.open_for_audience(token, now, aud),
            None => self.inner.keys.open(token, now),
        };
        result
            .map_err(|e| tracing::info!(reason = e.name(), "session token rejected"))
            .ok()
    }

    fn unauthorized(&self) -> Response {
        let mut response =
            (StatusCode::UNAUTHORIZED, "invalid or missing session token").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.inner.challenge.clone());
        response
    }
}

/// The credentials of a `Bearer` authorization: the scheme is case-insensitive (RFC 9110 §11.1),
/// so `BEARER x` and `bearer x` are the same; one or more spaces separate it from the token.
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The RFC 9728 metadata URL of a protected resource (path-suffixed, as the gateway serves it).
pub fn resource_metadata_url(resource: &str) -> Option<String> {
    let url = url::Url::parse(resource).ok()?;
    Some(format!(
        "{}/.well-known/oauth-protected-resource{}",
        url.origin().ascii_serialization(),
        url.path()
    ))
}

/// RFC 6750 challenge; with a known resource URL it also points at its RFC 9728 metadata, as the gateway does.
fn challenge(audience: Option<&str>) -> HeaderValue {
    let metadata = audience.and_then(resource_metadata_url);
    let value = match metadata {
        Some(m) => format!("Bearer error=\"invalid_token\", resource_metadata=\"{m}\""),
        None => "Bearer error=\"invalid_token\"".to_string(),
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

/// Middleware: 401 without a valid token; otherwise the claims ride along as a request extension.
pub async fn require_session(
    State(auth): State<SessionAuth>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match auth.verify(header) {
        Some(claims) => {
            request.extensions_mut().insert(claims);
            next.run(request).await
        }
        None => {
            // Read what the client is still sending (bounded): closing with unread data resets the
            // connection, and the client would never see the 401 and its challenge.
            let _ = axum::body::to_bytes(request.into_body(), auth.inner.drain_limit).await;
            auth.unauthorized()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_token::{Keys, PreviousKeys};

    fn keys() -> Keys {
        Keys::new([1; 32], [2; 32]).unwrap()
    }

    fn claims(aud: &str, exp_in: i64) -> Claims {
        let now = session_token::unix_now();
        Claims {
            sid: Claims::new_session_id(),
            sub: "user-1".into(),
            cid: "client-1".into(),
            scp: "mcp".into(),
            aud: aud.into(),
            iat: now,
            exp: now + exp_in,
        }
    }

    #[test]
    fn accepts_valid_and_rejects_everything_else() {
        let auth = SessionAuth::new(keys(), Some("https://gw.example/mcp".into()), 1024);
        let good = session_token::seal(&keys(), &claims("https://gw.example/mcp", 60));
        assert_eq!(
            auth.verify(Some(&format!("Bearer {good}"))).unwrap().sub,
            "user-1"
        );
        let expired = session_token::seal(&keys(), &claims("https://gw.example/mcp", -1));
        let other_aud = session_token::seal(&keys(), &claims("https://other.example/mcp", 60));
        let other_keys = session_token::seal(
            &Keys::new([3; 32], [4; 32]).unwrap(),
            &claims("https://gw.example/mcp", 60),
        );
        for bad in [
            None,
            Some(good.clone()),
            Some(format!("Basic {good}")),
            Some(format!("Bearer {expired}")),
            Some(format!("Bearer {other_aud}")),
            Some(format!("Bearer {other_keys}")),
            Some(format!("Bearer {}x", good)),
            Some("Bearer ".into()),
        ] {
            assert!(auth.verify(bad.as_deref()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn previous_keys_are_accepted_only_inside_their_window() {
        let old = Keys::new([5; 32], [6; 32]).unwrap();
        let aud = "https://gw.example/mcp";
        let old_token = format!("Bearer {}", session_token::seal(&old, &claims(aud, 60)));
        let now = session_token::unix_now();
        let open = |until| {
            let set = KeySet::with_previous(keys(), Some(PreviousKeys::new(old.clone(), until)));
            SessionAuth::new(set, Some(aud.into()), 1024)
        };
        assert_eq!(
            open(now + 60).verify(Some(&old_token)).unwrap().sub,
            "user-1"
        );
        assert!(open(now - 1).verify(Some(&old_token)).is_none());
        let new_token = format!("Bearer {}", session_token::seal(&keys(), &claims(aud, 60)));
        assert!(open(now - 1).verify(Some(&new_token)).is_some());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let auth = SessionAuth::new(keys(), Some("https://gw.example/mcp".into()), 1024);
        let good = session_token::seal(&keys(), &claims("https://gw.example/mcp", 60));
        for header in [
            format!("Bearer {good}"),
            format!("BEARER {good}"),
            format!("bearer {good}"),
            format!("bEaReR {good}"),
            format!("Bearer   {good}"),
        ] {
            assert_eq!(
                auth.verify(Some(&header)).unwrap().sub,
                "user-1",
                "{header}"
            );
        }
        for bad in [
            format!("Bearer{good}"),
            format!("Bearerx {good}"),
            format!("Bear {good}"),
            "BEARER ".to_string(),
            "BEARER".to_string(),
            // Spaces only between scheme and token, as the gateway reads it.
            format!("Bearer \t{good}"),
            format!("Bearer\t{good}"),
        ] {
            assert!(auth.verify(Some(&bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn challenge_points_at_protected_resource_metadata() {
        assert_eq!(
            challenge(Some("https://gw.example/mcp")),
            "Bearer error=\"invalid_token\", resource_metadata=\"https://gw.example/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(challenge(None), "Bearer error=\"invalid_token\"");
    }
}
