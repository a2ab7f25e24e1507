//! One fetch of the key set: the conditional GET, the status and `Content-Type` rules, and
//! ingest into a [`KeySet`]. Nothing here touches the cache state; [`refresh`](super::refresh)
//! applies the result.

use std::time::{Duration, SystemTime};

use url::Url;

use super::{
    Inner, freshness,
    transport::{FetchRequest, FetchResponse, TransportError},
};
use crate::keys::{KeyProblem, KeySet};

/// Why a fetch failed, for the log line.
pub(super) enum FetchFailure {
    Unreachable(String),
    Refused(String),
}

pub(super) enum Fetched {
    New { keys: KeySet, skipped: Vec<(Option<String>, KeyProblem)>, etag: Option<String>, lifetime: Duration },
    NotModified { lifetime: Duration },
}

impl Inner {
    pub(super) async fn get(&self, url: Url, if_none_match: Option<String>) -> Result<FetchResponse, FetchFailure> {
        let request =
            FetchRequest { url, if_none_match, max_body_bytes: self.settings.limits.max_bytes, timeout: None };
        self.transport.get(request).await.map_err(|error| match error {
            TransportError::BodyTooLarge { .. } => FetchFailure::Refused(error.to_string()),
            TransportError::Connect(_) | TransportError::Timeout | TransportError::Other(_) => {
                FetchFailure::Unreachable(error.to_string())
            }
        })
    }

    pub(super) async fn fetch(&self) -> Result<Fetched, FetchFailure> {
        let url = self.jwks_url().await?;
        let (etag, have_keys) = {
            let state = self.state.load();
            (state.etag.clone(), state.loaded)
        };
        let sent_etag = etag.filter(|_| have_keys);
        let response = self.get(url, sent_etag.clone()).await?;
        let received_at = SystemTime::now();
        match response.status {
            200 => {}
            304 if sent_etag.is_some() => {
                return Ok(Fetched::NotModified {
                    lifetime: freshness::lifetime(&response.headers, received_at, self.settings.freshness),
                });
            }
            status => {
                if status == 404 && self.settings.jwks_url.is_none() {
                    // The discovered URL may have moved: discover again next time.
                    self.control.lock().discovered = None;
                }
                return Err(FetchFailure::Unreachable(format!("key set URL answered {status}")));
            }
        }
        check_json_content_type(&response, &["application/json", "application/jwk-set+json"])?;
        let (keys, report) = KeySet::from_jwks_json_with_limits(&response.body, self.settings.limits)
            .map_err(|error| FetchFailure::Refused(error.to_string()))?;
        let etag = response
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 256)
            .map(str::to_owned);
        Ok(Fetched::New {
            keys,
            skipped: report.skipped,
            etag,
            lifetime: freshness::lifetime(&response.headers, received_at, self.settings.freshness),
        })
    }
}

pub(super) fn check_json_content_type(response: &FetchResponse, allowed: &[&str]) -> Result<(), FetchFailure> {
    let media_type = response
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match media_type {
        Some(media_type) if allowed.contains(&media_type.as_str()) => Ok(()),
        Some(media_type) => {
            Err(FetchFailure::Refused(format!("unexpected content type `{}`", media_type.escape_debug())))
        }
        None => Err(FetchFailure::Refused("no content type".to_owned())),
    }
}
