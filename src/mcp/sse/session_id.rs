//! SSE session ids, `<instance>-<random>`: created here and read here, so any instance can tell which
//! instance holds a session's stream (and so whose relay queue a request for it goes to).

use std::fmt;

/// Hex characters of an instance id.
const INSTANCE_LEN: usize = 12;

/// The id of one server process, the prefix of its session ids and the name of its relay queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId(String);

impl InstanceId {
    /// A fresh random id.
    pub fn new() -> Self {
        InstanceId(uuid::Uuid::new_v4().simple().to_string()[..INSTANCE_LEN].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for InstanceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A well-formed session id: lowercase hex instance id, `-`, lowercase hex random part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh session id owned by `instance`.
    pub fn new(instance: &InstanceId) -> Self {
        SessionId(format!("{instance}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// `None` for anything that is not a well-formed session id (a client can send any text).
    pub fn parse(raw: &str) -> Option<Self> {
        let (instance, rest) = raw.split_once('-')?;
        let hex = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        (instance.len() == INSTANCE_LEN && hex(instance) && hex(rest))
            .then(|| SessionId(raw.to_string()))
    }

    /// The instance that holds the session's stream.
    pub fn owner(&self) -> &str {
        &self.0[..INSTANCE_LEN]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_read_from_well_formed_session_ids_only() {
        let id = SessionId::parse("0123456789ab-ffee00").unwrap();
        assert_eq!(id.owner(), "0123456789ab");
        for bad in [
            "",
            "0123456789ab",
            "0123456789ab-",
            "0123456789AB-ff",
            "0123456789a-ff",
            "../../x-ff",
            "0123456789ab-zz",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn new_ids_parse_and_name_their_instance() {
        let instance = InstanceId::new();
        let id = SessionId::new(&instance);
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.owner(), instance.as_str());
        assert_ne!(SessionId::new(&instance), id);
    }
}
