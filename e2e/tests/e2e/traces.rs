//! Traces: one order placed through the gateway, exported over OTLP/HTTP by the real binaries
//! to a collector in this test, forms the trace the root README's "Tracing" section describes.
//!
//! The collector is an axum server that accepts `POST /v1/traces` (protobuf
//! `ExportTraceServiceRequest`) and keeps every span with its resource's `service.name`. The
//! replicas find it through `OTEL_EXPORTER_OTLP_ENDPOINT`, as in production. The claims:
//!
//! 1. orders-service's server span for `POST /v1/orders` is in the trace of the `traceparent`
//!    the client sent, as a child of the client's span, with the HTTP semantic-convention
//!    attributes;
//! 2. the outbox delivery span starts a trace of its own and links to that server span;
//! 3. the delivery's HTTP call is a client span under it, and notifications-service's server
//!    span is the child of that client span (the delivery's trace crosses the services);
//! 4. the call for the service token is a client span too, and auth-service's server span is
//!    its child.
//!
//! Skipped in black-box mode: a system started elsewhere does not export to this process.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use e2e::{api::Api, service::Topology, stack::Stack};
use http::StatusCode;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message as _;
use serde_json::json;

use crate::support::{self, new_user, poll, skipped};

const NAME: &str = "traces-order-outbox-notification";

/// A span as received, with the `service.name` of the process that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&any_value::Value> {
        find(&self.span.attributes, key)
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.attribute(key)? {
            any_value::Value::StringValue(value) => Some(value),
            _ => None,
        }
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.attribute(key)? {
            any_value::Value::IntValue(value) => Some(*value),
            _ => None,
        }
    }

    fn is(&self, service: &str, kind: SpanKind) -> bool {
        self.service == service && self.span.kind == kind as i32
    }

    /// Its parent is `parent` (same trace, parent span id).
    fn is_child_of(&self, parent: &Received) -> bool {
        self.span.trace_id == parent.span.trace_id && self.span.parent_span_id == parent.span.span_id
    }

    fn describe(&self) -> String {
        format!(
            "{} {:?} `{}` trace={} span={} parent={}",
            self.service,
            SpanKind::try_from(self.span.kind).unwrap_or(SpanKind::Unspecified),
            self.span.name,
            hex(&self.span.trace_id),
            hex(&self.span.span_id),
            hex(&self.span.parent_span_id)
        )
    }
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The in-process OTLP/HTTP collector.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    /// Serves `POST /v1/traces` on a free loopback port; the base URL to give exporters.
    async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let app = Router::new().route("/v1/traces", post(receive)).with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{address}"))
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().map(|spans| spans.clone()).unwrap_or_default()
    }
}

