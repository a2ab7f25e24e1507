//! Access-token claims (RFC 9068 §2.2) and the verified [`Caller`] built from them.
//!
//! Claims are read from the strict JSON object the JOSE layer produced; every required claim
//! has its own error when absent or mistyped, and the date checks follow RFC 7519 §4.1 with a
//! configurable leeway for clock skew between replicas and the issuer.

use std::{collections::HashSet, fmt, sync::Arc};

use super::{
    error::AuthError,
    json::{Member, Members},
};

/// The latest `NumericDate` accepted: 9999-12-31T23:59:59Z. Later values are nonsense from a
/// buggy or hostile issuer, and rejecting them keeps every date arithmetic in range.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// Most scopes one token may grant. Our issuer grants a handful; a token listing more was
/// not minted for a person or a service but to make verifiers work.
pub const MAX_SCOPES: usize = 64;

/// Up to this many scopes, repeats are found by comparing each with those before it (no
/// allocation); beyond it, with a hash set, so the work stays linear in the claim's length.
const PAIRWISE_SCOPES: usize = 16;

/// The scopes a token grants, parsed from the space-separated `scope` claim.
///
/// Kept as one shared, normalised string (single spaces, no repeats): cloning a verified
/// caller (every token-cache hit does) costs a reference count, and a typical claim is parsed
/// with a single allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSet(Arc<str>);

impl Default for ScopeSet {
    fn default() -> Self {
        Self(Arc::from(""))
    }
}

impl ScopeSet {
    /// Parses a space-separated list (RFC 6749 §3.3); repeated scopes and extra spaces are
    /// dropped. Linear in the length of `text`.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        Self::from_shared(Arc::from(text), scope_count(text))
    }

    /// Reuses `text`, which holds `count` scopes, when it is already normalised (the common
    /// case: our issuer writes it so).
    fn from_shared(text: Arc<str>, count: usize) -> Self {
        if is_normalised(&text, count) { Self(text) } else { text.split(' ').filter(|s| !s.is_empty()).collect() }
    }

    /// Whether `scope` was granted.
    #[must_use]
    pub fn has(&self, scope: &str) -> bool {
        !scope.is_empty() && self.iter().any(|granted| granted == scope)
    }

    /// The scopes, in the order the token listed them.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// Number of scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no scope was granted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Scopes in `text`, counting runs of spaces as one separator.
fn scope_count(text: &str) -> usize {
    text.split(' ').filter(|s| !s.is_empty()).count()
}

/// Whether `text`, of `count` scopes, has single spaces between them and no repeat.
fn is_normalised(text: &str, count: usize) -> bool {
    if text.starts_with(' ') || text.ends_with(' ') || text.contains("  ") {
        return false;
    }
    if count <= PAIRWISE_SCOPES {
        text.split(' ').enumerate().all(|(i, scope)| !text.split(' ').take(i).any(|earlier| earlier == scope))
    } else {
        let mut seen = HashSet::new();
        text.split(' ').all(|scope| seen.insert(scope))
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> FromIterator<&'a str> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut joined = String::new();
        let mut seen = HashSet::new();
        for scope in iter {
            // Scope tokens contain no spaces (RFC 6749 §3.3); a caller passing one gets it split.
            for scope in scope.split(' ').filter(|s| !s.is_empty()) {
                if seen.insert(scope) {
                    if !joined.is_empty() {
                        joined.push(' ');
                    }
                    joined.push_str(scope);
                }
            }
        }
        Self(Arc::from(joined))
    }
}

/// A verified caller, built from a validated access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `sub`: the user id, or the client id for client-credentials tokens.
    pub subject: String,
    /// `client_id`: the OAuth client the token was issued to.
    pub client_id: String,
    /// `scope`, parsed.
    pub scopes: ScopeSet,
    /// `role` (`user`, `admin`); `None` for service tokens.
    pub role: Option<String>,
    /// `sid`: present for user-session tokens only.
    pub session_id: Option<String>,
    /// `jti`.
    pub token_id: String,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `aud`, always as a list.
    pub audience: Vec<String>,
    /// The `kid` of the key that verified the token.
    pub key_id: String,
    /// `cnf.jkt` (RFC 9449 §6.1): the RFC 7638 thumbprint of the key the token is bound to.
    /// A bound token is accepted only with the `DPoP` scheme and a proof by that key.
    pub dpop_jkt: Option<String>,
}

