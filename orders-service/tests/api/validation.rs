//! Request validation: every bad body gets 4xx with a JSON body naming the field, and nothing
//! is stored.

use serde_json::{Value, json};

use crate::helpers::{detail_fields, error_body, order_body, spawn_app};

async fn assert_rejected(app: &crate::helpers::TestApp, body: &Value, status: u16, fields: &[&str]) {
    let response = app.post_order(Some(&app.token("alice")), body).await;
    assert_eq!(response.status(), status, "{body}");
    let error = error_body(response).await;
    assert_eq!(error["error"], "invalid_request", "{error}");
    assert_eq!(detail_fields(&error), fields, "{body} -> {error}");
}

#[tokio::test]
async fn out_of_range_quantities_get_422_naming_the_item() {
    let app = spawn_app().await;
    for quantity in [0, -1, 1001, 1_000_000_000_000] {
        assert_rejected(&app, &order_body(&[("A-1", 1), ("B-2", quantity)]), 422, &["items[1].quantity"]).await;
    }
    // Too large for any integer type: a type error, still naming the field.
    let huge = json!({"items": [{"sku": "A-1", "quantity": 1e30}]});
    assert_rejected(&app, &huge, 422, &["items[0].quantity"]).await;
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn integral_numbers_are_quantities_however_written_and_fractions_are_not() {
    // JSON Schema's `integer`, the document's type, includes 467.0 and 4e2 (found by schemathesis).
    let app = spawn_app().await;
    for quantity in [json!(467.0), json!(4e2)] {
        let body = json!({"items": [{"sku": "A-1", "quantity": quantity}]});
        let response = app.post_order(Some(&app.token("alice")), &body).await;
        assert_eq!(response.status(), 201, "{body}");
    }
    for quantity in [json!(2.5), json!("2")] {
        assert_rejected(&app, &json!({"items": [{"sku": "A-1", "quantity": quantity}]}), 422, &["items[0].quantity"])
            .await;
    }
    assert_eq!(app.count("orders").await, 2);
}

#[tokio::test]
async fn item_counts_outside_1_to_50_get_422() {
    let app = spawn_app().await;
    assert_rejected(&app, &json!({"items": []}), 422, &["items"]).await;
    let skus: Vec<String> = (0..51).map(|i| format!("SKU-{i}")).collect();
    let too_many: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 1)).collect();
    assert_rejected(&app, &order_body(&too_many), 422, &["items"]).await;
    let fifty = app.post_order(Some(&app.token("alice")), &order_body(&too_many[..50])).await;
    assert_eq!(fifty.status(), 201);
    assert_eq!(app.count("orders").await, 1);
}

#[tokio::test]
async fn bad_skus_get_422_naming_the_item() {
    let app = spawn_app().await;
    let too_long = "A".repeat(33);
    for sku in ["", "abc-1", "AB C", "-AB", "AB_C", too_long.as_str()] {
        assert_rejected(&app, &order_body(&[(sku, 1)]), 422, &["items[0].sku"]).await;
    }
    assert_rejected(&app, &order_body(&[("A-1", 1), ("A-1", 2)]), 422, &["items[1].sku"]).await;
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn every_invalid_item_is_reported_at_once() {
    let app = spawn_app().await;
    let body = order_body(&[("ok-not", 1), ("B", 0), ("C", 5)]);
    assert_rejected(&app, &body, 422, &["items[0].sku", "items[1].quantity"]).await;
}

#[tokio::test]
async fn wrong_json_types_get_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"items": [{"sku": "A", "quantity": "two"}]}), "items[0].quantity"),
        (json!({"items": [{"sku": 7, "quantity": 1}]}), "items[0].sku"),
        (json!({"items": [{"sku": "A", "quantity": 1.5}]}), "items[0].quantity"),
        (json!({"items": "A"}), "items"),
        (json!({"items": [{"sku": "A"}]}), "items[0]"),
        (json!([]), "body"),
    ];
    for (body, field) in cases {
        assert_rejected(&app, &body, 422, &[field]).await;
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let app = spawn_app().await;
    for (body, unknown) in [
        (json!({"items": [{"sku": "A", "quantity": 1}], "coupon": "FREE"}), "coupon"),
        (json!({"items": [{"sku": "A", "quantity": 1, "price": 0}]}), "price"),
    ] {
        let response = app.post_order(Some(&app.token("alice")), &body).await;
        assert_eq!(response.status(), 422);
        let error = error_body(response).await;
        assert!(error["error_description"].as_str().unwrap().contains(unknown), "{error}");
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused() {
    let app = spawn_app().await;
    let url = format!("{}/v1/orders", app.address);
    let token = app.token("alice");
    let malformed = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"items\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    error_body(malformed).await;

    let text = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("A x1")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    error_body(text).await;
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let app = spawn_app().await;
    let body = order_body(&[(&"A".repeat(70 * 1024), 1)]);
    let response = app.post_order(Some(&app.token("alice")), &body).await;
    assert_eq!(response.status(), 413);
    error_body(response).await;
    assert_eq!(app.count("orders").await, 0);
}
