-- Notifications, portable across SQLite and PostgreSQL: ids are UUID text, timestamps are Unix
-- milliseconds, `data` is a JSON object stored as text.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    -- client_id of the sending service: event ids are unique per sender, not globally.
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    data        TEXT NOT NULL,
    -- Digest of the content, to tell a retried event from a reused event id.
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT
);

-- Delivery is idempotent because of this constraint: a second insert of the same event does
-- nothing and the stored row is returned instead.
CREATE UNIQUE INDEX notifications_source_event ON notifications (source, event_id);

-- A recipient's list, newest first, with keyset pagination on (created_at, id).
CREATE INDEX notifications_recipient_created ON notifications (recipient, created_at, id);
