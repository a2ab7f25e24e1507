//! A notification: a short message for one recipient, sent by another service on an event.
//!
//! Senders give each notification an event id of their own (orders-service uses its outbox
//! record id). The pair (sending client, event id) is unique, which is what makes delivery
//! idempotent: a sender that retries after a lost response gets the stored notification back
//! instead of creating a second one.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::FieldError;

service_kit::uuid_id!(
    /// Id of a stored notification.
    pub NotificationId
);

/// The sender's id for the event behind a notification: 1–128 characters from
/// `A–Z a–z 0–9 . _ : -` (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventId(String);

impl EventId {
    /// Longest accepted event id.
    pub const MAX_LEN: usize = 128;

    /// Parses an event id.
    ///
    /// # Errors
    /// A [`FieldError`] on `event_id` when empty, too long or with other characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "event_id",
                format!("must be 1-{} characters of letters, digits, '.', '_', ':' or '-'", Self::MAX_LEN),
            ))
        }
    }
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Who the notification is for: the `sub` of the user's access tokens (1–255 characters, no
/// control characters, no surrounding whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient(String);

impl Recipient {
    /// Longest accepted recipient.
    pub const MAX_LEN: usize = 255;

    /// Parses a recipient.
    ///
    /// # Errors
    /// A [`FieldError`] on `recipient` when it is not a plausible subject.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // Characters, not bytes: the API document's `maxLength` counts characters.
        let valid = !raw.is_empty()
            && raw.chars().count() <= Self::MAX_LEN
            && raw.trim() == raw
            && !raw.chars().any(char::is_control);
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "recipient",
                format!("must be 1-{} characters without control characters or surrounding spaces", Self::MAX_LEN),
            ))
        }
    }
}

impl AsRef<str> for Recipient {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What kind of event it was, for clients that render notifications differently
/// (`order.placed`): a lowercase letter, then up to 63 of `a–z 0–9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind(String);

impl Kind {
    /// Parses a kind.
    ///
    /// # Errors
    /// A [`FieldError`] on `kind` when it does not match the format.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let mut bytes = raw.bytes();
        let valid = raw.len() <= 64
            && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new("kind", "must be a lowercase letter followed by up to 63 of a-z, 0-9, '.', '_', '-'"))
        }
    }
}

