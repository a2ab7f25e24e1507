//! Revocation (scenario 11): every way a session or token ends reaches every verifier within a
//! second. Logout, `DELETE /v1/sessions/{id}`, log out everywhere, an administrator ending a
//! user's sessions, refresh-token reuse and RFC 7009 revocation: the ended session's unexpired
//! access tokens are refused (401, "revoked") by every orders and notifications replica, each
//! polled directly, within one second (`REVOCATION_BOUND`) of the acknowledgement, while the
//! user's other sessions and other users keep working. The feed itself is checked against the
//! wire contract: advertised in the metadata, served through the gateway, signed SETs that
//! name the session.

use e2e::{api::Api, control::ControlError, service::Service, tokens};
use http::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use crate::support::{
    self, PASSWORD, Propagation, accepted_everywhere, ensure_within_bound, login, new_user, refused_everywhere,
    session_id_of, skipped,
};

const NAME: &str = "11-revocation";
/// The administrator the scenario provisions (`auth-service create-admin`).
const ADMIN_EMAIL: &str = "revocation-admin@example.com";
/// The CAEP event of an ended session.
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_way_of_ending_a_session_reaches_every_verifier_within_a_second() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            check_feed_is_published(&api).await?;
            // Another user, whose session must survive every case.
            let bystander = new_user(&api).await?;
            let mut figures: Vec<Propagation> = Vec::new();

            // Logout: that session dies, the user's other session lives.
            let ann = new_user(&api).await?;
            let ann_phone = login(&api, &ann.email).await?;
            accepted_everywhere(stack, &[ann.token(), &ann_phone.access_token, bystander.token()], "before logout")
                .await?;
            api.logout(ann.token()).await?.expect(StatusCode::NO_CONTENT, "POST /v1/logout")?;
            let acked = Instant::now();
            figures.push(refused_everywhere(stack, NAME, "logout", &[ann.token()], acked).await?);
            accepted_everywhere(stack, &[&ann_phone.access_token, bystander.token()], "after logout").await?;
            check_feed_names_session(&api, &session_id_of(ann.token())?).await?;

            // One session ended from another.
            let ann_laptop = login(&api, &ann.email).await?;
            let phone_sid = session_id_of(&ann_phone.access_token)?;
            api.end_session(&ann_laptop.access_token, &phone_sid)
                .await?
                .expect(StatusCode::NO_CONTENT, "DELETE /v1/sessions/{id}")?;
            let acked = Instant::now();
            figures.push(
                refused_everywhere(stack, NAME, "DELETE /v1/sessions/{id}", &[&ann_phone.access_token], acked).await?,
            );
            accepted_everywhere(stack, &[&ann_laptop.access_token, bystander.token()], "after ending one session")
                .await?;

            // Refresh-token reuse: the whole session dies, the refreshed token too.
            let stolen = login(&api, &ann.email).await?;
            let rotated = api
                .refresh(&stolen.refresh_token)
                .await?
                .expect(StatusCode::OK, "POST /oauth/token (refresh_token)")?;
            let rotated_access = rotated.str("access_token").unwrap_or_default().to_owned();
            accepted_everywhere(stack, &[&stolen.access_token, &rotated_access], "before the reuse").await?;
            support::past_refresh_reuse_grace().await;
            let reuse = api.refresh(&stolen.refresh_token).await?;
            anyhow::ensure!(
                reuse.status == StatusCode::BAD_REQUEST && reuse.error_code() == Some("invalid_grant"),
                "reuse of a spent refresh token: {} {}",
                reuse.status,
                reuse.text
            );
            let acked = Instant::now();
            figures.push(
                refused_everywhere(stack, NAME, "refresh-token reuse", &[&stolen.access_token, &rotated_access], acked)
                    .await?,
            );
            accepted_everywhere(stack, &[&ann_laptop.access_token, bystander.token()], "after the reuse").await?;

            // RFC 7009 revocation of an access token.
            let revoked = login(&api, &ann.email).await?;
            accepted_everywhere(stack, &[&revoked.access_token], "before /oauth/revoke").await?;
            api.revoke(&revoked.access_token, Some("access_token"))
                .await?
                .expect(StatusCode::OK, "POST /oauth/revoke")?;
            let acked = Instant::now();
            figures.push(
                refused_everywhere(stack, NAME, "POST /oauth/revoke (access token)", &[&revoked.access_token], acked)
                    .await?,
            );
            // Only that token: its session lives on, and a token refreshed from it works.
            let renewed = api
                .refresh(&revoked.refresh_token)
                .await?
                .expect(StatusCode::OK, "POST /oauth/token in the session of a revoked access token")?;
            let renewed = renewed.str("access_token").unwrap_or_default().to_owned();
            accepted_everywhere(stack, &[&renewed, &ann_laptop.access_token, bystander.token()], "after /oauth/revoke")
                .await?;

            // Log out everywhere: every session of the caller, the calling one too.
            let bob = new_user(&api).await?;
            let bob_phone = login(&api, &bob.email).await?;
            let bob_laptop = login(&api, &bob.email).await?;
            let bob_all = [bob.token(), bob_phone.access_token.as_str(), bob_laptop.access_token.as_str()];
            accepted_everywhere(stack, &bob_all, "before log out everywhere").await?;
            api.logout_everywhere(bob_phone.access_token.as_str())
                .await?
                .expect(StatusCode::NO_CONTENT, "DELETE /v1/sessions")?;
            let acked = Instant::now();
            figures.push(refused_everywhere(stack, NAME, "log out everywhere (3 sessions)", &bob_all, acked).await?);
            accepted_everywhere(stack, &[&ann_laptop.access_token, bystander.token()], "after log out everywhere")
                .await?;

            // An administrator ends every session of a user.
            match admin_token(stack, &api).await? {
                Some((admin, auth_replica)) => {
                    let cy = new_user(&api).await?;
                    let cy_phone = login(&api, &cy.email).await?;
                    let cy_all = [cy.token(), cy_phone.access_token.as_str()];
                    accepted_everywhere(stack, &cy_all, "before the administrator acts").await?;
                    auth_replica
                        .end_user_sessions(&admin, &cy.subject)
                        .await?
                        .expect(StatusCode::NO_CONTENT, "DELETE /v1/admin/users/{user_id}/sessions")?;
                    let acked = Instant::now();
                    figures.push(
                        refused_everywhere(stack, NAME, "admin ended all sessions (2 sessions)", &cy_all, acked)
                            .await?,
                    );
                    accepted_everywhere(
                        stack,
                        &[&admin, &ann_laptop.access_token, bystander.token()],
                        "after the administrator acted",
                    )
                    .await?;
                }
                None => skipped(
                    NAME,
                    "the administrator case",
                    "no administrator to log in as: only the local harness provisions one, and administration \
                     is not published through the gateway",
                ),
            }

            ensure_within_bound(NAME, &figures)
        },
    )
    .await;
}