async fn receive(State(collector): State<Collector>, headers: HeaderMap, body: Bytes) -> (StatusCode, Vec<u8>) {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type != "application/x-protobuf" {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new());
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| find(&resource.attributes, "service.name"))
            .map(|value| match value {
                any_value::Value::StringValue(name) => name.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            received.extend(scope_spans.spans.into_iter().map(|span| Received { service: service.clone(), span }));
        }
    }
    if let Ok(mut spans) = collector.spans.lock() {
        spans.extend(received);
    }
    (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_is_traced_from_the_gateway_through_the_outbox_to_notifications() {
    if Stack::black_box().ok().flatten().is_some() {
        skipped(NAME, "the whole scenario", "a black-box stack does not export its traces to this test");
        return;
    }
    let collector = Collector::default();
    let endpoint = collector.start().await.expect("the collector starts");
    support::scenario(
        NAME,
        |mut options| {
            options.topology = Topology { auth: 1, orders: 1, notifications: 1 };
            options
                .with_env(None, "OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
                .with_env(None, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                // Export every 100 ms instead of every 5 s, so the test waits less.
                .with_env(None, "OTEL_BSP_SCHEDULE_DELAY", "100")
                .with_env(None, "LOG_FORMAT", "json")
        },
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;

            // Arrange: the client's own span, as a traceparent.
            let trace_id = uuid::Uuid::new_v4().simple().to_string();
            let client_span_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
            let traceparent = format!("00-{trace_id}-{client_span_id}-01");

            // Act: one order through the gateway.
            let reply = api
                .send(
                    api.request(reqwest::Method::POST, "/v1/orders")
                        .bearer_auth(user.token())
                        .header("traceparent", &traceparent)
                        .header(http::header::USER_AGENT, "e2e-traces/1")
                        .json(&json!({"items": [{"sku": "TRACE-1", "quantity": 2}]})),
                )
                .await?
                .expect(StatusCode::CREATED, "POST /v1/orders")?;
            let order_id = reply.str("id").unwrap_or_default().to_owned();

            // Assert 1: the orders server span continues the client's trace.
            let placed = poll(
                "orders' server span of POST /v1/orders",
                Duration::from_secs(30),
                Duration::from_millis(100),
                || async {
                    Ok(collector.spans().into_iter().find(|s| {
                        s.is("orders-service", SpanKind::Server)
                            && s.str("http.route") == Some("/v1/orders")
                            && s.str("http.request.method") == Some("POST")
                            && hex(&s.span.trace_id) == trace_id
                    }))
                },
            )
            .await?;
            anyhow::ensure!(
                hex(&placed.span.parent_span_id) == client_span_id,
                "the server span's parent is not the client's span: {}",
                placed.describe()
            );
            anyhow::ensure!(placed.span.name == "POST /v1/orders", "span name: {}", placed.span.name);
            anyhow::ensure!(
                placed.int("http.response.status_code") == Some(201),
                "status attribute: {:?}",
                placed.span.attributes
            );
            anyhow::ensure!(placed.str("url.path") == Some("/v1/orders"), "url.path: {:?}", placed.span.attributes);
            anyhow::ensure!(placed.str("url.scheme") == Some("http"), "url.scheme: {:?}", placed.span.attributes);
            anyhow::ensure!(
                placed.str("server.address").is_some_and(|a| !a.is_empty()),
                "server.address: {:?}",
                placed.span.attributes
            );
            anyhow::ensure!(
                placed.str("user_agent.original") == Some("e2e-traces/1"),
                "user_agent.original: {:?}",
                placed.span.attributes
            );

            // Assert 2: the delivery is a root span of a new trace with a link to the request.
            let delivery =
                poll("the outbox delivery span", Duration::from_secs(60), Duration::from_millis(100), || async {
                    Ok(collector.spans().into_iter().find(|s| {
                        s.service == "orders-service"
                            && s.span.name == "outbox deliver"
                            && s.str("order.id") == Some(order_id.as_str())
                    }))
                })
                .await?;
            anyhow::ensure!(
                delivery.span.parent_span_id.is_empty() && delivery.span.trace_id != placed.span.trace_id,
                "the delivery is not the root of a trace of its own: {}",
                delivery.describe()
            );
            anyhow::ensure!(
                delivery
                    .span
                    .links
                    .iter()
                    .any(|l| l.trace_id == placed.span.trace_id && l.span_id == placed.span.span_id),
                "the delivery span has no link to the placing request's span ({}): links {:?}",
                placed.describe(),
                delivery.span.links
            );

            // Assert 3: delivery → client call → notifications' server span, in one trace.
            let (call, stored) = poll(
                "notifications' server span under the delivery's call",
                Duration::from_secs(30),
                Duration::from_millis(100),
                || async {
                    let spans = collector.spans();
                    let call = spans.iter().find(|s| {
                        s.is("orders-service", SpanKind::Client)
                            && s.is_child_of(&delivery)
                            && s.str("url.full").is_some_and(|u| u.ends_with("/v1/notifications"))
                    });
                    let Some(call) = call else { return Ok(None) };
                    let stored =
                        spans.iter().find(|s| s.is("notifications-service", SpanKind::Server) && s.is_child_of(call));
                    Ok(stored.map(|stored| (call.clone(), stored.clone())))
                },
            )
            .await?;
            anyhow::ensure!(
                call.str("http.request.method") == Some("POST"),
                "client method: {:?}",
                call.span.attributes
            );
            anyhow::ensure!(
                call.str("server.address").is_some_and(|a| !a.is_empty()),
                "client server.address: {:?}",
                call.span.attributes
            );
            anyhow::ensure!(
                call.int("http.response.status_code") == Some(201),
                "client status: {:?}",
                call.span.attributes
            );
            anyhow::ensure!(
                stored.str("http.route") == Some("/v1/notifications"),
                "notifications route: {}",
                stored.describe()
            );
            anyhow::ensure!(
                stored.int("http.response.status_code") == Some(201),
                "notifications status: {:?}",
                stored.span.attributes
            );

            // Assert 5 (logs): the delivery's log line carries the delivery span's ids.
            if let Some(local) = stack.local() {
                let (trace, span) = (hex(&delivery.span.trace_id), hex(&delivery.span.span_id));
                let logged = poll(
                    "the delivery's JSON log line with its ids",
                    Duration::from_secs(10),
                    Duration::from_millis(100),
                    || async {
                        Ok(orders_log_lines(local.dir())?.into_iter().find(|line| {
                            line.contains("notification delivered")
                                && line.contains(&format!("\"trace_id\":\"{trace}\""))
                                && line.contains(&format!("\"span_id\":\"{span}\""))
                        }))
                    },
                )
                .await?;
                let parsed: serde_json::Value = serde_json::from_str(&logged)?;
                anyhow::ensure!(
                    parsed["request_id"].is_string() || parsed["span"]["request_id"].is_string(),
                    "log line: {logged}"
                );
            }

            // Assert 4: the service-token request is traced into auth-service as well.
            poll(
                "auth's server span under orders' token request",
                Duration::from_secs(30),
                Duration::from_millis(100),
                || async {
                    let spans = collector.spans();
                    let found = spans.iter().any(|token_call| {
                        token_call.is("orders-service", SpanKind::Client)
                            && token_call.str("url.full").is_some_and(|u| u.contains("/token"))
                            && spans.iter().any(|s| s.is("auth-service", SpanKind::Server) && s.is_child_of(token_call))
                    });
                    Ok(found.then_some(()))
                },
            )
            .await?;

            eprintln!(
                "e2e[{NAME}]: {} spans; request {}; delivery {}; notifications {}",
                collector.spans().len(),
                placed.describe(),
                delivery.describe(),
                stored.describe()
            );
            Ok(())
        },
    )
    .await;
}

/// Every line of the orders replicas' logs.
fn orders_log_lines(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir.join("logs"))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("orders") && name.ends_with(".log") {
            lines.extend(std::fs::read_to_string(&path)?.lines().map(str::to_owned));
        }
    }
    Ok(lines)
}
