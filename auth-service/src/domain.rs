//! Domain types that parse instead of validate: once a handler holds an [`Email`] or a
//! [`Password`], the value is known to be acceptable, so no later code re-checks it.
//!
//! Request bodies are plain `Deserialize` structs private to `http/`; they convert into these
//! types and collect every problem as a [`service_kit::http::error::FieldError`].

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

/// Why a value was refused, in words fit for an API response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainError(pub &'static str);

/// A normalised email address: trimmed and lower-cased, so `Ann@Example.COM` and
/// `ann@example.com` are one account.
///
/// Lower-casing the local part is stricter than RFC 5321 allows, but no mail provider in
/// practice distinguishes case there, and treating them as different accounts invites
/// look-alike registrations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Longest address SMTP can carry (RFC 5321 §4.5.3.1.3 path limit minus the brackets).
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address.
    ///
    /// # Errors
    /// Anything that is not `local@domain.tld` with printable ASCII, a local part of at most
    /// 64 characters and a domain of dot-separated labels.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let email = raw.trim().to_ascii_lowercase();
        const INVALID: DomainError = DomainError("is not a valid email address");
        if email.is_empty() || email.len() > Self::MAX_LEN {
            return Err(INVALID);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(INVALID)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels.last().is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()));
        if local_ok && domain_ok { Ok(Self(email)) } else { Err(INVALID) }
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy: 8 to 128 characters.
///
/// Kept in a [`SecretString`] so it never shows up in `Debug` output or logs.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// Fewest characters accepted (NIST SP 800-63B's floor for user-chosen secrets).
    pub const MIN_CHARS: usize = 8;
    /// Most characters accepted; long enough for passphrases and password managers.
    pub const MAX_CHARS: usize = 128;

    /// Checks the length policy, counting characters rather than bytes.
    ///
    /// # Errors
    /// Fewer than 8 or more than 128 characters.
    pub fn parse(raw: String) -> Result<Self, DomainError> {
        let chars = raw.chars().count();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            Ok(Self(SecretString::from(raw)))
        } else {
            Err(DomainError("must be between 8 and 128 characters"))
        }
    }

    /// The password itself, for hashing.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A user's id: the `sub` of their access tokens. Random (UUID v4), so it reveals neither the
/// signup order nor the signup time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(Uuid);

impl UserId {
    /// A fresh random id.
    #[must_use]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses the text form.
    ///
    /// # Errors
    /// Text that is not a UUID.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(raw).map(Self).map_err(|_| DomainError("is not a valid id"))
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A server-side session's id: the `sid` claim of the access tokens issued for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Uuid);

impl SessionId {
    /// A fresh random id.
    #[must_use]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses the text form.
    ///
    /// # Errors
    /// Text that is not a UUID.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(raw).map(Self).map_err(|_| DomainError("is not a valid session id"))
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `true` when `scope` is a valid RFC 6749 §3.3 scope token (printable ASCII except space,
/// `"` and `\`).
#[must_use]
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty() && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::parse("  Ann.Lee+shop@Example.COM ").unwrap().as_ref(), "ann.lee+shop@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "ann@",
            "ann@localhost",
            "ann@@example.com",
            "ann @example.com",
            "ann@exa mple.com",
            ".ann@example.com",
            "an..n@example.com",
            "ann@-example.com",
            "ann@example.123",
            "ann@example..com",
            "ännä@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long_domain = format!("a@{}.com", "b".repeat(250));
        assert!(Email::parse(&long_domain).is_err());
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(Password::parse("short12".to_owned()).is_err());
        assert!(Password::parse("exactly8".to_owned()).is_ok());
        assert!(Password::parse("ääääääää".to_owned()).is_ok(), "8 characters, 16 bytes");
        assert!(Password::parse("x".repeat(128)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn password_debug_does_not_leak() {
        let password = Password::parse("correct horse battery".to_owned()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_scope_token("orders:read"));
        assert!(!is_scope_token("two words"));
        assert!(!is_scope_token("quote\"d"));
        assert!(!is_scope_token(""));
    }
}
