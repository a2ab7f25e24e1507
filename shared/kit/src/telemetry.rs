//! `tracing` set-up shared by every binary: logs, and OpenTelemetry traces.
//!
//! `RUST_LOG` filters (default `info,<crate>=debug,tower_http=info`); `LOG_FORMAT=json` switches
//! to one JSON object per line for log shippers, anything else gives compact human output.
//! JSON lines logged inside a span carry its W3C `trace_id` and `span_id` at the top level.
//! Logging rules for the workspace: messages read on their own, values are fields, an error is
//! logged once where it is handled, and tokens, keys, passwords and email addresses are never
//! logged.
//!
//! Every span also becomes an OpenTelemetry span (through `tracing-opentelemetry`), so ids are
//! real and propagate over HTTP ([`propagation`], [`client`]). They are exported over OTLP/HTTP
//! only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set ([`otlp`] lists the
//! variables honoured); [`shutdown`] flushes what is still buffered. `RUST_LOG` filters spans
//! too: a level that hides `info` hides the request spans from the traces as well.

pub mod client;
mod otlp;
pub mod propagation;

use std::sync::OnceLock;

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::{
    EnvFilter,
    fmt::{self, FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

/// The provider behind the installed subscriber, kept so [`shutdown`] can flush it.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
/// Output format of the logs, from `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Compact, coloured when the output is a terminal.
    Human,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Parses `LOG_FORMAT`: `json` or `human` (also `text`, `pretty`); empty means human.
    ///
    /// # Errors
    /// Any other value, so a typo does not silently change the log format.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "human" | "text" | "pretty" | "compact" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `json` or `human`, got `{other}`")),
        }
    }

    /// Reads `LOG_FORMAT` from the environment, falling back to human output (with a warning
    /// printed once the subscriber exists) when the value is not understood.
    #[must_use]
    pub fn from_env() -> (Self, Option<String>) {
        match std::env::var("LOG_FORMAT") {
            Ok(value) => match Self::parse(&value) {
                Ok(format) => (format, None),
                Err(message) => (Self::Human, Some(format!("LOG_FORMAT: {message}"))),
            },
            Err(_) => (Self::Human, None),
        }
    }
}

/// Installs the global subscriber for a binary.
///
/// `crate_name` is the Rust crate name (`orders_service`) that gets `debug` by default; the
/// service name (the default `service.name` of its traces) is the same with dashes
/// (`orders-service`).
///
/// Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init(crate_name: &str) {
    init_service(crate_name, &crate_name.replace('_', "-"));
}

/// [`init`] with an explicit service name for the traces (`OTEL_SERVICE_NAME` still wins).
pub fn init_service(crate_name: &str, service: &str) {
    let (format, warning) = LogFormat::from_env();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("info,{crate_name}=debug,jwt_verifier=info,service_kit=info,tower_http=info"))
    });
    let (provider, export) = otlp::provider(service);
    let tracer = provider.tracer("service-kit");
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false);
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    let installed = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .map_event_format(WithTraceIds),
            )
            .try_init(),
        LogFormat::Human => registry.with(fmt::layer().compact()).try_init(),
    };
    if installed.is_err() {
        // Another subscriber was there first; this provider is not behind it.
        let _ = provider.shutdown();
        return;
    }
    let _ = PROVIDER.set(provider);
    if let Some(warning) = warning {
        tracing::warn!("{warning}; using human output");
    }
    match export {
        otlp::Export::Otlp(endpoint) => {
            tracing::info!(otlp.endpoint = %otlp::redacted(&endpoint), "exporting traces over OTLP/HTTP");
        }
        otlp::Export::Off => {}
        otlp::Export::Refused(reason) => tracing::warn!("{reason}; traces are not exported"),
    }
}

/// Exports the spans still buffered and stops the exporter.
///
/// Call it once, when the process is about to end. It blocks while exporting (up to the
/// exporter's timeout): from async code run it with `tokio::task::spawn_blocking`. Does
/// nothing when [`init`] installed nothing.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.shutdown()
    {
        // The subscriber may be the only way to report, and it still works here.
        tracing::warn!(error = %error, "cannot flush the trace exporter");
    }
}

/// JSON event format that adds the current span's `trace_id` and `span_id` to the line.
///
/// The inner formatter writes the object as before; the ids are appended as its last two
/// members, so the rest of the line keeps its shape.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        // Looked up before formatting: the inner formatter reads span extensions, and the
        // OpenTelemetry lookup needs them unlocked.
        let ids = ctx.lookup_current().and_then(|span| {
            tracing::dispatcher::get_default(|dispatch| tracing_opentelemetry::get_otel_context(&span.id(), dispatch))
        });
        let ids = ids.and_then(|context| {
            let span = context.span();
            let span_context = span.span_context();
            span_context.is_valid().then(|| (span_context.trace_id(), span_context.span_id()))
        });
        let Some((trace_id, span_id)) = ids else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_suffix("}\n") {
            Some(object) => writeln!(writer, "{object},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"),
            None => writer.write_str(&line),
        }
    }
}

/// Subscriber for tests: writes through the test harness capture, silent unless `TEST_LOG` is
/// set (then it honours `RUST_LOG`). Safe to call from every test.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
    let _ = tracing_subscriber::registry().with(filter).with(fmt::layer().compact().with_test_writer()).try_init();
}
