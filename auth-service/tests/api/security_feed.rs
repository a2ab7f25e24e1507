//! `GET /v1/security-events`: answers at once when events exist, holds until `wait`
//! otherwise and wakes on a commit (on any replica), pages of 500, pruning and `reset`, SETs
//! that verify with the JWKS, shared answers, and draining at shutdown.

use std::time::{Duration, Instant};

use auth_service::events::{NewEvent, Revoked, record, store};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::db::now_millis;

use crate::helpers::{ISSUER, TestApp, assert_error, decode_jwt, fresh_db, spawn_app, spawn_app_on, spawn_app_with};

/// Writes `count` token events relevant until `relevant_until` (Unix ms), in one transaction.
async fn record_token_events(app: &TestApp, count: usize, relevant_until: i64) {
    let mut tx = app.pool().begin().await.unwrap();
    let mut last = 0;
    for _ in 0..count {
        let event = NewEvent {
            revoked: Revoked::Token { jti: uuid::Uuid::new_v4().to_string() },
            occurred_at: now_millis(),
            relevant_until,
            txn: uuid::Uuid::new_v4().to_string(),
        };
        last = record(&mut tx, &event).await.unwrap();
    }
    tx.commit().await.unwrap();
    app.state.events.committed(last);
}

fn set_count(answer: &Value) -> usize {
    answer["sets"].as_object().unwrap().len()
}

fn token_jtis(answer: &Value) -> Vec<String> {
    let mut jtis: Vec<String> = answer["sets"]
        .as_object()
        .unwrap()
        .values()
        .map(|set| decode_jwt(set.as_str().unwrap()).1["sub_id"]["id"].as_str().unwrap().to_owned())
        .collect();
    jtis.sort();
    jtis
}

#[tokio::test]
async fn the_feed_answers_at_once_when_events_exist_and_holds_until_wait_otherwise() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    app.logout(&tokens.access_token).await;

    // Act
    let started = Instant::now();
    let whole = app.feed(None, 10).await;
    let since_zero = app.feed(Some("0"), 10).await;
    let answered_at_once = started.elapsed();
    let held = Instant::now();
    let nothing_new = app.feed(Some("1"), 1).await;
    let held_for = held.elapsed();

    // Assert
    assert!(answered_at_once < Duration::from_secs(2), "{answered_at_once:?}");
    assert_eq!(
        (set_count(&whole), &whole["cursor"], &whole["reset"], &whole["moreAvailable"]),
        (1, &"1".into(), &true.into(), &false.into())
    );
    assert_eq!(since_zero["reset"], false);
    assert_eq!(since_zero["sets"], whole["sets"], "the same bytes for the same event and key");
    assert!(held_for >= Duration::from_millis(950) && held_for < Duration::from_secs(3), "{held_for:?}");
    assert_eq!(nothing_new, serde_json::json!({"sets": {}, "cursor": "1", "reset": false, "moreAvailable": false}));
}

#[tokio::test]
async fn a_held_request_wakes_when_an_event_is_committed_on_either_replica() {
    // Arrange: two replicas on one database.
    let db = fresh_db().await;
    let a = spawn_app_on(db.clone(), &[]).await;
    let b = spawn_app_on(db, &[]).await;
    let first = a.login_new_user("ann@example.com").await;
    let second = a.login_new_user("ann@example.com").await;

    // Act: B holds a request at the current cursor; A commits a logout 300 ms later.
    let started = Instant::now();
    let (woken, _) = tokio::join!(b.feed(Some("0"), 20), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.logout(&first.access_token).await
    });
    let across = started.elapsed();
    // And the same on one replica, where the commit wakes the watcher at once.
    let started = Instant::now();
    let (local, _) = tokio::join!(a.feed(Some("1"), 20), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.logout(&second.access_token).await
    });
    let same = started.elapsed();

    // Assert: within the 200 ms poll interval (plus slack) of the commit, not at `wait`.
    assert_eq!((set_count(&woken), &woken["cursor"]), (1, &"1".into()));
    assert!(across >= Duration::from_millis(300) && across < Duration::from_secs(3), "{across:?}");
    assert_eq!((set_count(&local), &local["cursor"], &local["reset"]), (1, &"2".into(), &false.into()));
    assert!(same < Duration::from_secs(2), "{same:?}");
}

