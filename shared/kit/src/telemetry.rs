//! `tracing` set-up shared by every binary.
//!
//! `RUST_LOG` filters (default `info,<crate>=debug,tower_http=info`); `LOG_FORMAT=json` switches
//! to one JSON object per line for log shippers, anything else gives compact human output.
//! Logging rules for the workspace: messages read on their own, values are fields, an error is
//! logged once where it is handled, and tokens, keys, passwords and email addresses are never
//! logged.

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

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

/// Installs the global subscriber for a binary. `crate_name` is the Rust crate name
/// (`orders_service`) that gets `debug` by default.
///
/// Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init(crate_name: &str) {
    let (format, warning) = LogFormat::from_env();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("info,{crate_name}=debug,jwt_verifier=info,service_kit=info,tower_http=info"))
    });
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Human => registry.with(fmt::layer().compact()).try_init(),
    };
    if installed.is_ok()
        && let Some(warning) = warning
    {
        tracing::warn!("{warning}; using human output");
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
