//! Throttles that must hold under concurrency: login attempts reserved before the password
//! is checked (per account, with progressive delays, and per client address), registrations
//! per address, and password hashing bounded by a memory budget (503 with `Retry-After` past
//! its queue, never 500).

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::json;

use auth_service::db::{self, Reservation};

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app_with};

/// How many of `statuses` are `status`.
fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The `Retry-After` of a response, in seconds.
fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

/// `POST /v1/users` as the client at `client` (behind a trusted proxy).
async fn register_from(app: &TestApp, client: &str, email: &str) -> Response {
    app.client
        .post(app.url("/v1/users"))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// The count stored for a throttle bucket (0 when it has no row).
async fn bucket_count(app: &TestApp, bucket: &str) -> i64 {
    let row: Option<(i64,)> = sqlx::query_as("SELECT failures FROM login_throttle WHERE bucket = $1")
        .bind(bucket)
        .fetch_optional(app.pool())
        .await
        .unwrap();
    row.map_or(0, |(failures,)| failures)
}

async fn sum_of_account_buckets(app: &TestApp) -> i64 {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT failures FROM login_throttle WHERE bucket LIKE 'account:%'")
        .fetch_all(app.pool())
        .await
        .unwrap();
    rows.iter().map(|(failures,)| failures).sum()
}

#[tokio::test]
async fn thirty_concurrent_wrong_passwords_for_one_account_are_checked_at_most_the_limit() {
    // Arrange: only the account limit in reach; hashes slow enough that the requests overlap.
    let app = spawn_app_with(&[
        ("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "5"),
        ("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
        ("AUTH_ARGON2_ITERATIONS", "8"),
    ])
    .await;
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);

    // Act
    let guesses = (0..30).map(|i| {
        let app = &app;
        async move { app.login("ann@example.com", &format!("wrong password {i}")).await.status() }
    });
    let statuses = join_all(guesses).await;

    // Assert
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 5, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 25, "{statuses:?}");
    // Even the right password waits now, but for the first delay, not a whole window.
    let right = app.login("ann@example.com", PASSWORD).await;
    assert!((1..=60).contains(&retry_after(&right)), "{}", retry_after(&right));
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn concurrent_wrong_passwords_across_accounts_from_one_address_are_checked_at_most_its_limit() {
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "4"), ("AUTH_ARGON2_ITERATIONS", "8")]).await;

    let guesses = (0..20).map(|i| {
        let app = &app;
        async move { app.login(&format!("user{i}@example.com"), "wrong password").await.status() }
    });
    let statuses = join_all(guesses).await;

    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 4, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 16, "{statuses:?}");
}

