//! Web origins (RFC 6454) as the CSRF guard compares them: scheme, host and port.
//!
//! Configured origins are parsed once, at start, so a typo fails the service instead of
//! silently never matching; request `Origin` headers are parsed with the same rules.

use std::fmt;

use url::Url;

/// A tuple origin whose pages can hold the `Secure` access-token cookie: `https`, or `http`
/// on a loopback host (browsers treat `http://localhost` as a secure context).
#[derive(Clone, PartialEq, Eq)]
pub struct Origin(url::Origin);

/// Why a text is not an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not a URL at all.
    #[error("not a URL ({0})")]
    NotAUrl(url::ParseError),
    /// A URL with more than scheme, host and port.
    #[error("an origin is scheme://host[:port], without path, query, fragment or credentials")]
    NotBare,
    /// A scheme whose pages never hold the cookie.
    #[error("scheme `{0}`: only https (or http on a loopback host) pages can hold the Secure cookie")]
    InsecureScheme(String),
}

impl Origin {
    /// Parses a serialised origin (`https://app.example.com[:port]`, one trailing `/`
    /// tolerated), default ports filled in.
    ///
    /// # Errors
    /// See [`OriginError`]; `null` and opaque origins are [`OriginError::NotAUrl`] or
    /// [`OriginError::InsecureScheme`].
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let url = Url::parse(text.strip_suffix('/').unwrap_or(text)).map_err(OriginError::NotAUrl)?;
        let bare = url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !bare {
            return Err(OriginError::NotBare);
        }
        let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            other => return Err(OriginError::InsecureScheme(other.to_owned())),
        }
        let origin = url.origin();
        if !origin.is_tuple() {
            return Err(OriginError::NotBare);
        }
        Ok(Self(origin))
    }

    /// The `https` origin of a `Host` header value (`api.example.com[:port]`), if it is one.
    #[must_use]
    pub fn https_of_host(host: &str) -> Option<Self> {
        // A `Host` with a path or credentials is not a host: `parse` refuses it.
        Self::parse(&format!("https://{host}")).ok()
    }
}

impl std::str::FromStr for Origin {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.ascii_serialization())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<String, OriginError> {
        Origin::parse(text).map(|o| o.to_string())
    }

    #[test]
    fn default_ports_and_a_trailing_slash_normalise() {
        assert_eq!(parse("https://app.example.com"), Ok("https://app.example.com".to_owned()));
        assert_eq!(parse("https://APP.example.com:443/"), Ok("https://app.example.com".to_owned()));
        assert_eq!(parse("https://app.example.com:8443"), Ok("https://app.example.com:8443".to_owned()));
        assert_eq!(Origin::parse("https://a.example:443").unwrap(), Origin::parse("https://a.example").unwrap());
    }

    #[test]
    fn only_pages_that_can_hold_a_secure_cookie_are_origins() {
        assert_eq!(parse("http://app.example.com"), Err(OriginError::InsecureScheme("http".to_owned())));
        assert_eq!(parse("http://localhost:8080"), Ok("http://localhost:8080".to_owned()));
        assert_eq!(parse("http://127.0.0.1:8080"), Ok("http://127.0.0.1:8080".to_owned()));
        assert_eq!(parse("http://[::1]:8080"), Ok("http://[::1]:8080".to_owned()));
        assert_eq!(parse("ftp://app.example.com"), Err(OriginError::InsecureScheme("ftp".to_owned())));
        assert!(parse("file:///etc").is_err());
        assert!(matches!(parse("null"), Err(OriginError::NotAUrl(_))));
        assert!(matches!(parse("app.example.com"), Err(OriginError::NotAUrl(_))));
    }

    #[test]
    fn anything_beyond_scheme_host_and_port_is_refused() {
        for text in [
            "https://app.example.com/path",
            "https://app.example.com?q",
            "https://app.example.com#f",
            "https://user@app.example.com",
            "https://user:pw@app.example.com",
        ] {
            assert_eq!(parse(text), Err(OriginError::NotBare), "{text}");
        }
    }

    #[test]
    fn a_host_header_gives_its_https_origin() {
        assert_eq!(Origin::https_of_host("api.example.com").unwrap().to_string(), "https://api.example.com");
        assert!(Origin::https_of_host("api.example.com/x").is_none());
        assert!(Origin::https_of_host("evil@api.example.com").is_none());
    }
}
