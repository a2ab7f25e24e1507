//! `GET /v1/security-events?after=<cursor>&wait=<seconds>`: the revocation feed, served by
//! every replica from the shared database ([`crate::events`]).
//!
//! Public, like the JWKS: every SET is signed (receivers verify it as they verify tokens) and
//! carries opaque random ids only (a user id, a session id, a token's `jti`), never an email
//! or a token. Requiring a credential would make each verifier hold a secret for the issuer
//! and would not hide more than those ids.

use std::time::Duration;

use axum::{
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use service_kit::http::{
    error::CommonError,
    openapi::{BadRequest, InternalError, Unavailable},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{error::Result, no_store};
use crate::state::AppState;

/// Routes of this module, with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_security_events))
}

/// The parsed query.
#[derive(Debug, Default, PartialEq, Eq)]
struct FeedQuery {
    /// `None`: the receiver holds nothing (absent or empty `after`).
    after: Option<i64>,
    /// Absent or empty: answer at once.
    wait: Duration,
}

fn bad(field: &str, message: &str) -> CommonError {
    CommonError::invalid_parameter(field, message)
}

/// `after` and `wait`, each at most once; other parameters are ignored so receivers can send
/// extensions this server does not know. A `wait` above the maximum is clamped by the feed.
fn parse_query(query: Option<&str>) -> Result<FeedQuery, CommonError> {
    let mut parsed = FeedQuery::default();
    let (mut seen_after, mut seen_wait) = (false, false);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match name.as_ref() {
            "after" => {
                if std::mem::replace(&mut seen_after, true) {
                    return Err(bad("after", "must be given at most once"));
                }
                if value.is_empty() {
                    continue;
                }
                let cursor = value.parse::<i64>().ok().filter(|_| digits);
                parsed.after = Some(cursor.ok_or_else(|| bad("after", "must be a cursor from a previous answer"))?);
            }
            "wait" => {
                if std::mem::replace(&mut seen_wait, true) {
                    return Err(bad("wait", "must be given at most once"));
                }
                if value.is_empty() {
                    continue;
                }
                if !digits {
                    return Err(bad("wait", "must be a whole number of seconds"));
                }
                parsed.wait = Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX));
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// The SETs after `after`, at once when there are any, else when one is committed or `wait`
/// seconds have passed (contract: "Request").
#[utoipa::path(
    get,
    path = "/v1/security-events",
    tag = "security-events",
    params(
        ("after" = Option<i64>, Query, minimum = 0, maximum = 9_223_372_036_854_775_807_i64,
            description = "The cursor of the last answer the receiver applied; absent or empty: it holds nothing."),
        ("wait" = Option<String>, Query, pattern = "^[0-9]*$",
            description = "Seconds to hold the request while nothing is new (clamped to `AUTH_EVENTS_MAX_WAIT`); absent or empty: answer at once."),
    ),
    responses(
        (status = 200, description = "The signed SETs (RFC 8417) after the cursor, and the next cursor.", body = Object,
            headers(("Cache-Control" = String, description = "`no-store`."))),
        BadRequest, InternalError, Unavailable,
    )
)]
async fn list_security_events(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = parse_query(query.as_deref())?;
    let body = state.events.answer(query.after, query.wait).await?;
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    // Each answer is for one receiver's cursor at one moment: no shared cache may keep it.
    no_store(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_waits_parse_strictly() {
        assert_eq!(parse_query(None).unwrap(), FeedQuery::default());
        assert_eq!(parse_query(Some("after=&wait=")).unwrap(), FeedQuery::default());
        assert_eq!(
            parse_query(Some("after=12&wait=25&x=1")).unwrap(),
            FeedQuery { after: Some(12), wait: Duration::from_secs(25) }
        );
        assert_eq!(parse_query(Some("wait=99999999999999999999999")).unwrap().wait, Duration::from_secs(u64::MAX));
        for bad in
            ["after=-1", "after=abc", "after=1.5", "after=+3", "after=99999999999999999999", "wait=-1", "wait=1s"]
        {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
        assert!(parse_query(Some("after=1&after=2")).is_err());
        assert!(parse_query(Some("wait=1&wait=2")).is_err());
    }
}
