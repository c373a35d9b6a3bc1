//! What travels through a relay queue: the session, the caller's token subject, and the JSON-RPC
//! message either inline or as the name of an overflow blob. The message is the one the receiving
//! endpoint already parsed: it is serialised here and parsed once more by the owner, never in between.

use base64::Engine;
use rmcp::model::ClientJsonRpcMessage;
use serde::{Deserialize, Serialize};

/// The queue message's body (base64 of this JSON): short member names, since a queue message is at
/// most 64 KiB once encoded.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "s")]
    pub session: String,
    /// The token subject of the caller, checked against the session's opener on delivery.
    #[serde(rename = "o")]
    pub caller: Option<String>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<ClientJsonRpcMessage>,
    /// Name of the overflow blob holding a message too large to travel inline.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl Envelope {
    /// The queue message text.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(self).expect("an envelope always serialises"))
    }

    /// `None` unless the text is an envelope with exactly one body (inline or blob).
    pub fn decode(text: &str) -> Option<Envelope> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        let envelope: Envelope = serde_json::from_slice(&bytes).ok()?;
        (envelope.message.is_some() != envelope.blob.is_some()).then_some(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping() -> ClientJsonRpcMessage {
        serde_json::from_value(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .unwrap()
    }

    /// rmcp's messages have no `PartialEq`: envelopes compare by what they serialise to.
    fn json(envelope: &Envelope) -> serde_json::Value {
        serde_json::to_value(envelope).unwrap()
    }

    #[test]
    fn envelopes_round_trip_with_exactly_one_body() {
        let inline = Envelope {
            session: "0123456789ab-ff".into(),
            caller: Some("alice".into()),
            message: Some(ping()),
            blob: None,
        };
        assert_eq!(
            json(&Envelope::decode(&inline.encode()).unwrap()),
            json(&inline)
        );
        let overflow = Envelope {
            message: None,
            blob: Some("0123456789ab/x.json".into()),
            ..inline
        };
        assert_eq!(
            json(&Envelope::decode(&overflow.encode()).unwrap()),
            json(&overflow)
        );
        let neither = Envelope {
            blob: None,
            ..overflow
        };
        assert!(Envelope::decode(&neither.encode()).is_none());
        let both = Envelope {
            message: Some(ping()),
            blob: Some("x".into()),
            ..neither
        };
        assert!(Envelope::decode(&both.encode()).is_none());
        assert!(Envelope::decode("not base64!").is_none());
    }

    #[test]
    fn request_metadata_survives_the_trip() {
        let call: ClientJsonRpcMessage = serde_json::from_str(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"hello_mcp","arguments":{},"_meta":{"progressToken":3}}}"#,
        )
        .unwrap();
        let sent = Envelope {
            session: "0123456789ab-ff".into(),
            caller: None,
            message: Some(call),
            blob: None,
        };
        let received = Envelope::decode(&sent.encode()).unwrap();
        let message = serde_json::to_value(received.message.unwrap()).unwrap();
        assert_eq!(message["params"]["_meta"]["progressToken"], 3);
        assert_eq!(message["id"], 7);
    }
}