/// The metadata advertises the feed at the issuer, and the gateway serves it: an answer with
/// a cursor, the whole state (`reset`) and `Cache-Control: no-store`.
async fn check_feed_is_published(api: &Api) -> anyhow::Result<()> {
    let metadata = api.metadata().await?.expect(StatusCode::OK, "GET /.well-known/oauth-authorization-server")?;
    let issuer = metadata.str("issuer").unwrap_or_default().trim_end_matches('/');
    let endpoint = metadata.str("security_event_feed_endpoint");
    anyhow::ensure!(
        endpoint == Some(format!("{issuer}/v1/security-events").as_str()),
        "the metadata's security_event_feed_endpoint is {endpoint:?}, expected {issuer}/v1/security-events"
    );
    let feed = api.security_events(None, 0).await?.expect(StatusCode::OK, "GET /v1/security-events")?;
    anyhow::ensure!(
        feed.str("cursor").is_some()
            && feed.body.get("sets").is_some_and(Value::is_object)
            && feed.body.get("reset") == Some(&Value::Bool(true)),
        "a first answer of the feed needs a cursor, a sets object and reset: true: {}",
        feed.text
    );
    anyhow::ensure!(
        feed.header("cache-control").is_some_and(|c| c.contains("no-store")),
        "the feed answered without Cache-Control: no-store ({:?})",
        feed.header("cache-control")
    );
    let malformed = api.get("/v1/security-events?wait=soon", None).await?;
    anyhow::ensure!(
        malformed.status == StatusCode::BAD_REQUEST && malformed.error_code() == Some("invalid_request"),
        "a malformed feed request: expected 400 invalid_request, got {} {}",
        malformed.status,
        malformed.text
    );
    Ok(())
}

