//! API fuzzing (scenario 17): schemathesis, from each service's own OpenAPI document, sends
//! generated valid and invalid requests to one replica of orders-service and of
//! notifications-service (directly: the document also covers `/healthz`, `/metrics` and the
//! bare well-known path, which the gateway does not publish), with a real user token and a
//! real service token, and stateful sequences where operations depend on each other.
//! Any 5xx, any answer the document does not describe, a 401 or 403 without a
//! `WWW-Authenticate` challenge naming the resource metadata (`.ci/schemathesis_hooks.py`)
//! fails the scenario. `.ci/schemathesis.toml` holds the one exception, and why.
//!
//! Runs when `SCHEMATHESIS` names the `st` executable (`.ci/run` installs it in a virtualenv);
//! otherwise it says SKIPPED, unless `SCHEMATHESIS_REQUIRED=1`. Local stacks only: the
//! service token comes from a client registered for the run.

use std::{path::PathBuf, process::Stdio};

use e2e::{api::Api, service::Service};
use http::StatusCode;

use crate::support::{self, new_user, skipped};

const NAME: &str = "17-api-fuzz";
const FUZZ_CLIENT: &str = "e2e-fuzz-sender";
const FUZZ_SECRET: &str = "e2e-fuzz-secret-not-for-production";
/// Cases per operation and phase: enough to reach every documented answer, in minutes.
const MAX_EXAMPLES: &str = "25";
/// Fixed, so a failure found in CI can be replayed.
const SEED: &str = "14";

/// One schemathesis run: the document, the token, and which operations it covers.
struct Run {
    what: &'static str,
    service: Service,
    token: String,
    filter: &'static [&'static str],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_documented_apis() {
    let Some(st) = std::env::var_os("SCHEMATHESIS").map(PathBuf::from) else {
        assert!(
            std::env::var("SCHEMATHESIS_REQUIRED").as_deref() != Ok("1"),
            "SCHEMATHESIS_REQUIRED=1 but SCHEMATHESIS names no schemathesis executable"
        );
        skipped(NAME, "the whole scenario", "SCHEMATHESIS is unset (see .ci/run for how CI installs it)");
        return;
    };
    if std::env::var_os("E2E_BASE_URL").is_some() {
        skipped(NAME, "the whole scenario", "it registers its own service client, which only a local stack can");
        return;
    }
    support::scenario(
        NAME,
        |mut options| {
            options
                .extra_auth_clients
                .push(format!("{FUZZ_CLIENT}|{FUZZ_SECRET}|notifications:write|notifications-service"));
            options
        },
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;
            let reply = api
                .client_credentials(FUZZ_CLIENT, FUZZ_SECRET, "notifications:write", None)
                .await?
                .expect(StatusCode::OK, "POST /oauth/token (client_credentials)")?;
            let service = reply.str("access_token").unwrap_or_default().to_owned();
            let runs = [
                Run { what: "orders-service", service: Service::Orders, token: user.token().to_owned(), filter: &[] },
                Run {
                    what: "notifications-service, user operations",
                    service: Service::Notifications,
                    token: user.token().to_owned(),
                    filter: &["--exclude-operation-id", "create_notification"],
                },
                Run {
                    what: "notifications-service, the service operation",
                    service: Service::Notifications,
                    token: service,
                    filter: &["--include-operation-id", "create_notification"],
                },
            ];
            let mut failed = Vec::new();
            for run in runs {
                let urls = stack.control().replica_urls(run.service).await.map_err(anyhow::Error::from)?;
                let Some(url) = urls.first() else { anyhow::bail!("no {} replica", run.service) };
                if !schemathesis(&st, url.as_str().trim_end_matches('/'), &run).await? {
                    failed.push(run.what);
                }
            }
            anyhow::ensure!(failed.is_empty(), "schemathesis found problems in: {}", failed.join(", "));
            Ok(())
        },
    )
    .await;
}

/// Runs schemathesis once; its output goes to stderr with the scenario's prefix. `true` when
/// it found nothing.
async fn schemathesis(st: &PathBuf, base: &str, run: &Run) -> anyhow::Result<bool> {
    let ci = concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci");
    let output = tokio::process::Command::new(st)
        .args(["--config-file", &format!("{ci}/schemathesis.toml")])
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--url", base])
        .args(["--header", &format!("Authorization: Bearer {}", run.token)])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--suppress-health-check", "too_slow"])
        .args(run.filter)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", ci)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", st.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines().chain(String::from_utf8_lossy(&output.stderr).lines()) {
        eprintln!("e2e[{NAME}]: [{}] {line}", run.what);
    }
    Ok(output.status.success())
}
