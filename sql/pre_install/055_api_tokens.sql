-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- Bearer tokens for adworker's HTTP API and console (sql/057_api_identity.sql). The owner issues and revokes them in
-- SQL; only a SHA-256 of each token is kept. A request runs as the token's database role (SET ROLE inside its
-- transaction), so the privileges, state machines and audit of psql apply unchanged to every HTTP door.
CREATE TABLE ad.api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,59}$'),
    db_role      name NOT NULL,
    user_id      uuid REFERENCES ad.users (id),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   name NOT NULL DEFAULT session_user,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   name,
    last_used_at timestamptz
);
COMMENT ON TABLE ad.api_tokens IS
    'Bearer tokens of the HTTP API and console: each maps to a database role (every request runs as it) and, '
    'for attribution, to a person. Only a SHA-256 of the token is stored. Owner only: ad.issue_api_token, '
    'ad.revoke_api_token.';
COMMENT ON COLUMN ad.api_tokens.id IS 'Token id (what ad.current_person() resolves; never a secret).';
COMMENT ON COLUMN ad.api_tokens.name IS 'A name for the token, unique: letters, digits, _ . @ -, at most 60.';
COMMENT ON COLUMN ad.api_tokens.db_role IS 'The database role each request runs as (SET ROLE).';
COMMENT ON COLUMN ad.api_tokens.user_id IS 'The person actions are attributed to in ad.audit_log; NULL for a service.';
COMMENT ON COLUMN ad.api_tokens.token_hash IS 'SHA-256 of the token; the token itself is shown once, when issued.';
COMMENT ON COLUMN ad.api_tokens.created_at IS 'When it was issued.';
COMMENT ON COLUMN ad.api_tokens.created_by IS 'The login that issued it.';
COMMENT ON COLUMN ad.api_tokens.expires_at IS 'When it stops working; NULL for never.';
COMMENT ON COLUMN ad.api_tokens.revoked_at IS 'When it was revoked; NULL while valid.';
COMMENT ON COLUMN ad.api_tokens.revoked_by IS 'The login that revoked it.';
COMMENT ON COLUMN ad.api_tokens.last_used_at IS 'When a request last presented it (to the minute).';
REVOKE ALL ON ad.api_tokens FROM PUBLIC;
