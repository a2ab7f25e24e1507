//! The OpenTelemetry tracer provider: OTLP/HTTP export when the standard `OTEL_*` variables ask
//! for it, none otherwise.
//!
//! Export is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set to a non-empty value (compose passes `${OTEL_EXPORTER_OTLP_ENDPOINT:-}`, so empty means
//! unset), unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Without it the
//! provider has no exporter and no span processor: spans still get real W3C ids (so
//! `traceparent` propagation and the ids in log lines work), and nothing leaves the process.
//!
//! Only `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf` (the default) is supported: the workspace
//! carries no gRPC stack. The exporter posts through a `reqwest` 0.12 client (rustls, the
//! workspace's one HTTP client) on a small runtime of its own, because the SDK's batch
//! processor exports from a plain thread that has no Tokio reactor. Everything else the
//! exporter reads itself from the environment: `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`,
//! `…_TIMEOUT`, `…_COMPRESSION`; the SDK reads `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER[_ARG]` and `OTEL_BSP_*`.

use std::{sync::Arc, time::Duration};

use opentelemetry::Key;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};

/// What [`provider`] built, for the start-up log line.
#[derive(Debug)]
pub(super) enum Export {
    /// Spans go to this OTLP/HTTP endpoint (as configured: the base or the traces URL).
    Otlp(String),
    /// No exporter: nothing configured, or switched off.
    Off,
    /// Configured but unusable; the message says why. Nothing is exported.
    Refused(String),
}

/// The tracer provider of a process whose service is `service` (the default
/// `service.name`).
pub(super) fn provider(service: &str) -> (SdkTracerProvider, Export) {
    let builder = SdkTracerProvider::builder().with_resource(resource(service));
    match export_settings() {
        Ok(Some(endpoint)) => match exporter() {
            Ok(exporter) => (builder.with_batch_exporter(exporter).build(), Export::Otlp(endpoint)),
            Err(message) => (builder.build(), Export::Refused(message)),
        },
        Ok(None) => (builder.build(), Export::Off),
        Err(message) => (builder.build(), Export::Refused(message)),
    }
}

/// `service.name` from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` when given, else
/// `service`; plus the SDK's own attributes.
fn resource(service: &str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named { detected } else { Resource::builder().with_service_name(service.to_owned()).build() }
}

/// The most of a collector's answer kept.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// `endpoint` for the logs: a user name or password in it (`https://user:key@collector`) is
/// replaced, since it is a credential.
pub(super) fn redacted(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("redacted");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// A non-empty value of `name`.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The configured endpoint when traces are to be exported.
///
/// # Errors
/// A setting that asks for something this build cannot do.
fn export_settings() -> Result<Option<String>, String> {
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    match var("OTEL_TRACES_EXPORTER").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => return Err(format!("OTEL_TRACES_EXPORTER={other} is not supported (only `otlp` or `none`)")),
    }
    let Some(endpoint) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
    else {
        return Ok(None);
    };
    let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref() {
        None | Some("http/protobuf") => Ok(Some(endpoint)),
        Some(other) => Err(format!("OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported (only `http/protobuf`)")),
    }
}

/// The OTLP/HTTP protobuf exporter; endpoint, headers, timeout and compression from the
/// environment.
fn exporter() -> Result<opentelemetry_otlp::SpanExporter, String> {
    let timeout = var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let client = RuntimeClient::new(timeout)?;
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_http_client(client)
        .build()
        .map_err(|error| format!("cannot build the OTLP exporter: {error}"))
}

/// `reqwest` on a one-thread runtime owned by the exporter: the batch processor calls
/// [`HttpClient::send_bytes`] from its own thread through a plain executor, and `reqwest`
/// needs a Tokio reactor; the request runs on this runtime and its `JoinHandle` can be awaited
/// from anywhere.
#[derive(Debug, Clone)]
struct RuntimeClient {
    http: reqwest::Client,
    runtime: Arc<OwnedRuntime>,
}

impl RuntimeClient {
    fn new(timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| format!("cannot build the OTLP HTTP client: {error}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the OTLP export runtime: {error}"))?;
        Ok(Self { http, runtime: Arc::new(OwnedRuntime(Some(runtime))) })
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let handle = self.runtime.0.as_ref().ok_or("the export runtime is gone")?.handle().clone();
        let task = handle.spawn(async move {
            let response = http.execute(reqwest::Request::try_from(request)?).await?;
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            // The exporter looks only at the status and a short error; a collector (or anyone
            // in between on plain http) must not make this process buffer an unbounded body.
            let mut response = response;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_RESPONSE_BYTES {
                    break;
                }
            }
            Ok::<_, HttpError>(answer.body(Bytes::from(body))?)
        });
        task.await?
    }
}

/// A runtime that may be dropped anywhere: a Tokio runtime dropped inside async code panics,
/// so this one is shut down in the background instead.
#[derive(Debug)]
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn credentials_in_the_endpoint_are_not_logged() {
        let shown = redacted("https://user:s3cret@collector.example:4318/v1/traces");
        assert!(!shown.contains("s3cret") && !shown.contains("user:"), "{shown}");
        assert_eq!(redacted("http://collector:4318"), "http://collector:4318/");
        assert_eq!(redacted("://nope"), "(not a URL)");
    }
}
