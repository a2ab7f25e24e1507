//! Cursors never skip under concurrent writers: two replicas on one database (PostgreSQL
//! when `TEST_DATABASE_URL` is set) commit events at once while a reader follows the feed,
//! alternating replicas. The reader must end with every event, once.
//!
//! Two kinds of writer run together: real logouts over HTTP on both replicas, and
//! transactions (from two more pools) that record an event and then sleep a random while
//! before committing. The second kind is what would
//! expose numbering that is not commit order (an autoincrement, say): a later number
//! committed first would move the reader's cursor past an earlier one still in flight.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use auth_service::events::{NewEvent, Revoked, record};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::db::{Pool, now_millis};

use crate::helpers::{TestApp, Tokens, fresh_db, spawn_app_on};

const USERS: usize = 6;
const SESSIONS_PER_USER: usize = 8;
const SLOW_WRITERS: usize = 40;

/// Records one token event, holding the counter lock for up to 25 ms before committing.
async fn slow_writer(pool: &Pool) {
    let mut tx = pool.begin().await.unwrap();
    let event = NewEvent {
        revoked: Revoked::Token { jti: uuid::Uuid::new_v4().to_string() },
        occurred_at: now_millis(),
        relevant_until: now_millis() + 600_000,
        txn: uuid::Uuid::new_v4().to_string(),
    };
    record(&mut tx, &event).await.unwrap();
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..25))).await;
    tx.commit().await.unwrap();
}

/// What the reader saw.
#[derive(Debug, Default)]
struct Followed {
    jtis: HashSet<String>,
    answers: usize,
    cursors: Vec<i64>,
}

/// Follows the feed from cursor 0, alternating replicas and long-polling up to `wait`
/// seconds, until it holds `expected` SETs.
async fn follow(apps: [&TestApp; 2], expected: usize, wait: u64) -> Followed {
    let mut seen = Followed::default();
    let mut cursor = "0".to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.jtis.len() < expected {
        assert!(Instant::now() < deadline, "the reader has {} of {expected} SETs", seen.jtis.len());
        let app = apps[seen.answers % 2];
        let answer: Value = app.feed(Some(&cursor), wait).await;
        seen.answers += 1;
        assert_eq!(answer["reset"], false, "no reset: the cursor was always valid");
        for jti in answer["sets"].as_object().unwrap().keys() {
            assert!(seen.jtis.insert(jti.clone()), "SET {jti} delivered twice");
        }
        cursor = answer["cursor"].as_str().unwrap().to_owned();
        let number: i64 = cursor.parse().unwrap();
        assert!(seen.cursors.last().is_none_or(|last| *last <= number), "the cursor went back");
        seen.cursors.push(number);
    }
    seen
}

#[tokio::test]
async fn cursors_never_skip_under_concurrent_writers_on_two_replicas() {
    // Arrange
    let db = fresh_db().await;
    // Eight logins at once per account, 48 from one address: attempts are reserved while
    // the password is checked, so the throttle would take most of them for a burst.
    let overrides = [
        ("AUTH_EVENTS_POLL_INTERVAL", "20ms"),
        ("AUTH_DB_MAX_CONNECTIONS", "8"),
        ("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "100"),
        ("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
    ];
    let a = spawn_app_on(db.clone(), &overrides).await;
    let b = spawn_app_on(db, &overrides).await;
    let apps = [&a, &b];
    let logins = (0..USERS * SESSIONS_PER_USER)
        .map(|i| async move { apps[i % 2].login_new_user(&format!("user{}@example.com", i % USERS)).await });
    let sessions: Vec<Tokens> = futures::future::join_all(logins).await;
    let expected = sessions.len() + SLOW_WRITERS;
    // Their own pools, as other processes would have: writers queued on the counter lock
    // then do not hold every connection the replicas' watchers need.
    let writer_pools =
        [service_kit::db::connect(&a.db.url, 8).await.unwrap(), service_kit::db::connect(&a.db.url, 8).await.unwrap()];

    // Act
    let started = Instant::now();
    let logouts = sessions.iter().enumerate().map(|(i, tokens)| async move {
        let response = apps[i % 2].logout(&tokens.access_token).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    });
    let slow = (0..SLOW_WRITERS).map(|i| slow_writer(&writer_pools[i % 2]));
    // One reader long-polls; the other asks as fast as it can, to see many more cursors.
    let (followed, eager, (), ()) = tokio::join!(
        follow(apps, expected, 1),
        follow([&b, &a], expected, 0),
        async {
            futures::future::join_all(logouts).await;
        },
        async {
            futures::future::join_all(slow).await;
        },
    );
    let took = started.elapsed();

    // Assert
    let events = a.events().await;
    let numbers: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(numbers, (1..=i64::try_from(expected).unwrap()).collect::<Vec<_>>(), "numbers are dense");
    let stored: HashSet<String> = events.iter().map(|e| e.set_jti.clone()).collect();
    assert_eq!(followed.jtis, stored, "the long-polling reader holds every event, once");
    assert_eq!(eager.jtis, stored, "the eager reader holds every event, once");
    println!(
        "cursor test: {expected} events from two replicas in {took:?}; readers needed {} and {} answers ({} distinct cursors)",
        followed.answers,
        eager.answers,
        eager.cursors.iter().collect::<HashSet<_>>().len()
    );
}
