-- auth-service schema. Portable between SQLite and PostgreSQL (see shared::db): BIGINT
-- integers and Unix-millisecond timestamps, TEXT for everything else, no BOOLEAN columns.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
-- Emails are stored normalised (trimmed, lower case), so this index makes them unique
-- regardless of how a user typed them.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    -- Absolute end of the session, whatever the refresh activity.
    expires_at    BIGINT NOT NULL,
    user_agent    TEXT,
    ended_at      BIGINT,
    -- logout, deleted, revoked, refresh_token_reuse
    end_reason    TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Only hashes of refresh tokens are stored. A used token keeps its row (used_at set) so that
-- presenting it again is recognised as reuse and kills the session.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- Failed-login counters shared by every replica: one row per bucket (`account:<hash>` or
-- `address:<ip>`), a fixed window that starts at the first failure.
CREATE TABLE login_throttle (
    bucket            TEXT PRIMARY KEY,
    failures          BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL
);

-- Signing keys and their lifecycle: pending -> active -> retired -> removed.
CREATE TABLE signing_keys (
    kid              TEXT PRIMARY KEY,
    state            TEXT NOT NULL,
    -- Public JWK members (base64url), published while pending, active or retired.
    n                TEXT NOT NULL,
    e                TEXT NOT NULL,
    bits             BIGINT NOT NULL,
    -- AES-256-GCM ciphertext of the PKCS#8 private key under the master key; NULL once
    -- removed (the private half is destroyed).
    private_key      TEXT,
    created_at       BIGINT NOT NULL,
    -- A pending key may sign from this instant on (created_at + pre-publication time).
    activate_after   BIGINT NOT NULL,
    activated_at     BIGINT,
    retired_at       BIGINT,
    -- A retired key is unpublished from this instant on (retired_at + longest token lifetime
    -- + leeway).
    remove_after     BIGINT,
    removed_at       BIGINT,
    CHECK (state IN ('pending', 'active', 'retired', 'removed'))
);
-- Exactly one key signs: the database, not the replicas, enforces it. Transitions run in
-- transactions that retire the old key before activating the new one.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
-- At most one successor waits at a time, so two replicas cannot both schedule a rotation.
CREATE UNIQUE INDEX signing_keys_one_pending ON signing_keys (state) WHERE state = 'pending';
