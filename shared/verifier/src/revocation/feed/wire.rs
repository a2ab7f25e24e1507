//! The feed on the wire: one long-poll request and its answer, read strictly, and the
//! discovery of the feed's URL in the issuer's metadata.

use serde_json::Value;
use url::Url;

use super::Subscriber;
use crate::{
    config::check_fetch_url,
    json,
    jwks::transport::{FetchRequest, FetchResponse},
    metadata,
    revocation::FEED_METADATA_MEMBER,
};

/// An answer carries at most 500 SETs of about 1 KiB each.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Metadata documents are small; the key cache allows its key sets as much.
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Cursors are opaque, but not unbounded.
const MAX_CURSOR_BYTES: usize = 256;

/// One answer of the feed, checked for shape.
pub(super) struct Answer {
    pub(super) sets: Vec<(String, String)>,
    pub(super) cursor: String,
    pub(super) reset: bool,
    pub(super) more: bool,
}

pub(super) enum PollError {
    /// The feed refused our cursor (400): start over without one.
    BadCursor(String),
    /// The feed is not there (404, 410): discover it again, when discovered.
    Moved(String),
    Failed(String),
}

pub(super) enum Discovery {
    Found(Url),
    NotAdvertised,
    /// Cannot be attempted as configured (the issuer is not a fetchable URL).
    Impossible(String),
    Failed(String),
}

impl Subscriber {
    pub(super) async fn poll(&self, endpoint: &Url, cursor: Option<&str>) -> Result<Answer, PollError> {
        let mut url = endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(cursor) = cursor {
                query.append_pair("after", cursor);
            }
            query.append_pair("wait", &self.wait.as_secs().to_string());
        }
        let request = FetchRequest {
            url,
            if_none_match: None,
            max_body_bytes: MAX_ANSWER_BYTES,
            timeout: Some(self.request_timeout),
        };
        let response = self.transport.get(request).await.map_err(|e| PollError::Failed(e.to_string()))?;
        match response.status {
            200 => {}
            400 => return Err(PollError::BadCursor("the feed answered 400".to_owned())),
            404 | 410 => return Err(PollError::Moved(format!("the feed answered {}", response.status))),
            status => return Err(PollError::Failed(format!("the feed answered {status}"))),
        }
        if !is_json(&response) {
            return Err(PollError::Failed("the feed's answer is not application/json".to_owned()));
        }
        parse_answer(&response.body).map_err(PollError::Failed)
    }

    /// The feed's URL from the issuer's metadata: the first document found decides.
    pub(super) async fn discover(&self) -> Discovery {
        let candidates = match metadata::metadata_urls(&self.issuer) {
            Ok(candidates) => candidates,
            Err(reason) => return Discovery::Impossible(reason),
        };
        for url in candidates {
            if let Err(reason) = check_fetch_url(&url, self.allow_insecure_http) {
                return Discovery::Impossible(reason);
            }
            let request = FetchRequest { url, if_none_match: None, max_body_bytes: MAX_METADATA_BYTES, timeout: None };
            let response = match self.transport.get(request).await {
                Ok(response) => response,
                Err(error) => return Discovery::Failed(error.to_string()),
            };
            match response.status {
                404 => continue,
                200 if is_json(&response) => {}
                status => return Discovery::Failed(format!("the issuer's metadata answered {status}")),
            }
            let Ok(document) = json::parse_object(&response.body) else {
                return Discovery::Failed("the issuer's metadata is not a JSON object".to_owned());
            };
            if !metadata::names_issuer(&document, &self.issuer) {
                return Discovery::Failed("the metadata names a different issuer".to_owned());
            }
            return match document.get(FEED_METADATA_MEMBER) {
                None | Some(Value::Null) => Discovery::NotAdvertised,
                Some(Value::String(text)) => match Url::parse(text) {
                    // A discovered URL obeys the same https rule as a configured one.
                    Ok(url) => match check_fetch_url(&url, self.allow_insecure_http) {
                        Ok(()) => Discovery::Found(url),
                        Err(reason) => Discovery::Failed(reason),
                    },
                    Err(e) => Discovery::Failed(format!("{FEED_METADATA_MEMBER} is not a URL: {e}")),
                },
                Some(_) => Discovery::Failed(format!("{FEED_METADATA_MEMBER} is not a string")),
            };
        }
        Discovery::NotAdvertised
    }
}

fn is_json(response: &FetchResponse) -> bool {
    response
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
}

/// `{"sets": {jti: SET}, "cursor": "…", "reset": bool, "moreAvailable": bool}`, strictly:
/// duplicate members refused, `sets` and `cursor` required, the flags optional.
fn parse_answer(body: &[u8]) -> Result<Answer, String> {
    let document =
        json::parse_object(body).map_err(|problem| format!("the answer is not strict JSON ({problem:?})"))?;
    let Some(Value::Object(sets)) = document.get("sets") else {
        return Err("the answer has no sets object".to_owned());
    };
    let sets = sets
        .iter()
        .map(|(jti, set)| set.as_str().map(|set| (jti.clone(), set.to_owned())))
        .collect::<Option<Vec<_>>>()
        .ok_or("a SET in the answer is not a string")?;
    let cursor = document
        .get("cursor")
        .and_then(Value::as_str)
        .filter(|cursor| !cursor.is_empty() && cursor.len() <= MAX_CURSOR_BYTES)
        .ok_or("the answer has no usable cursor")?
        .to_owned();
    let flag = |name: &str| match document.get(name) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(format!("{name} is not a boolean")),
    };
    Ok(Answer { sets, cursor, reset: flag("reset")?, more: flag("moreAvailable")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        let answer = parse_answer(br#"{"sets":{"a":"x.y.z"},"cursor":"7","reset":true}"#).unwrap();
        assert_eq!((answer.sets.len(), answer.cursor.as_str(), answer.reset, answer.more), (1, "7", true, false));
        for bad in [
            r#"{"cursor":"7"}"#,
            r#"{"sets":{},"cursor":""}"#,
            r#"{"sets":{"a":1},"cursor":"7"}"#,
            r#"{"sets":{},"cursor":"7","moreAvailable":"yes"}"#,
            r#"{"sets":{"a":"x","a":"y"},"cursor":"7"}"#,
        ] {
            assert!(parse_answer(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
