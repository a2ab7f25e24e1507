//! Scheduled key rotation with two instances on one database: pending → active → retired →
//! removed with the timing rules, identical JWKS on both, exactly one active key throughout,
//! and every token either instance mints verifying with the JWKS the *other* one serves.
//!
//! The schedule is shrunk to seconds through configuration (the same code runs with days in
//! production): a key signs for 4 s, its successor is published 1.1 s ahead (the JWKS max-age
//! plus the refresh interval), tokens live 2 s, and replicas re-read the key table every
//! 100 ms.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use jwt_verifier::{KeySet, StaticKeyStore, Verifier, VerifierConfig};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

use crate::helpers::{ISSUER, ORDERS_CLIENT, TestApp, decode_jwt, fresh_db, spawn_app_on, wait_until};

const SCHEDULE: &[(&str, &str)] = &[
    ("AUTH_KEY_ROTATION_INTERVAL", "4s"),
    ("AUTH_KEY_PREPUBLISH", "1100ms"),
    ("AUTH_JWKS_MAX_AGE", "1s"),
    ("AUTH_JWKS_MIN_MAX_AGE", "1s"),
    ("AUTH_ACCESS_TOKEN_TTL", "2s"),
    ("AUTH_CLOCK_LEEWAY", "0s"),
    ("AUTH_KEY_REFRESH_INTERVAL", "100ms"),
];
const PREPUBLISH_MS: i64 = 1_100;
const JWKS_MAX_AGE_MS: i64 = 1_000;
const ACCESS_TTL_MS: i64 = 2_000;
// The publication wait must outlast every cached JWKS.
const _: () = assert!(PREPUBLISH_MS > JWKS_MAX_AGE_MS);
const RETIRE_HOLD_MS: i64 = ACCESS_TTL_MS + 100;

#[derive(Debug, Clone)]
struct KeyRecord {
    kid: String,
    state: String,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    removed_at: Option<i64>,
    has_private: bool,
}

async fn key_table(app: &TestApp) -> Vec<KeyRecord> {
    sqlx::query(
        "SELECT kid, state, created_at, activated_at, retired_at, removed_at, private_key FROM signing_keys ORDER BY created_at",
    )
    .fetch_all(app.pool())
    .await
    .unwrap()
    .iter()
    .map(|row| KeyRecord {
        kid: row.get("kid"),
        state: row.get("state"),
        created_at: row.get("created_at"),
        activated_at: row.get("activated_at"),
        retired_at: row.get("retired_at"),
        removed_at: row.get("removed_at"),
        has_private: row.get::<Option<String>, _>("private_key").is_some(),
    })
    .collect()
}

async fn jwks_with_etag(app: &TestApp) -> (Vec<u8>, String) {
    jwks_at(&app.client, &app.address).await
}

