//! The outbox claim statement under concurrency, on the configured database: dispatchers that
//! claim at the same time never get the same record, and an expired lease makes a record
//! claimable again.

use std::collections::HashSet;

use orders_service::{
    db::{self, NewOutboxRecord, PlaceOutcome},
    domain::{Order, OrderId, OrderItems, OrderStatus},
    outbox::store,
};
use service_kit::{db::now_millis, http::context::RequestContext};

use crate::helpers::TestDatabase;

async fn pool_with_records(database: &TestDatabase, records: usize) -> service_kit::db::Pool {
    let pool = service_kit::db::connect(&database.url, 10).await.unwrap();
    sqlx::migrate!().run(&pool).await.unwrap();
    let context = RequestContext::new_root();
    for _ in 0..records {
        let order = Order {
            id: OrderId::generate(),
            owner: "alice".to_owned(),
            items: OrderItems::parse([("A-1", 1)]).unwrap(),
            status: OrderStatus::Placed,
            created_at: now_millis(),
        };
        let outbox = NewOutboxRecord { id: uuid::Uuid::now_v7(), payload: "{}".to_owned(), context: &context };
        assert_eq!(db::insert_order(&pool, &order, &outbox, None).await.unwrap(), PlaceOutcome::Placed);
    }
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_claim_the_same_record() {
    let database = TestDatabase::create("claims").await;
    let pool = pool_with_records(&database, 120).await;

    // Six dispatchers claim small batches as fast as they can until nothing is left.
    let claimers = (0..6).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let now = now_millis();
                let claim = uuid::Uuid::new_v4().to_string();
                let batch = store::claim_outbox(&pool, &claim, now, now + 60_000, 7).await.unwrap();
                if batch.is_empty() {
                    return claimed;
                }
                claimed.extend(batch.into_iter().map(|record| record.id));
            }
        })
    });
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }

    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a record was claimed twice");
    assert_eq!(all.len(), 120, "every record was claimed");
}

#[tokio::test]
async fn a_record_is_claimable_again_only_after_its_lease_expires() {
    let database = TestDatabase::create("claims").await;
    let pool = pool_with_records(&database, 1).await;
    let now = now_millis();

    let first = store::claim_outbox(&pool, "claim-a", now, now + 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert!(
        store::claim_outbox(&pool, "claim-b", now + 999, now + 2_000, 10).await.unwrap().is_empty(),
        "lease still held"
    );

    let second = store::claim_outbox(&pool, "claim-b", now + 1_000, now + 2_000, 10).await.unwrap();
    assert_eq!(second.len(), 1, "the lease ran out");
    assert_eq!(second[0].attempts, 2);

    // The stale claimer can no longer reschedule the record; delivery by anyone completes it.
    store::schedule_retry(&pool, &first[0].id, "claim-a", now + 5_000, "late").await.unwrap();
    assert_eq!(store::claim_outbox(&pool, "claim-c", now + 2_000, now + 3_000, 10).await.unwrap().len(), 1);
    store::mark_delivered(&pool, &first[0].id, now + 2_500).await.unwrap();
    assert!(store::claim_outbox(&pool, "claim-d", now + 10_000, now + 11_000, 10).await.unwrap().is_empty());
    assert_eq!(store::outbox_backlog(&pool).await.unwrap(), 0);
}
