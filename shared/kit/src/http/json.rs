//! A JSON body extractor whose rejections speak the workspace's error envelope.
//!
//! axum's own `Json` answers with plain-text bodies; [`AppJson`] answers 415 for a wrong
//! content type, 413 for an oversize body, 400 for malformed JSON and 422 for well-formed JSON
//! of the wrong shape, naming the offending field (`items[0].quantity`) in `details`.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::{ErrorBody, FieldError, error_response};

/// JSON request body (and response body: it serialises like `axum::Json`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

/// Why a JSON body was refused; renders the envelope.
#[derive(Debug)]
pub enum JsonRejection {
    /// No `Content-Type: application/json`.
    UnsupportedMediaType,
    /// Over the body limit.
    TooLarge,
    /// The body could not be read.
    Unreadable(String),
    /// Not JSON.
    Syntax(String),
    /// JSON of the wrong shape at `field`.
    Shape { field: String, message: String },
}

impl IntoResponse for JsonRejection {
    fn into_response(self) -> Response {
        match self {
            Self::UnsupportedMediaType => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ),
            Self::TooLarge => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {} bytes", super::MAX_BODY_BYTES),
            ),
            Self::Unreadable(message) => error_response(StatusCode::BAD_REQUEST, "invalid_request", message),
            Self::Syntax(message) => error_response(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("request body is not valid JSON: {message}"),
            ),
            Self::Shape { field, message } => {
                let mut body = ErrorBody::validation(vec![FieldError::new(field, message)]);
                body.error = "invalid_request".to_owned();
                body.into_response_with(StatusCode::UNPROCESSABLE_ENTITY)
            }
        }
    }
}

fn is_json_content_type(request: &Request) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserialises `bytes`, mapping errors to [`JsonRejection`] with the failing path.
///
/// # Errors
/// Malformed JSON (syntax) or JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonRejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            JsonRejection::Syntax(inner.to_string())
        } else if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            // A shape error can be hit before the parser reaches broken JSON further on
            // (`{} trailing`): malformed input is a syntax error whatever the shape said.
            JsonRejection::Syntax(syntax.to_string())
        } else {
            let field = if path == "." { "body".to_owned() } else { path };
            JsonRejection::Shape { field, message: strip_position(&inner.to_string()) }
        }
    })?;
    deserializer.end().map_err(|e| JsonRejection::Syntax(e.to_string()))?;
    Ok(value)
}

/// `serde_json` appends " at line 1 column 42", which is noise once the field is named.
fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = JsonRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(&request) {
            return Err(JsonRejection::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                JsonRejection::TooLarge
            } else {
                JsonRejection::Unreadable(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

impl<T: serde::Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        quantity: u32,
    }

    #[test]
    fn wrong_types_name_the_field() {
        let error = parse_json::<Order>(br#"{"items":[{"sku":"A-1","quantity":"two"}]}"#).unwrap_err();
        match error {
            JsonRejection::Shape { field, .. } => assert_eq!(field, "items[0].quantity"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        assert!(matches!(parse_json::<Order>(b"{\"items\": ["), Err(JsonRejection::Syntax(_))));
        assert!(matches!(parse_json::<Order>(b"{} trailing"), Err(JsonRejection::Syntax(_))));
    }

    #[test]
    fn unknown_and_missing_fields_are_shape_errors() {
        assert!(matches!(parse_json::<Order>(br#"{"items":[],"x":1}"#), Err(JsonRejection::Shape { .. })));
        assert!(matches!(parse_json::<Order>(br"{}"), Err(JsonRejection::Shape { .. })));
    }
}
