-- The revocation feed's event log (see src/events.rs). Portable between SQLite and
-- PostgreSQL: BIGINT integers, Unix-millisecond timestamps, TEXT for everything else.
--
-- sessions.end_reason (20250101000001_initial.sql) gains two values with this feature:
-- logout_everywhere and admin.

-- One row per security event, numbered by the counter below in commit order.
CREATE TABLE security_events (
    -- Taken from security_event_counter inside the writing transaction: dense, and in
    -- commit order, so a reader's "highest seq seen" is a cursor that never skips.
    seq               BIGINT PRIMARY KEY,
    -- The SET's `jti` (UUID v4 text).
    set_jti           TEXT NOT NULL,
    -- session_revoked | token_revoked
    kind              TEXT NOT NULL,
    -- `sub` and `sid` of the ended session's tokens (session_revoked).
    user_id           TEXT,
    session_id        TEXT,
    -- `jti` of the revoked access token (token_revoked).
    token_jti         TEXT,
    -- Unix ms of the state change.
    occurred_at       BIGINT NOT NULL,
    -- Unix ms after which no access token the event refuses can still verify: the feed
    -- stops serving it and housekeeping deletes it.
    relevant_until    BIGINT NOT NULL,
    -- The SET's reason_admin text (session_revoked).
    reason            TEXT,
    -- user | admin | policy
    initiating_entity TEXT NOT NULL,
    -- Shared by every event of one state change (log out everywhere ends many sessions).
    txn               TEXT NOT NULL,
    CHECK (kind IN ('session_revoked', 'token_revoked')),
    CHECK (initiating_entity IN ('user', 'admin', 'policy'))
);
CREATE UNIQUE INDEX security_events_set_jti ON security_events (set_jti);
-- One event per revoked access token; NULLs (session events) do not collide on either
-- database. Also what auth-service's own endpoints look revoked tokens up by.
CREATE UNIQUE INDEX security_events_token_jti ON security_events (token_jti);
CREATE INDEX security_events_relevant_until ON security_events (relevant_until);

-- The one-row counter. Every writer increments last_seq in its own transaction, so the row
-- lock orders writers by commit; pruned_through is the highest seq housekeeping deleted,
-- below which a cursor is answered with the whole state (`reset: true`).
CREATE TABLE security_event_counter (
    id             BIGINT PRIMARY KEY,
    last_seq       BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL,
    CHECK (id = 1)
);
INSERT INTO security_event_counter (id, last_seq, pruned_through) VALUES (1, 0, 0);
