//! API fuzzing (scenario 17): schemathesis, from each service's own OpenAPI document, sends
//! generated valid and invalid requests to one replica of each service (directly: the
//! documents also cover `/healthz`, `/metrics` and the bare well-known path, which the gateway
//! does not publish), with real user, administrator and service tokens and a real client's
//! HTTP Basic credentials, and stateful sequences where operations depend on each other.
//! Any 5xx, any answer the document does not describe, a 401 or 403 without a
//! `WWW-Authenticate` challenge (naming the resource metadata, at the resource servers:
//! `.ci/schemathesis_hooks.py`) fails the scenario. `.ci/schemathesis.toml` holds the
//! exceptions, and why.
//!
//! Runs when `SCHEMATHESIS` names the `st` executable (`.ci/run` installs it in a virtualenv);
//! otherwise it says SKIPPED, unless `SCHEMATHESIS_REQUIRED=1`. Local stacks only: the
//! service token comes from a client registered for the run.

use std::{path::PathBuf, process::Stdio};

use base64::{Engine, engine::general_purpose::STANDARD};
use e2e::{api::Api, service::Service};
use http::StatusCode;

use crate::support::{self, PASSWORD, login, new_user, skipped};

const NAME: &str = "17-api-fuzz";
const FUZZ_CLIENT: &str = "e2e-fuzz-sender";
const FUZZ_SECRET: &str = "e2e-fuzz-secret-not-for-production";
/// The administrator of the admin runs, provisioned as an operator does.
const FUZZ_ADMIN: &str = "fuzz-admin@example.com";
/// Cases per operation and phase: enough to reach every documented answer, in minutes.
const MAX_EXAMPLES: &str = "25";
/// Fixed, so a failure found in CI can be replayed.
const SEED: &str = "14";

/// One schemathesis run: the document, the credential, and which operations it covers.
struct Run {
    what: &'static str,
    service: Service,
    /// The `Authorization` header of every request.
    authorization: String,
    filter: &'static [&'static str],
}

impl Run {
    /// Whether the service is an RFC 9728 protected resource, whose challenges name its metadata.
    fn is_resource_server(&self) -> bool {
        self.service != Service::Auth
    }
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
            // Generated `wait` values hold the long poll for at most a second, not 25.
            options.env.push((Some(Service::Auth), "AUTH_EVENTS_MAX_WAIT".into(), "1s".into()));
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
            let bearer = |token: &str| format!("Bearer {token}");
            // Its own user: its last run logs it out everywhere, which ends its token too.
            let auth_user = new_user(&api).await?;
            stack.control().create_admin(FUZZ_ADMIN, PASSWORD).await.map_err(anyhow::Error::from)?;
            let admin = login(&api, FUZZ_ADMIN).await?.access_token;
            let runs = [
                Run {
                    what: "orders-service",
                    service: Service::Orders,
                    authorization: bearer(user.token()),
                    filter: &[],
                },
                Run {
                    what: "notifications-service, user operations",
                    service: Service::Notifications,
                    authorization: bearer(user.token()),
                    filter: &["--exclude-operation-id", "create_notification"],
                },
                Run {
                    what: "notifications-service, the service operation",
                    service: Service::Notifications,
                    authorization: bearer(&service),
                    filter: &["--include-operation-id", "create_notification"],
                },
                Run {
                    what: "auth-service, user operations",
                    service: Service::Auth,
                    authorization: bearer(auth_user.token()),
                    filter: &[
                        "--exclude-tag",
                        "oauth",
                        "--exclude-operation-id",
                        "logout",
                        "--exclude-operation-id",
                        "delete_all_sessions",
                        "--exclude-operation-id",
                        "delete_session",
                    ],
                },
                // Last among the user's runs: these end the session its token belongs to.
                Run {
                    what: "auth-service, ending the session",
                    service: Service::Auth,
                    authorization: bearer(auth_user.token()),
                    filter: &[
                        "--include-operation-id",
                        "delete_session",
                        "--include-operation-id",
                        "logout",
                        "--include-operation-id",
                        "delete_all_sessions",
                    ],
                },
                Run {
                    what: "auth-service, administration",
                    service: Service::Auth,
                    authorization: bearer(&admin),
                    filter: &["--include-tag", "admin", "--exclude-operation-id", "rotate_keys"],
                },
                // Last of the admin's: an emergency rotation removes the key that signed its token.
                Run {
                    what: "auth-service, key rotation",
                    service: Service::Auth,
                    authorization: bearer(&admin),
                    filter: &["--include-operation-id", "rotate_keys"],
                },
                Run {
                    what: "auth-service, OAuth endpoints",
                    service: Service::Auth,
                    authorization: format!("Basic {}", STANDARD.encode(format!("{FUZZ_CLIENT}:{FUZZ_SECRET}"))),
                    filter: &["--include-tag", "oauth"],
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
        .args(["--header", &format!("Authorization: {}", run.authorization)])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--suppress-health-check", "too_slow"])
        .args(run.filter)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("SCHEMATHESIS_RESOURCE_METADATA", if run.is_resource_server() { "1" } else { "0" })
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
