//! Finding the key set URL when it is not configured: the issuer's metadata (where to look
//! and which document to trust is [`crate::metadata`]'s rule), fetched once and remembered
//! until a 404 says the key set moved.

use serde_json::Value;
use url::Url;

use super::{
    Inner,
    fetch::{FetchFailure, check_json_content_type},
};
use crate::{config::check_fetch_url, json};

impl Inner {
    pub(super) async fn jwks_url(&self) -> Result<Url, FetchFailure> {
        if let Some(url) = &self.settings.jwks_url {
            return Ok(url.clone());
        }
        if let Some(url) = self.control.lock().discovered.clone() {
            return Ok(url);
        }
        let candidates = crate::metadata::metadata_urls(&self.settings.issuer).map_err(FetchFailure::Refused)?;
        let mut document = None;
        for metadata_url in candidates {
            let response = self.get(metadata_url, None).await?;
            // Not published at this well-known path: try the next.
            if response.status == 404 {
                continue;
            }
            if response.status != 200 {
                return Err(FetchFailure::Unreachable(format!("discovery answered {}", response.status)));
            }
            check_json_content_type(&response, &["application/json"])?;
            document =
                Some(json::parse_object(&response.body).map_err(|problem| {
                    FetchFailure::Refused(format!("discovery document is not JSON ({problem:?})"))
                })?);
            break;
        }
        let document =
            document.ok_or_else(|| FetchFailure::Unreachable("the issuer publishes no metadata".to_owned()))?;
        if !crate::metadata::names_issuer(&document, &self.settings.issuer) {
            return Err(FetchFailure::Refused("discovery document names a different issuer".to_owned()));
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| FetchFailure::Refused("discovery document has no jwks_uri".to_owned()))?;
        let url = Url::parse(jwks_uri).map_err(|e| FetchFailure::Refused(format!("jwks_uri is not a URL: {e}")))?;
        // A discovered URL obeys the same https rule as a configured one.
        check_fetch_url(&url, self.settings.allow_insecure_http).map_err(FetchFailure::Refused)?;
        tracing::info!(auth.iss = %self.settings.issuer, auth.jwks_uri = %url, "discovered the key set URL");
        self.control.lock().discovered = Some(url.clone());
        Ok(url)
    }
}
