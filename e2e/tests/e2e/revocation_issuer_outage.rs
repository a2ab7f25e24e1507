//! Revocation through an issuer outage (scenario 13): with every auth-service replica killed
//! (SIGKILL), the verifiers' feed subscribers lose their source, yet every orders and
//! notifications replica keeps serving valid tokens (every request, not most) and keeps
//! refusing the token revoked before the outage. Once auth-service is back, revocations
//! reach every replica again: the first one made the moment it is ready within the
//! subscribers' retry backoff (at most 1 s, `revocation_backoff_max`) plus one second, and
//! every one after that, with the subscribers connected again, within one second
//! (`REVOCATION_BOUND`). Both figures are printed.

use std::time::Duration;

use e2e::{
    api::Api,
    control::{ControlError, Which},
    service::Service,
};
use http::StatusCode;
use tokio::time::Instant;

use crate::support::{
    self, REVOCATION_BOUND, VERIFIER_PATHS, accepted_everywhere, ensure_within_bound, login, new_user,
    on_every_replica, refused_everywhere, skipped, until_served,
};

const NAME: &str = "13-revocation-issuer-outage";
/// How long auth-service stays down: several failed long polls and retries per subscriber.
const OUTAGE: Duration = Duration::from_secs(6);
/// The verifiers' longest pause between two failed polls (`revocation_backoff_max`): a
/// subscriber that failed during the outage tries again at most this long after auth-service
/// is back.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_every_auth_replica_dead_tokens_are_served_and_later_revocations_arrive_in_time() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;
            let kept = login(&api, &user.email).await?;
            let later = login(&api, &user.email).await?;
            let last = login(&api, &user.email).await?;
            let bystander = new_user(&api).await?;
            let valid = [
                kept.access_token.as_str(),
                later.access_token.as_str(),
                last.access_token.as_str(),
                bystander.token(),
            ];
            accepted_everywhere(stack, &valid, "before the outage").await?;

            api.logout(user.token()).await?.expect(StatusCode::NO_CONTENT, "POST /v1/logout")?;
            let acked = Instant::now();
            let before = refused_everywhere(stack, NAME, "logout before the outage", &[user.token()], acked).await?;

            match stack.control().kill(Service::Auth, Which::All).await {
                Ok(()) => {}
                Err(ControlError::Unsupported(reason)) => {
                    skipped(NAME, "the outage and what follows", &reason);
                    return ensure_within_bound(NAME, &[before]);
                }
                Err(ControlError::Failed(error)) => return Err(error),
            }
            let killed = Instant::now();
            eprintln!("e2e[{NAME}]: every auth-service replica killed");

            // Every replica, round after round: valid tokens served, the revoked one refused.
            let (mut served, mut asked, mut refused, mut revoked_asked) = (0_usize, 0_usize, 0_usize, 0_usize);
            let mut failures = Vec::new();
            while killed.elapsed() < OUTAGE {
                for (service, path) in VERIFIER_PATHS {
                    for (token, revoked) in valid.iter().map(|t| (*t, false)).chain([(user.token(), true)]) {
                        let replies = on_every_replica(stack, service, |replica| {
                            let token = token.to_owned();
                            async move { Ok(replica.get(path, Some(&token)).await?) }
                        })
                        .await?;
                        for (replica, reply) in replies {
                            if revoked {
                                revoked_asked += 1;
                                if reply.is_revoked_refusal() {
                                    refused += 1;
                                } else {
                                    failures.push(format!("{replica} answered the revoked token {}", reply.status));
                                }
                            } else {
                                asked += 1;
                                if reply.status == StatusCode::OK {
                                    served += 1;
                                } else {
                                    failures.push(format!("{replica} at {path}: {} {}", reply.status, reply.text));
                                }
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eprintln!(
                "e2e[{NAME}]: {:.1} s without auth-service: {served} of {asked} requests with valid tokens served \
                 ({:.1} %), the token revoked before the outage refused {refused} of {revoked_asked} times",
                killed.elapsed().as_secs_f64(),
                100.0 * served as f64 / asked.max(1) as f64
            );
            anyhow::ensure!(
                failures.is_empty(),
                "{} wrong answers while auth-service was down: {:?}",
                failures.len(),
                &failures[..failures.len().min(5)]
            );
            anyhow::ensure!(asked > 0, "no request was made during the outage");

            // auth-service back. Subscribers that failed during the outage wait out their
            // backoff before they try again, so the first revocation may wait for that; once it
            // has reached every replica, each subscriber is connected again.
            stack.control().restart(Service::Auth, Which::All).await.map_err(anyhow::Error::from)?;
            let back = Instant::now();
            eprintln!("e2e[{NAME}]: auth-service restarted after {:.1} s", killed.elapsed().as_secs_f64());
            let logout = until_served("POST /v1/logout after the restart", || api.logout(&later.access_token)).await?;
            logout.expect(StatusCode::NO_CONTENT, "POST /v1/logout after the restart")?;
            let acked = Instant::now();
            eprintln!(
                "e2e[{NAME}]: first logout acknowledged {:.3} s after auth-service was ready again",
                acked.duration_since(back).as_secs_f64()
            );
            let first =
                refused_everywhere(stack, NAME, "first logout after the outage", &[&later.access_token], acked).await?;
            anyhow::ensure!(
                first.slowest() <= REVOCATION_BOUND + BACKOFF_MAX,
                "the first revocation after the outage took longer than the subscribers' backoff allows: {}",
                first.summary()
            );

            api.logout(&last.access_token).await?.expect(StatusCode::NO_CONTENT, "POST /v1/logout")?;
            let acked = Instant::now();
            let next =
                refused_everywhere(stack, NAME, "next logout after the outage", &[&last.access_token], acked).await?;
            accepted_everywhere(stack, &[&kept.access_token, bystander.token()], "after the outage").await?;
            refused_everywhere(stack, NAME, "the pre-outage logout, still", &[user.token()], Instant::now()).await?;
            eprintln!(
                "e2e[{NAME}]: first revocation after the outage {:.3} s (held to {:?}: backoff plus the bound)",
                first.slowest().as_secs_f64(),
                REVOCATION_BOUND + BACKOFF_MAX
            );
            ensure_within_bound(NAME, &[before, next])
        },
    )
    .await;
}
