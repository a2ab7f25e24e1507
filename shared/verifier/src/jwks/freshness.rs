//! How long a fetched key set stays fresh, from the response's caching headers.
//!
//! `Cache-Control: max-age` (minus `Age`) wins; `no-cache`/`no-store` mean "revalidate as
//! soon as allowed"; otherwise `Expires` relative to `Date`; otherwise the default. The result
//! is clamped to the configured range, so an issuer can neither make every replica poll it
//! nor make a removed key verify for days.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, header};

/// The clamp range and the default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreshnessPolicy {
    pub min: Duration,
    pub max: Duration,
    pub default: Duration,
}

/// The freshness lifetime of a response received at `received_at` (wall clock).
pub(crate) fn lifetime(headers: &HeaderMap, received_at: SystemTime, policy: FreshnessPolicy) -> Duration {
    let raw = explicit_lifetime(headers, received_at).unwrap_or(policy.default);
    raw.clamp(policy.min, policy.max.max(policy.min))
}

fn explicit_lifetime(headers: &HeaderMap, received_at: SystemTime) -> Option<Duration> {
    let mut max_age: Option<u64> = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-cache" || directive == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = directive.strip_prefix("max-age=")
                && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
            {
                // Two max-age directives: the cautious one wins.
                max_age = Some(max_age.map_or(seconds, |current| current.min(seconds)));
            }
        }
    }
    if let Some(max_age) = max_age {
        let age = headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        return Some(Duration::from_secs(max_age.saturating_sub(age)));
    }
    let expires = headers.get(header::EXPIRES)?.to_str().ok()?;
    // An unparsable Expires ("0", "-1") means "already expired" (RFC 9111 §5.3).
    let Ok(expires) = httpdate::parse_http_date(expires.trim()) else {
        return Some(Duration::ZERO);
    };
    let date = headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
        .unwrap_or(received_at);
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const POLICY: FreshnessPolicy = FreshnessPolicy {
        min: Duration::from_secs(60),
        max: Duration::from_secs(3600),
        default: Duration::from_secs(300),
    };

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn life(pairs: &[(header::HeaderName, &str)]) -> u64 {
        lifetime(&headers(pairs), SystemTime::now(), POLICY).as_secs()
    }

    #[test]
    fn max_age_is_honoured_and_clamped() {
        assert_eq!(life(&[(header::CACHE_CONTROL, "public, max-age=600")]), 600);
        assert_eq!(life(&[(header::CACHE_CONTROL, "max-age=5")]), 60);
        assert_eq!(life(&[(header::CACHE_CONTROL, "max-age=86400")]), 3600);
        assert_eq!(life(&[(header::CACHE_CONTROL, "max-age=600"), (header::AGE, "100")]), 500);
        assert_eq!(life(&[(header::CACHE_CONTROL, "max-age=600, max-age=120")]), 120);
    }

    #[test]
    fn no_cache_means_the_minimum() {
        assert_eq!(life(&[(header::CACHE_CONTROL, "no-cache")]), 60);
        assert_eq!(life(&[(header::CACHE_CONTROL, "max-age=600, no-store")]), 60);
    }

    #[test]
    fn expires_counts_from_date() {
        let pairs =
            [(header::DATE, "Sun, 06 Nov 1994 08:49:37 GMT"), (header::EXPIRES, "Sun, 06 Nov 1994 09:09:37 GMT")];
        assert_eq!(life(&pairs), 1200);
        assert_eq!(life(&[(header::EXPIRES, "0")]), 60);
        // max-age beats Expires.
        assert_eq!(life(&[(header::CACHE_CONTROL, "max-age=900"), pairs[0].clone(), pairs[1].clone()]), 900);
    }

    #[test]
    fn silence_means_the_default() {
        assert_eq!(life(&[]), 300);
    }
}