impl AsRef<str> for Kind {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The text shown to the recipient: 1–2000 characters, not blank, no NUL (which PostgreSQL
/// text cannot store: accepting it would turn a bad request into a 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(String);

impl Message {
    /// Longest accepted message, in characters.
    pub const MAX_CHARS: usize = 2000;

    /// Parses a message.
    ///
    /// # Errors
    /// A [`FieldError`] on `message` when blank, too long or holding a NUL.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() || raw.chars().count() > Self::MAX_CHARS || raw.contains('\0') {
            Err(FieldError::new(
                "message",
                format!("must be 1-{} characters, not blank, without NUL characters", Self::MAX_CHARS),
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }
}

impl AsRef<str> for Message {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A notification as a sender submitted it, every field checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The sender's event id.
    pub event_id: EventId,
    /// Who it is for.
    pub recipient: Recipient,
    /// What kind of event it was.
    pub kind: Kind,
    /// The text.
    pub message: Message,
    /// Structured details for clients (a JSON object, possibly empty).
    pub data: Map<String, Value>,
}

impl NewNotification {
    /// Checks every field, reporting all problems at once.
    ///
    /// # Errors
    /// One [`FieldError`] per invalid field.
    pub fn parse(
        event_id: &str,
        recipient: &str,
        kind: &str,
        message: &str,
        data: Option<Map<String, Value>>,
    ) -> Result<Self, Vec<FieldError>> {
        let event_id = EventId::parse(event_id);
        let recipient = Recipient::parse(recipient);
        let kind = Kind::parse(kind);
        let message = Message::parse(message);
        match (event_id, recipient, kind, message) {
            (Ok(event_id), Ok(recipient), Ok(kind), Ok(message)) => {
                Ok(Self { event_id, recipient, kind, message, data: data.unwrap_or_default() })
            }
            (event_id, recipient, kind, message) => {
                Err([event_id.err(), recipient.err(), kind.err(), message.err()].into_iter().flatten().collect())
            }
        }
    }

    /// A digest of the content (everything but the event id), so a repeated event id with
    /// different content is told apart from an honest retry. Object keys are sorted first, so
    /// the digest does not depend on the order a sender wrote them in.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let content = Value::Array(vec![
            Value::String(self.recipient.0.clone()),
            Value::String(self.kind.0.clone()),
            Value::String(self.message.0.clone()),
            Value::Object(self.data.clone()),
        ]);
        let mut hasher = Sha256::new();
        hasher.update(canonical_string(&content).as_bytes());
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Serialises with object keys sorted (`serde_json` keeps insertion order when its
/// `preserve_order` feature is on somewhere in the dependency tree).
fn canonical_string(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_string(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical_string).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its id.
    pub id: NotificationId,
    /// `client_id` of the service that sent it.
    pub source: String,
    /// The sender's event id.
    pub event_id: String,
    /// Who it is for.
    pub recipient: String,
    /// What kind of event it was.
    pub kind: String,
    /// The text.
    pub message: String,
    /// Structured details.
    pub data: Map<String, Value>,
    /// Digest of the content, see [`NewNotification::fingerprint`].
    pub fingerprint: String,
    /// When it was stored (Unix milliseconds).
    pub created_at: i64,
    /// When the recipient marked it read (Unix milliseconds).
    pub read_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Option<Map<String, Value>> {
        value.as_object().cloned()
    }

    #[test]
    fn a_valid_notification_parses() {
        let parsed =
            NewNotification::parse("0190-ab", "user-1", "order.placed", "Your order was placed.", None).unwrap();
        assert_eq!(parsed.event_id.as_ref(), "0190-ab");
        assert!(parsed.data.is_empty());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = NewNotification::parse("", " padded ", "Order", " ", None).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["event_id", "recipient", "kind", "message"]);
    }

    #[test]
    fn field_limits_hold() {
        assert!(EventId::parse(&"a".repeat(128)).is_ok());
        assert!(EventId::parse(&"a".repeat(129)).is_err());
        assert!(EventId::parse("has space").is_err());
        assert!(Recipient::parse("line\nbreak").is_err());
        assert!(Recipient::parse(&"r".repeat(256)).is_err());
        assert!(Kind::parse("order.placed-v2_x").is_ok());
        assert!(Kind::parse("9order").is_err());
        assert!(Kind::parse(&format!("a{}", "b".repeat(64))).is_err());
        assert!(Recipient::parse(&"é".repeat(255)).is_ok(), "characters, as the document's maxLength counts");
        assert!(Recipient::parse(&"é".repeat(256)).is_err());
        assert!(Message::parse(&"é".repeat(2000)).is_ok());
        assert!(Message::parse(&"é".repeat(2001)).is_err());
        // PostgreSQL text cannot hold NUL: refused here, not a 500 at the insert (review).
        assert!(Message::parse("a\0b").is_err());
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a = NewNotification::parse("e", "u", "k", "m", object(json!({"a": 1, "b": {"y": 2, "x": 1}}))).unwrap();
        let b = NewNotification::parse("e", "u", "k", "m", object(json!({"b": {"x": 1, "y": 2}, "a": 1}))).unwrap();
        let c = NewNotification::parse("e", "u", "k", "m", object(json!({"a": 2, "b": {"x": 1, "y": 2}}))).unwrap();
        let d = NewNotification::parse("e", "u", "k", "other", object(json!({"a": 1, "b": {"x": 1, "y": 2}}))).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(a.fingerprint(), d.fingerprint());
    }
}