/// The feed's whole state (read through the gateway) holds a signed session-revoked SET for
/// session `sid`, with the SET type and a key of the JWKS.
async fn check_feed_names_session(api: &Api, sid: &str) -> anyhow::Result<()> {
    let jwks = api.jwks().await?.expect(StatusCode::OK, "GET /.well-known/jwks.json")?;
    let kids: Vec<&str> = jwks
        .body
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(|k| k.get("kid").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let feed = api.security_events(after.as_deref(), 0).await?.expect(StatusCode::OK, "GET /v1/security-events")?;
        for (jti, set) in feed.body.get("sets").and_then(Value::as_object).into_iter().flatten() {
            let parts = tokens::decode(set.as_str().unwrap_or_default())?;
            let session = parts.claims.pointer("/sub_id/session/id").and_then(Value::as_str);
            if session != Some(sid) {
                continue;
            }
            anyhow::ensure!(parts.claims.get("jti").and_then(Value::as_str) == Some(jti.as_str()), "SET {jti}: jti");
            anyhow::ensure!(
                parts.header.get("typ").and_then(Value::as_str) == Some("secevent+jwt")
                    && parts.header.get("alg").and_then(Value::as_str) == Some("RS256"),
                "SET {jti}: header {}",
                parts.header
            );
            let kid = parts.header.get("kid").and_then(Value::as_str).unwrap_or_default();
            anyhow::ensure!(kids.contains(&kid), "SET {jti} is signed with kid {kid}, not in the JWKS {kids:?}");
            anyhow::ensure!(
                parts.claims.get("events").and_then(|events| events.get(SESSION_REVOKED)).is_some(),
                "SET {jti} for the logged-out session has no session-revoked event: {}",
                parts.claims
            );
            return Ok(());
        }
        if feed.body.get("moreAvailable") != Some(&Value::Bool(true)) {
            break;
        }
        after = feed.str("cursor").map(str::to_owned);
    }
    anyhow::bail!("the feed holds no SET for the logged-out session {sid}")
}

/// An administrator's access token and a client aimed at one auth replica, or `None` where
/// no administrator exists (black-box mode). Administration is not routed by the gateway, so
/// it is done at a replica directly, as an operator inside the network would.
async fn admin_token(stack: &e2e::stack::Stack, api: &Api) -> anyhow::Result<Option<(String, Api)>> {
    if stack.local().is_none() {
        return Ok(None);
    }
    let Ok(urls) = stack.control().replica_urls(Service::Auth).await else {
        return Ok(None);
    };
    match stack.control().create_admin(ADMIN_EMAIL, PASSWORD).await {
        Ok(()) => {}
        Err(ControlError::Unsupported(_)) => return Ok(None),
        Err(ControlError::Failed(error)) => return Err(error),
    }
    let admin = login(api, ADMIN_EMAIL).await?.access_token;
    let role = tokens::decode(&admin)?.claims.get("role").and_then(Value::as_str).map(str::to_owned);
    anyhow::ensure!(role.as_deref() == Some("admin"), "{ADMIN_EMAIL} was provisioned but got role {role:?}");
    Ok(urls.first().map(|url| (admin, api.at(url))))
}