#[tokio::test]
async fn wait_is_clamped_to_the_configured_maximum() {
    let app = spawn_app_with(&[("AUTH_EVENTS_MAX_WAIT", "1s")]).await;

    let started = Instant::now();
    let answer = app.feed(Some("0"), 3_600).await;

    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(answer["cursor"], "0");
}

#[tokio::test]
async fn malformed_cursors_and_waits_get_400_with_the_envelope() {
    let app = spawn_app().await;

    for (query, field) in [
        ("after=abc", "after"),
        ("after=-1", "after"),
        ("after=1.5", "after"),
        ("after=1&after=2", "after"),
        ("wait=soon", "wait"),
        ("wait=-1", "wait"),
    ] {
        let body = assert_error(app.feed_raw(query).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["details"][0]["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn sets_verify_with_the_jwks_and_carry_the_contract_claims() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    let (_, token_claims) = decode_jwt(&tokens.access_token);
    app.logout(&tokens.access_token).await;

    // Act
    let response = app.feed_raw("").await;

    // Assert
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer: Value = response.json().await.unwrap();
    let (jti, set) = answer["sets"].as_object().unwrap().iter().next().unwrap();
    let set = set.as_str().unwrap();
    let header = jsonwebtoken::decode_header(set).unwrap();
    assert_eq!((header.alg, header.typ.as_deref()), (jsonwebtoken::Algorithm::RS256, Some("secevent+jwt")));
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(app.jwks().await).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&header.kid.unwrap()).expect("kid published")).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["iss"]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(set, &key, &validation).expect("the SET verifies").claims;
    assert_eq!(claims["jti"], jti.as_str());
    let iat = claims["iat"].as_i64().unwrap();
    let event = &claims["events"]["https://schemas.openid.net/secevent/caep/event-type/session-revoked"];
    assert_eq!(
        event,
        &serde_json::json!({"event_timestamp": iat, "initiating_entity": "user", "reason_admin": {"en": "logout"}})
    );
    assert_eq!(
        claims["sub_id"],
        serde_json::json!({"format": "complex", "user": {"format": "opaque", "id": token_claims["sub"]},
                           "session": {"format": "opaque", "id": token_claims["sid"]}})
    );
    assert!(claims["txn"].as_str().is_some_and(|t| t.len() == 36));
    let lasts = claims["relevant_until"].as_i64().unwrap() - iat;
    assert!((660..=661).contains(&lasts), "{lasts}");
    for absent in ["exp", "aud", "sub"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    assert!(app.state.verifier.verify(set).await.is_err(), "a SET never passes as an access token");
}

#[tokio::test]
async fn an_emergency_rotation_re_signs_the_same_events_with_the_new_key() {
    let app = spawn_app().await;
    let admin = app.login_admin().await;
    let ann = app.login_new_user("ann@example.com").await;
    app.logout(&ann.access_token).await;
    let before = app.feed(None, 0).await;

    let rotated =
        app.client.post(app.url("/v1/admin/keys/rotate?emergency=true")).bearer_auth(&admin.access_token).send().await;
    let after = app.feed(None, 0).await;

    assert_eq!(rotated.unwrap().status(), StatusCode::OK);
    let only =
        |answer: &Value| answer["sets"].as_object().unwrap().values().next().unwrap().as_str().unwrap().to_owned();
    let (old_header, old_claims) = decode_jwt(&only(&before));
    let (new_header, new_claims) = decode_jwt(&only(&after));
    assert_ne!(old_header["kid"], new_header["kid"]);
    assert_eq!(new_header["kid"], app.jwks().await["keys"][0]["kid"], "signed by the only published key");
    assert_eq!(old_claims, new_claims, "the event says the same");
}

#[tokio::test]
async fn answers_hold_at_most_500_sets_and_say_more_is_available() {
    let app = spawn_app().await;
    record_token_events(&app, 520, now_millis() + 600_000).await;

    let first = app.feed(None, 0).await;
    let rest = app.feed(Some(first["cursor"].as_str().unwrap()), 0).await;

    assert_eq!(
        (set_count(&first), &first["cursor"], &first["reset"], &first["moreAvailable"]),
        (500, &"500".into(), &true.into(), &true.into())
    );
    assert_eq!(
        (set_count(&rest), &rest["cursor"], &rest["reset"], &rest["moreAvailable"]),
        (20, &"520".into(), &false.into(), &false.into())
    );
}

#[tokio::test]
async fn pruning_removes_irrelevant_events_and_a_cursor_below_the_floor_gets_the_whole_state() {
    // Arrange: seq 1 and 3 matter for one second, 2 and 4 for ten minutes. (Housekeeping
    // prunes at start-up and then every ten minutes: it does not run in between.)
    let app = spawn_app().await;
    let (soon, later) = (now_millis() + 1_000, now_millis() + 600_000);
    for relevant_until in [soon, later, soon, later] {
        record_token_events(&app, 1, relevant_until).await;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let relevant = token_jtis(&app.feed(None, 0).await);
    assert_eq!(relevant.len(), 2, "irrelevant events are not served even before pruning");

    // Act
    let deleted = store::prune(app.pool(), now_millis()).await.unwrap();

    // Assert
    assert_eq!(deleted, 2);
    assert_eq!(app.events().await.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(store::head(app.pool()).await.unwrap().floor, 3);
    assert_eq!(store::prune(app.pool(), now_millis()).await.unwrap(), 0);
    assert_eq!(store::head(app.pool()).await.unwrap().floor, 3, "the floor never drops");
    app.state.events.poll().await.unwrap(); // as housekeeping does after pruning
    for below_or_unknown in ["0", "2", "999"] {
        let answer = app.feed(Some(below_or_unknown), 0).await;
        assert_eq!((&answer["reset"], &answer["cursor"]), (&true.into(), &"4".into()), "after={below_or_unknown}");
        assert_eq!(token_jtis(&answer), relevant);
    }
    let at_floor = app.feed(Some("3"), 0).await;
    assert_eq!((&at_floor["reset"], set_count(&at_floor), &at_floor["cursor"]), (&false.into(), 1, &"4".into()));
}

#[tokio::test]
async fn receivers_at_one_cursor_share_one_answer_and_each_set_is_signed_once() {
    // Arrange
    let app = spawn_app().await;
    let first = app.login_new_user("ann@example.com").await;
    let second = app.login_new_user("ann@example.com").await;
    app.logout(&first.access_token).await;
    let (built, signed) = app.state.events.stats();

    // Act: 50 receivers behind, then 50 receivers waiting when an event arrives.
    let behind = futures::future::join_all((0..50).map(|_| app.feed(Some("0"), 0))).await;
    let (waiting, _) = tokio::join!(futures::future::join_all((0..50).map(|_| app.feed(Some("1"), 10))), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.logout(&second.access_token).await
    });

    let whole = app.feed(None, 0).await;

    // Assert
    assert!(behind.iter().all(|answer| answer == &behind[0] && set_count(answer) == 1));
    assert!(waiting.iter().all(|answer| answer == &waiting[0] && answer["cursor"] == "2"));
    assert_eq!(set_count(&whole), 2);
    assert_eq!(app.state.events.stats(), (built + 3, signed + 2), "one answer per cursor, one signature per event");
}

#[tokio::test]
async fn shutting_down_answers_held_requests_at_once() {
    let app = spawn_app().await;
    let (client, url) = (app.client.clone(), app.url("/v1/security-events?after=0&wait=20"));
    let held = tokio::spawn(async move { client.get(url).send().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    app.stop().await;

    assert!(started.elapsed() < Duration::from_secs(5), "draining took {:?}", started.elapsed());
    let answer = held.await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.json::<Value>().await.unwrap()["cursor"], "0");
}

#[tokio::test]
async fn discovery_names_the_feed() {
    let app = spawn_app().await;

    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let metadata: Value = app.client.get(app.url(path)).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["security_event_feed_endpoint"], format!("{ISSUER}/v1/security-events"));
    }
}
