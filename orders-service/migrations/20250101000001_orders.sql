-- Orders, their items, idempotency keys and the notification outbox. Portable across SQLite
-- and PostgreSQL: ids are UUID text, timestamps Unix milliseconds (BIGINT), no BOOLEAN.

CREATE TABLE orders (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A user's orders newest first, and everyone's for admins; keyset pagination on (created_at, id).
CREATE INDEX orders_owner_created ON orders (owner, created_at, id);
CREATE INDEX orders_created ON orders (created_at, id);

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_no  BIGINT NOT NULL,
    sku      TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- One row per (owner, Idempotency-Key), written in the order's transaction: a retry on any
-- replica finds it and gets the first order back; two concurrent first attempts collide on the
-- primary key and only one order is stored.
CREATE TABLE idempotency_keys (
    owner       TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    -- SHA-256 of the parsed request, so a key reused with another body is refused.
    fingerprint TEXT NOT NULL,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (owner, idem_key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Transactional outbox: written with the order, delivered later by the dispatcher of any replica.
CREATE TABLE outbox (
    -- Also the event id notifications-service deduplicates on.
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    -- The exact JSON body to deliver.
    payload         TEXT NOT NULL,
    -- Ids of the request that placed the order, sent with the delivery so one request id
    -- and one trace cover both services.
    request_id      TEXT NOT NULL,
    traceparent     TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- Lease: a dispatcher owns the row until claimed_until; after that any replica may claim it.
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    -- Set when notifications-service refused the payload for good (4xx that no retry can fix).
    failed_at       BIGINT
);

-- Only undelivered rows are ever scanned by the dispatcher.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