#[tokio::test]
async fn past_its_free_attempts_an_account_waits_a_doubling_capped_delay_not_a_lock_out() {
    // Arrange: two free attempts, then 1 s, then 2 s (the cap).
    let app = spawn_app_with(&[
        ("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ("AUTH_LOGIN_ACCOUNT_DELAY", "1s"),
        ("AUTH_LOGIN_ACCOUNT_MAX_DELAY", "2s"),
    ])
    .await;
    app.register("ann@example.com", PASSWORD).await;
    let wrong = || app.login("ann@example.com", "wrong password");
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    let last_counted = Instant::now();

    // Act and assert: refused while the delay runs; asking early does not push it back.
    let refused = wrong().await;
    assert_eq!(retry_after(&refused), 1);
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let polled = wrong().await;
    assert_eq!((polled.status(), retry_after(&polled)), (StatusCode::TOO_MANY_REQUESTS, 1));

    // After the delay one attempt is checked, and the next delay has doubled…
    tokio::time::sleep_until((last_counted + Duration::from_millis(1_100)).into()).await;
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    let doubled = wrong().await;
    assert_eq!((doubled.status(), retry_after(&doubled)), (StatusCode::TOO_MANY_REQUESTS, 2));

    // …up to its cap.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    let capped = wrong().await;
    assert_eq!((capped.status(), retry_after(&capped)), (StatusCode::TOO_MANY_REQUESTS, 2));

    // The owner gets in after at most the cap, and that ends the streak.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_successful_login_gives_its_address_attempt_back() {
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "3")]).await;
    app.register("ann@example.com", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }
    assert_eq!(bucket_count(&app, "address:127.0.0.1").await, 0);

    for i in 0..3 {
        assert_eq!(
            app.login(&format!("user{i}@example.com"), "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app.login("ann@example.com", PASSWORD).await;

    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn concurrent_registrations_from_one_address_beyond_the_limit_get_429() {
    // Arrange
    let app = spawn_app_with(&[("AUTH_REGISTER_MAX_PER_ADDRESS", "3"), ("AUTH_TRUST_FORWARDED_FOR", "true")]).await;

    // Act
    let attempts = (0..12).map(|i| {
        let app = &app;
        async move { register_from(app, "10.0.0.1", &format!("user{i}@example.com")).await }
    });
    let responses = join_all(attempts).await;

    // Assert
    let statuses: Vec<StatusCode> = responses.iter().map(Response::status).collect();
    assert_eq!(count(&statuses, StatusCode::CREATED), 3, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 9, "{statuses:?}");
    let refused = responses.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).unwrap();
    assert!((1..=900).contains(&retry_after(&refused)));
    let body = assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert!(body["error_description"].as_str().unwrap().contains("registrations"), "{body}");
    // Other clients are not affected.
    assert_eq!(register_from(&app, "10.0.0.2", "other@example.com").await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_refusal_racing_the_request_that_opened_the_window_never_asks_for_more_than_the_window() {
    // Concurrent requests read the clock in any order: the window may have been opened by a
    // request whose clock reading is a few milliseconds after this one's.
    let app = spawn_app_with(&[]).await;
    // The present, not a made-up instant: housekeeping purges windows that are over.
    let (bucket, window_ms, now) = ("register:test", 900_000, service_kit::db::now_millis());
    let opened = db::reserve_attempt(app.pool(), bucket, 1, now + 7, window_ms).await.unwrap();
    assert!(matches!(opened, Reservation::Granted { .. }), "{opened:?}");

    let refused = db::reserve_attempt(app.pool(), bucket, 1, now, window_ms).await.unwrap();

    assert_eq!(refused, Reservation::Refused { retry_after_secs: 900 });
}

#[tokio::test]
async fn a_registration_of_a_taken_email_counts_too() {
    // It cost a hash, and its 409 tells the caller the email exists.
    let app = spawn_app_with(&[("AUTH_REGISTER_MAX_PER_ADDRESS", "2")]).await;
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CONFLICT);

    let response = app.register("bob@example.com", PASSWORD).await;

    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn a_burst_past_the_hash_queue_gets_503_with_retry_after_never_500_and_counts_nothing() {
    // Arrange: a budget of one hash at a time (1 MiB for 1 MiB hashes), one place in the
    // queue, hashes slow enough to overlap, every throttle out of reach.
    let app = spawn_app_with(&[
        ("AUTH_ARGON2_MEMORY_KIB", "1024"),
        ("AUTH_ARGON2_ITERATIONS", "64"),
        ("AUTH_ARGON2_MEMORY_BUDGET_MIB", "1"),
        ("AUTH_ARGON2_MAX_QUEUE", "1"),
        ("AUTH_REGISTER_MAX_PER_ADDRESS", "1000"),
        ("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
    ])
    .await;

    // Act
    let registrations = join_all((0..16).map(|i| {
        let app = &app;
        async move { app.register(&format!("user{i}@example.com"), PASSWORD).await }
    }))
    .await;
    let logins = join_all((0..16).map(|i| {
        let app = &app;
        async move { app.login(&format!("nobody{i}@example.com"), "wrong password").await }
    }))
    .await;

    // Assert
    let mut evaluated = Vec::new();
    for (responses, checked) in [(registrations, StatusCode::CREATED), (logins, StatusCode::UNAUTHORIZED)] {
        let statuses: Vec<StatusCode> = responses.iter().map(Response::status).collect();
        let busy = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
        assert!(count(&statuses, checked) >= 1 && busy >= 1, "{statuses:?}");
        assert_eq!(count(&statuses, checked) + busy, 16, "only {checked} or 503: {statuses:?}");
        evaluated.push(i64::try_from(count(&statuses, checked)).unwrap());
        for response in responses.into_iter().filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE) {
            assert_eq!(retry_after(&response), 1);
            assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable").await;
        }
    }
    // A request turned away was never evaluated, so it gave its reservations back.
    assert_eq!(bucket_count(&app, "register:127.0.0.1").await, evaluated[0]);
    assert_eq!(bucket_count(&app, "address:127.0.0.1").await, evaluated[1]);
    assert_eq!(sum_of_account_buckets(&app).await, evaluated[1]);
}
