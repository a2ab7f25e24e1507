//! The process-wide Prometheus recorder behind the `metrics` facade.
//!
//! Libraries (the verifier, the HTTP layers) record through `metrics::counter!` and friends;
//! the first call to [`handle`] installs the recorder and `/metrics` renders it. Tests that
//! need exact per-instance numbers read the verifier's own stats instead, because several
//! services in one test process share this recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder's handle, installing the recorder on first use. If another recorder is
/// already installed (an embedding application chose its own), this one still renders but
/// sees nothing.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
            .expect("static bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::debug!("a metrics recorder was already installed; /metrics shows only this one's data");
        }
        handle
    })
}

/// Installs the recorder now, so metrics recorded before the first scrape are kept.
pub fn install() {
    let _ = handle();
}