impl Caller {
    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.has(scope)
    }

    /// Whether the caller's role is `admin`.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role.as_deref() == Some("admin")
    }

    /// Whether this is a client-credentials (service) token: no session and `sub` equal to
    /// `client_id` (RFC 9068 §2.2: the subject of such a token is the client itself).
    #[must_use]
    pub fn is_service(&self) -> bool {
        self.session_id.is_none() && self.subject == self.client_id
    }
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct ClaimsPolicy {
    pub issuer: Arc<str>,
    pub audience: Arc<str>,
    pub leeway_secs: i64,
    pub max_lifetime_secs: i64,
}

/// Claims after type checks, before the policy checks.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    pub issuer: String,
    pub audience: Vec<String>,
    pub expires_at: i64,
    pub issued_at: i64,
    pub not_before: Option<i64>,
    pub subject: String,
    pub client_id: String,
    pub token_id: String,
    /// The `scope` claim as sent: parsed only after the signature verified, so an unsigned
    /// token can make us do no per-scope work.
    pub scope: Option<Arc<str>>,
    pub role: Option<String>,
    pub session_id: Option<String>,
    pub dpop_jkt: Option<String>,
}

impl Claims {
    /// Reads and type-checks the claims; order of checks is fixed so errors are predictable.
    pub(crate) fn from_members(members: Members<'_>) -> Result<Self, AuthError> {
        // One pass over the members into slots (matching on literal names compiles to a few
        // integer compares), then the checks in their documented order.
        let mut slots = Slots::default();
        for (name, value) in members {
            let slot = match &*name {
                "iss" => &mut slots.iss,
                "aud" => &mut slots.aud,
                "exp" => &mut slots.exp,
                "iat" => &mut slots.iat,
                "nbf" => &mut slots.nbf,
                "sub" => &mut slots.sub,
                "client_id" => &mut slots.client_id,
                "jti" => &mut slots.jti,
                "scope" => &mut slots.scope,
                "role" => &mut slots.role,
                "sid" => &mut slots.sid,
                "cnf" => &mut slots.cnf,
                _ => continue,
            };
            *slot = Some(value);
        }
        let issuer = required_string(slots.iss, "iss")?;
        let audience = match slots.aud {
            None => return Err(AuthError::MissingClaim("aud")),
            Some(Member::Str(aud)) if !aud.is_empty() => vec![aud.into_owned()],
            Some(Member::Array(items)) if !items.is_empty() => items
                .into_iter()
                .map(|item| match item {
                    Member::Str(aud) if !aud.is_empty() => Ok(aud.into_owned()),
                    _ => Err(AuthError::InvalidClaim("aud")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(AuthError::InvalidClaim("aud")),
        };
        let expires_at = numeric_date(slots.exp.as_ref(), "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
        let issued_at = numeric_date(slots.iat.as_ref(), "iat")?.ok_or(AuthError::MissingClaim("iat"))?;
        let not_before = numeric_date(slots.nbf.as_ref(), "nbf")?;
        let subject = required_string(slots.sub, "sub")?;
        let client_id = required_string(slots.client_id, "client_id")?;
        let token_id = required_string(slots.jti, "jti")?;
        let scope = match slots.scope {
            None => None,
            Some(Member::Str(text)) => Some(Arc::from(&*text)),
            Some(_) => return Err(AuthError::InvalidClaim("scope")),
        };
        let role = optional_string(slots.role, "role")?;
        let session_id = optional_string(slots.sid, "sid")?;
        let dpop_jkt = confirmation(slots.cnf)?;
        Ok(Self {
            issuer,
            audience,
            expires_at,
            issued_at,
            not_before,
            subject,
            client_id,
            token_id,
            scope,
            role,
            session_id,
            dpop_jkt,
        })
    }

    /// The cheap checks that need no key: issuer, audience and dates at `now`.
    pub(crate) fn validate(&self, policy: &ClaimsPolicy, now: i64) -> Result<(), AuthError> {
        if self.issuer != *policy.issuer {
            return Err(AuthError::InvalidIssuer);
        }
        if !self.audience.iter().any(|aud| *aud == *policy.audience) {
            return Err(AuthError::InvalidAudience);
        }
        if self.expires_at <= self.issued_at {
            return Err(AuthError::InvalidDate("exp"));
        }
        if now >= self.expires_at.saturating_add(policy.leeway_secs) {
            return Err(AuthError::Expired);
        }
        if let Some(not_before) = self.not_before
            && now.saturating_add(policy.leeway_secs) < not_before
        {
            return Err(AuthError::NotYetValid);
        }
        if self.issued_at > now.saturating_add(policy.leeway_secs) {
            return Err(AuthError::IssuedInFuture);
        }
        if self.expires_at - self.issued_at > policy.max_lifetime_secs {
            return Err(AuthError::LifetimeTooLong);
        }
        Ok(())
    }

    /// The caller, once the signature and the policy checks passed.
    ///
    /// # Errors
    /// [`AuthError::InvalidClaim`] for a `scope` of more than [`MAX_SCOPES`] scopes.
    pub(crate) fn into_caller(self, key_id: &str) -> Result<Caller, AuthError> {
        let scopes = match self.scope {
            None => ScopeSet::default(),
            Some(text) => match scope_count(&text) {
                count if count <= MAX_SCOPES => ScopeSet::from_shared(text, count),
                _ => return Err(AuthError::InvalidClaim("scope")),
            },
        };
        Ok(Caller {
            subject: self.subject,
            client_id: self.client_id,
            scopes,
            role: self.role,
            session_id: self.session_id,
            token_id: self.token_id,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            audience: self.audience,
            key_id: key_id.to_owned(),
            dpop_jkt: self.dpop_jkt,
        })
    }
}

/// The claims the verifier reads, as found.
#[derive(Default)]
struct Slots<'a> {
    iss: Option<Member<'a>>,
    aud: Option<Member<'a>>,
    exp: Option<Member<'a>>,
    iat: Option<Member<'a>>,
    nbf: Option<Member<'a>>,
    sub: Option<Member<'a>>,
    client_id: Option<Member<'a>>,
    jti: Option<Member<'a>>,
    scope: Option<Member<'a>>,
    role: Option<Member<'a>>,
    sid: Option<Member<'a>>,
    cnf: Option<Member<'a>>,
}

/// Length of a base64url SHA-256 thumbprint.
const JKT_CHARS: usize = 43;

/// The `cnf` claim (RFC 7800): absent, or an object whose `jkt` is a SHA-256 thumbprint. A
/// confirmation method we do not know (`x5t#S256`, `jwk`…) is refused rather than ignored:
/// the token is bound to something this verifier cannot check.
fn confirmation(member: Option<Member<'_>>) -> Result<Option<String>, AuthError> {
    let Some(member) = member else { return Ok(None) };
    let Member::Object(mut cnf) = member else { return Err(AuthError::InvalidClaim("cnf")) };
    let jkt = match cnf.take("jkt") {
        Some(Member::Str(jkt)) if jkt.len() == JKT_CHARS && jkt.bytes().all(is_b64url_byte) => jkt.into_owned(),
        _ => return Err(AuthError::InvalidClaim("cnf")),
    };
    if cnf.into_iter().next().is_some() {
        return Err(AuthError::InvalidClaim("cnf"));
    }
    Ok(Some(jkt))
}

fn is_b64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn required_string(member: Option<Member<'_>>, name: &'static str) -> Result<String, AuthError> {
    match member {
        None => Err(AuthError::MissingClaim(name)),
        Some(Member::Str(text)) if !text.is_empty() => Ok(text.into_owned()),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

fn optional_string(member: Option<Member<'_>>, name: &'static str) -> Result<Option<String>, AuthError> {
    match member {
        None => Ok(None),
        Some(Member::Str(text)) if !text.is_empty() => Ok(Some(text.into_owned())),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

/// A `NumericDate` (RFC 7519 §2): a JSON number of seconds, fractions truncated, between the
/// epoch and [`MAX_NUMERIC_DATE`]. Strings, booleans and out-of-range values are refused.
fn numeric_date(value: Option<&Member<'_>>, name: &'static str) -> Result<Option<i64>, AuthError> {
    let seconds = match value {
        None => return Ok(None),
        Some(Member::Int(int)) => *int,
        Some(Member::Float(float)) if (0.0..=MAX_NUMERIC_DATE as f64).contains(float) => float.trunc() as i64,
        Some(_) => return Err(AuthError::InvalidDate(name)),
    };
    if (0..=MAX_NUMERIC_DATE).contains(&seconds) { Ok(Some(seconds)) } else { Err(AuthError::InvalidDate(name)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing_ignores_extra_spaces() {
        let scopes = ScopeSet::parse(" orders:write  orders:read orders:write ");
        assert_eq!(scopes.len(), 2);
        assert!(scopes.has("orders:read"));
        assert!(scopes.has("orders:write"));
        assert!(!scopes.has("orders"));
        assert!(!scopes.has(""));
        assert_eq!(scopes.to_string(), "orders:write orders:read");
        assert!(ScopeSet::parse("  ").is_empty());
    }

    #[test]
    fn long_scope_lists_are_deduplicated_by_hash() {
        let many: Vec<String> = (0..1_000).map(|i| format!("s{}", i % 500)).collect();
        let scopes = ScopeSet::parse(&many.join(" "));
        assert_eq!(scopes.len(), 500);
        assert!(scopes.has("s499") && !scopes.has("s500"));
        let distinct: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        assert_eq!(ScopeSet::parse(&distinct.join(" ")).to_string(), distinct.join(" "));
    }

    #[test]
    fn a_caller_is_refused_past_the_scope_cap() {
        let claims = |scopes: usize| Claims {
            issuer: "i".into(),
            audience: vec!["a".into()],
            expires_at: 2,
            issued_at: 1,
            not_before: None,
            subject: "s".into(),
            client_id: "c".into(),
            token_id: "j".into(),
            scope: Some(Arc::from((0..scopes).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" "))),
            role: None,
            session_id: None,
            dpop_jkt: None,
        };
        assert_eq!(claims(MAX_SCOPES).into_caller("k").unwrap().scopes.len(), MAX_SCOPES);
        assert_eq!(claims(MAX_SCOPES + 1).into_caller("k").unwrap_err(), AuthError::InvalidClaim("scope"));
    }

    #[test]
    fn cnf_is_a_jkt_thumbprint_or_refused() {
        let cnf = |json: &str| {
            let text = format!(r#"{{"cnf":{json}}}"#);
            let mut members = crate::json::parse_members(text.as_bytes()).unwrap();
            confirmation(members.take("cnf"))
        };
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        assert_eq!(cnf(&format!(r#"{{"jkt":"{jkt}"}}"#)), Ok(Some(jkt.to_owned())));
        for bad in [
            r#""x""#,
            "{}",
            r#"{"jkt":""}"#,
            r#"{"jkt":"short"}"#,
            &format!(r#"{{"jkt":"{jkt}=="}}"#),
            &format!(r#"{{"jkt":"{}"}}"#, jkt.replace('-', "+")),
            &format!(r#"{{"jkt":"{jkt}","x5t#S256":"abc"}}"#),
            r#"{"x5t#S256":"abc"}"#,
            r#"{"jkt":["a"]}"#,
        ] {
            assert_eq!(cnf(bad), Err(AuthError::InvalidClaim("cnf")), "{bad}");
        }
        assert_eq!(confirmation(None), Ok(None));
    }

    #[test]
    fn numeric_dates_accept_numbers_only_in_range() {
        let date = |json: &str| {
            let text = format!(r#"{{"exp":{json}}}"#);
            let members = crate::json::parse_members(text.as_bytes()).unwrap();
            numeric_date(members.get("exp"), "exp")
        };
        assert_eq!(date("1700000000"), Ok(Some(1_700_000_000)));
        assert_eq!(date("1700000000.9"), Ok(Some(1_700_000_000)));
        assert_eq!(date("1.7e9"), Ok(Some(1_700_000_000)));
        assert_eq!(date(r#""1700000000""#), Err(AuthError::InvalidDate("exp")));
        assert_eq!(date("-1"), Err(AuthError::InvalidDate("exp")));
        assert_eq!(date("18446744073709551615"), Err(AuthError::InvalidDate("exp")));
        assert_eq!(date("1e300"), Err(AuthError::InvalidDate("exp")));
        assert_eq!(date("null"), Err(AuthError::InvalidDate("exp")));
        assert_eq!(numeric_date(None, "exp"), Ok(None));
    }
}
