-- A session opened with a DPoP proof (RFC 9449) keeps the thumbprint of the client's key:
-- each of its refresh tokens is spent only together with a proof by that key, so a refresh
-- token copied without the key is useless.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