async fn jwks_at(client: &reqwest::Client, base: &str) -> (Vec<u8>, String) {
    let response = client.get(format!("{base}/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (response.bytes().await.unwrap().to_vec(), etag)
}

fn kids_of(jwks: &[u8]) -> Vec<String> {
    let jwks: Value = serde_json::from_slice(jwks).unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// Both instances serve byte-identical JWKS documents and entity tags, listing exactly `kids`.
async fn assert_both_publish(apps: &[&TestApp; 2], kids: &[&str]) {
    let expected: Vec<String> = kids.iter().map(|k| (*k).to_owned()).collect();
    wait_until(Duration::from_secs(3), "both instances publish the same key set", || async {
        let (a, etag_a) = jwks_with_etag(apps[0]).await;
        let (b, etag_b) = jwks_with_etag(apps[1]).await;
        a == b && etag_a == etag_b && kids_of(&a) == expected
    })
    .await;
}

/// Verifies `token` with keys fetched over HTTP from `base`, as a resource service would.
async fn verify_with_jwks_at(client: &reqwest::Client, base: &str, token: &str) -> Result<String, String> {
    let (jwks, _) = jwks_at(client, base).await;
    let (keys, _) = KeySet::from_jwks_json(&jwks).map_err(|e| e.to_string())?;
    let verifier = Verifier::with_key_store(
        VerifierConfig::new(ISSUER, "notifications-service"),
        Arc::new(StaticKeyStore::new(keys)),
    );
    verifier.verify(token).await.map(|caller| caller.key_id.clone()).map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_rotate_through_every_state_with_one_active_key_throughout() {
    // Arrange: two instances, one database.
    let db = fresh_db().await;
    let first = spawn_app_on(db.clone(), SCHEDULE).await;
    let second = spawn_app_on(db, SCHEDULE).await;
    let apps = [&first, &second];
    let initial = key_table(&first).await;
    assert_eq!(initial.len(), 1, "the second instance reused the first one's key: {initial:?}");
    let old = initial[0].kid.clone();
    assert_eq!(initial[0].state, "active");
    assert_eq!(initial[0].activated_at, Some(initial[0].created_at), "the very first key is active at once");
    assert_both_publish(&apps, &[&old]).await;

    // A watcher counts active keys in the database, and a minter has each instance issue
    // tokens that are verified against the other instance's JWKS, for the whole rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let active_counts = Arc::new(Mutex::new(Vec::<i64>::new()));
    let watcher = {
        let (pool, stop, counts) = (first.pool().clone(), Arc::clone(&stop), Arc::clone(&active_counts));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE state = 'active'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                counts.lock().unwrap().push(count);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let minted = Arc::new(Mutex::new(Vec::<(i64, String)>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let minter = {
        let (stop, minted, failures) = (Arc::clone(&stop), Arc::clone(&minted), Arc::clone(&failures));
        let (a_url, b_url) = (first.address.clone(), second.address.clone());
        let client = first.client.clone();
        tokio::spawn(async move {
            let mut turn = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (issuer_url, other_url) = if turn.is_multiple_of(2) { (&a_url, &b_url) } else { (&b_url, &a_url) };
                turn += 1;
                let response = client
                    .post(format!("{issuer_url}/oauth/token"))
                    .basic_auth(ORDERS_CLIENT.0, Some(ORDERS_CLIENT.1))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                let body: Value = response.json().await.unwrap();
                let token = body["access_token"].as_str().unwrap().to_owned();
                let at = service_kit::db::now_millis();
                if let Err(error) = verify_with_jwks_at(&client, other_url, &token).await {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("token from {issuer_url} refused by {other_url}'s JWKS: {error}"));
                }
                minted.lock().unwrap().push((at, decode_jwt(&token).0["kid"].as_str().unwrap().to_owned()));
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    // Act 1: the successor is published (pending) one pre-publication time before the
    // interval ends, on both instances, without signing.
    wait_until(Duration::from_secs(10), "a pending key appears", || async {
        key_table(&first).await.iter().any(|k| k.state == "pending")
    })
    .await;
    let new = key_table(&first).await.last().expect("the successor").kid.clone();
    assert_ne!(new, old);
    assert_both_publish(&apps, &[&old, &new]).await;

    // Act 2: it activates; the old key is retired but still published.
    wait_until(Duration::from_secs(5), "the successor activates", || async {
        key_table(&first).await.iter().any(|k| k.kid == new && k.state == "active")
    })
    .await;
    assert_both_publish(&apps, &[&old, &new]).await;
    let table = key_table(&first).await;
    let (old_row, new_row) =
        (table.iter().find(|k| k.kid == old).unwrap(), table.iter().find(|k| k.kid == new).unwrap());
    assert_eq!(old_row.state, "retired");
    let published_for = new_row.activated_at.unwrap() - new_row.created_at;
    assert!(published_for >= PREPUBLISH_MS, "signed after only {published_for} ms");
    assert!(old_row.retired_at.unwrap() <= new_row.activated_at.unwrap(), "retired in the same transaction");
    wait_until(Duration::from_secs(2), "both instances sign with the new key", || async {
        first.state.keys.signer().unwrap().kid() == new && second.state.keys.signer().unwrap().kid() == new
    })
    .await;

    // Act 3: once every token the old key signed has expired, it is removed everywhere.
    wait_until(Duration::from_secs(6), "the retired key is removed", || async {
        key_table(&first).await.iter().any(|k| k.kid == old && k.state == "removed")
    })
    .await;
    assert_both_publish(&apps, &[&new]).await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    minter.await.unwrap();

    // Assert
    let table = key_table(&first).await;
    let old_row = table.iter().find(|k| k.kid == old).unwrap();
    let held_for = old_row.removed_at.unwrap() - old_row.retired_at.unwrap();
    assert!(held_for >= RETIRE_HOLD_MS, "removed after only {held_for} ms (token lifetime {ACCESS_TTL_MS} ms)");
    assert!(!old_row.has_private, "the removed key's private half is destroyed");
    assert!(table.iter().find(|k| k.kid == new).unwrap().has_private);

    let counts = active_counts.lock().unwrap().clone();
    assert!(counts.len() > 50, "the watcher ran ({} samples)", counts.len());
    assert!(counts.iter().all(|c| *c == 1), "exactly one active key at every sample: {counts:?}");

    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{failures:#?}");
    let minted = minted.lock().unwrap().clone();
    let activated_new = table.iter().find(|k| k.kid == new).unwrap().activated_at.unwrap();
    assert!(minted.iter().any(|(_, kid)| *kid == old) && minted.iter().any(|(_, kid)| *kid == new), "both keys signed");
    for (at, kid) in &minted {
        assert!(kid == &old || kid == &new, "unknown signer {kid}");
        if kid == &new {
            assert!(*at >= activated_new, "the new key signed at {at}, before its activation at {activated_new}");
        }
    }
}

#[tokio::test]
async fn the_database_refuses_a_second_active_key() {
    let db = fresh_db().await;
    let app = spawn_app_on(db, &[]).await;

    let inserted = sqlx::query(
        "INSERT INTO signing_keys (kid, state, n, e, bits, private_key, created_at, activate_after, activated_at) \
         VALUES ('intruder', 'active', 'n', 'e', 2048, NULL, 1, 1, 1)",
    )
    .execute(app.pool())
    .await;

    let error = inserted.expect_err("a second active key must be refused");
    assert!(service_kit::db::is_unique_violation(&error), "{error}");
}
