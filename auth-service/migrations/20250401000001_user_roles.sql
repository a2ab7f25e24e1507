-- Administrators are provisioned by the operator (`auth-service create-admin`), never
-- derived from an email address a registrant chose. Every existing account is a user.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
