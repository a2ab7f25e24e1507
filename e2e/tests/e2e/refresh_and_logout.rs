//! Refresh and logout (scenario 7): refresh tokens rotate on every use, across auth replicas; presenting a used one
//! ends the whole session; logout and ending a session from another one work too; and a dead
//! session's refresh token is refused by every auth replica.

use e2e::{
    api::{Api, Tokens},
    service::Service,
};
use http::{Method, StatusCode};
use serde_json::Value;

use crate::support::{self, login, new_user, on_every_replica, session_id_of};

const NAME: &str = "7-refresh-logout";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_rotate_and_a_dead_sessions_refresh_token_fails_everywhere() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;
            let first = user.tokens.clone();

            // Rotation, each step on a different auth replica.
            let auth_urls = stack.control().replica_urls(Service::Auth).await.ok();
            let at = |n: usize| {
                auth_urls
                    .as_ref()
                    .and_then(|urls| urls.get(n % urls.len()))
                    .map_or_else(|| api.clone(), |url| api.at(url))
            };
            let second = refresh(&at(0), &first.refresh_token).await?;
            let third = refresh(&at(1), &second.refresh_token).await?;
            anyhow::ensure!(
                first.refresh_token != second.refresh_token && second.refresh_token != third.refresh_token,
                "refresh tokens did not rotate"
            );
            api.get("/v1/orders", Some(&third.access_token))
                .await?
                .expect(StatusCode::OK, "GET /v1/orders with a refreshed token")?;

            // Reusing a spent refresh token ends the session: even the newest one stops working.
            crate::support::past_refresh_reuse_grace().await;
            let reuse = api.refresh(&first.refresh_token).await?;
            anyhow::ensure!(
                reuse.status == StatusCode::BAD_REQUEST && reuse.error_code() == Some("invalid_grant"),
                "reuse of a spent refresh token: {} {}",
                reuse.status,
                reuse.text
            );
            refused_everywhere(stack, &third.refresh_token, "the newest refresh token after a reuse").await?;
            session_is_over(&api, &third.access_token, "after the reuse").await?;
            eprintln!("e2e[{NAME}]: reuse of a spent refresh token ended the session on every auth replica");

            // Logout ends the session too.
            let session = login(&api, &user.email).await?;
            api.sessions(&session.access_token).await?.expect(StatusCode::OK, "GET /v1/sessions")?;
            api.logout(&session.access_token).await?.expect(StatusCode::NO_CONTENT, "POST /v1/logout")?;
            refused_everywhere(stack, &session.refresh_token, "the refresh token of a logged-out session").await?;
            session_is_over(&api, &session.access_token, "after logout").await?;

            // So does ending one session from another.
            let phone = login(&api, &user.email).await?;
            let laptop = login(&api, &user.email).await?;
            let listed = api.sessions(&laptop.access_token).await?.expect(StatusCode::OK, "GET /v1/sessions")?;
            let sessions = listed.body.get("sessions").and_then(Value::as_array).cloned().unwrap_or_default();
            anyhow::ensure!(sessions.len() >= 2, "expected both sessions listed: {}", listed.text);
            let phone_sid = session_id_of(&phone.access_token)?;
            let reply = api
                .send(
                    api.request(Method::DELETE, &format!("/v1/sessions/{phone_sid}")).bearer_auth(&laptop.access_token),
                )
                .await?;
            anyhow::ensure!(
                reply.status == StatusCode::NO_CONTENT,
                "DELETE /v1/sessions/{{id}}: {} {}",
                reply.status,
                reply.text
            );
            refused_everywhere(stack, &phone.refresh_token, "the refresh token of a session ended from another")
                .await?;
            refresh(&api, &laptop.refresh_token).await?;
            Ok(())
        },
    )
    .await;
}

async fn refresh(api: &Api, refresh_token: &str) -> anyhow::Result<Tokens> {
    let reply = api.refresh(refresh_token).await?.expect(StatusCode::OK, "POST /oauth/token (refresh_token)")?;
    Tokens::from_reply(&reply)
}

/// Every auth replica answers `invalid_grant` for `refresh_token`.
async fn refused_everywhere(stack: &e2e::stack::Stack, refresh_token: &str, what: &str) -> anyhow::Result<()> {
    let replies = on_every_replica(stack, Service::Auth, |replica| {
        let token = refresh_token.to_owned();
        async move { Ok(replica.refresh(&token).await?) }
    })
    .await?;
    for (replica, reply) in replies {
        anyhow::ensure!(
            reply.status == StatusCode::BAD_REQUEST && reply.error_code() == Some("invalid_grant"),
            "{what} at {replica}: expected 400 invalid_grant, got {} {}",
            reply.status,
            reply.text
        );
    }
    Ok(())
}

/// auth-service itself no longer accepts the session's access token.
async fn session_is_over(api: &Api, access_token: &str, when: &str) -> anyhow::Result<()> {
    let reply = api.sessions(access_token).await?;
    anyhow::ensure!(
        reply.status == StatusCode::UNAUTHORIZED && reply.is_error_envelope(),
        "GET /v1/sessions {when}: expected 401, got {} {}",
        reply.status,
        reply.text
    );
    Ok(())
}
