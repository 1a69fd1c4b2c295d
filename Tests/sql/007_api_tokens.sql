-- HTTP API tokens (sql/057_api_identity.sql): only the owner issues and revokes; only a hash is kept; the API's login
-- (a member of ad_api) authenticates and becomes the token's role, with no privileges of its own; attribution follows
-- the token's person, and a psql user cannot claim a token by setting ad.api_token. Needs ad.create_roles().
BEGIN;
SELECT * FROM no_plan();
SET LOCAL client_min_messages = warning;

SELECT is((SELECT rolinherit FROM pg_roles WHERE rolname = 'ad_api'), false, 'ad_api is NOINHERIT');
SELECT ok(pg_has_role('ad_api', 'ad_operator', 'MEMBER') AND pg_has_role('ad_api', 'ad_ingest', 'MEMBER')
          AND pg_has_role('ad_api', 'ad_reader', 'MEMBER') AND pg_has_role('ad_api', 'ad_scientist', 'MEMBER'),
          'ad_api may become the four roles tokens act as');
SELECT ok(NOT pg_has_role('ad_api', 'ad_worker', 'MEMBER'), 'ad_api may not become the worker');
SELECT ok(NOT has_table_privilege('ad_api', 'ad.alerts', 'SELECT') AND NOT has_table_privilege('ad_api', 'ad.api_tokens', 'SELECT'),
          'ad_api reads nothing itself');

CREATE ROLE tap_api_login LOGIN IN ROLE ad_api;
INSERT INTO ad.users (name, email) VALUES ('Tap Person', 'tap@example.com');
SELECT ad.issue_api_token('tap-op', 'ad_operator', 'tap@example.com') AS token \gset
SELECT ad.issue_api_token('tap-old', 'ad_reader', NULL, interval '1 second') AS old_token \gset
UPDATE ad.api_tokens SET expires_at = now() - interval '1 minute' WHERE name = 'tap-old';

SELECT matches(:'token'::text, '^adt_[0-9a-f]{64}$', 'a token is adt_ and 64 hex digits');
SELECT is((SELECT token_hash FROM ad.api_tokens WHERE name = 'tap-op'), sha256(convert_to(:'token', 'UTF8')),
          'only its SHA-256 is kept');
SELECT throws_ok($$SELECT ad.issue_api_token('tap-op', 'ad_reader')$$, '23505', NULL, 'names are unique');
SELECT throws_ok($$SELECT ad.issue_api_token('tap-w', 'ad_worker')$$, '42501', NULL, 'no token acts as the worker');
SELECT throws_ok($$SELECT ad.issue_api_token('tap-su', 'postgres')$$, '42501', NULL, 'no token acts as a superuser');
SELECT throws_ok($$SELECT ad.issue_api_token('bad name', 'ad_reader')$$, '22023', NULL, 'a bad name is refused');
SELECT throws_ok($$SELECT ad.issue_api_token('tap-nobody', 'ad_reader', 'nobody@example.com')$$, 'P0002', NULL,
                 'an unknown person is refused');
SELECT is((SELECT count(*) FROM ad.audit_log WHERE action = 'api_token_issued' AND entity_id = 'tap-op'), 1::bigint,
          'issuing is audited');

-- Only the owner issues, revokes or reads tokens.
SET LOCAL ROLE ad_operator;
SELECT throws_ok($$SELECT ad.issue_api_token('tap-x', 'ad_reader')$$, '42501', NULL, 'an operator cannot issue tokens');
SELECT throws_ok($$SELECT ad.revoke_api_token('tap-op')$$, '42501', NULL, 'an operator cannot revoke tokens');
SELECT throws_ok($$SELECT * FROM ad.api_tokens$$, '42501', NULL, 'an operator cannot read tokens');
SELECT throws_ok($$SELECT * FROM ad_internal.api_authenticate('x')$$, '42501', NULL, 'an operator cannot authenticate');
RESET ROLE;

-- A psql login that sets ad.api_token is not the API: it stays itself. (A superuser is a member of every role and
-- could; a superuser can write any audit row anyway.)
CREATE ROLE tap_psql_login LOGIN IN ROLE ad_operator;
SELECT id::text AS token_id FROM ad.api_tokens WHERE name = 'tap-op' \gset
SET LOCAL SESSION AUTHORIZATION tap_psql_login;
SELECT set_config('ad.api_token', :'token_id', true);
SELECT is(ad.current_actor(), 'tap_psql_login', 'a login outside ad_api cannot claim a token');
SELECT is(ad.current_person(), NULL, 'nor its person');
SELECT set_config('ad.api_token', '', true);
RESET SESSION AUTHORIZATION;

-- The API's login: authenticate, become the token's role, attributed to its person.
SET LOCAL SESSION AUTHORIZATION tap_api_login;
SELECT ok(NOT has_table_privilege('ad.alerts', 'SELECT'), 'the API login reads nothing before it becomes a role');
SELECT is((SELECT count(*) FROM ad_internal.api_authenticate('adt_' || repeat('0', 64))), 0::bigint, 'a wrong token: no row');
SELECT is((SELECT count(*) FROM ad_internal.api_authenticate(:'old_token')), 0::bigint, 'an expired token: no row');
SELECT is((SELECT a.db_role::text || ' ' || a.person FROM ad_internal.api_authenticate(:'token') a),
          'ad_operator Tap Person', 'the token: its role and person');
SELECT set_config('ad.api_token', a.token_id::text, true), set_config('role', a.db_role, true)
  FROM ad_internal.api_authenticate(:'token') a;
SELECT is(current_user::text, 'ad_operator', 'the request runs as the token''s role');
SELECT is(ad.current_actor(), 'API token "tap-op"', 'it acts as the token');
SELECT is((SELECT name FROM ad.users WHERE id = ad.current_person()), 'Tap Person', 'attributed to the token''s person');
SELECT ok(has_table_privilege('ad.alerts', 'SELECT'), 'with the operator''s privileges');
SELECT throws_ok($$SELECT * FROM ad.api_tokens$$, '42501', NULL, 'and not the owner''s');
RESET ROLE;
RESET SESSION AUTHORIZATION;

SELECT is(ad.revoke_api_token('tap-op'), true, 'revoking a valid token');
SELECT is(ad.revoke_api_token('tap-op'), false, 'revoking it again says it was');
SELECT throws_ok($$SELECT ad.revoke_api_token('tap-none')$$, 'P0002', NULL, 'revoking an unknown token fails');
SET LOCAL SESSION AUTHORIZATION tap_api_login;
SELECT is((SELECT count(*) FROM ad_internal.api_authenticate(:'token')), 0::bigint, 'a revoked token: no row');
RESET SESSION AUTHORIZATION;

-- An HTTP point's time is RFC 3339 with its offset, nothing PostgreSQL would guess.
SELECT is(ad.rfc3339_time('2026-01-01T00:00:00Z'), '2026-01-01 00:00:00+00'::timestamptz, 'RFC 3339 UTC');
SELECT is(ad.rfc3339_time('2026-01-01 02:00:00.5+02:00'), '2026-01-01 00:00:00.5+00'::timestamptz, 'with an offset');
SELECT throws_ok($$SELECT ad.rfc3339_time('yesterday')$$, '22007', NULL, '"yesterday" is refused');
SELECT throws_ok($$SELECT ad.rfc3339_time('2026-01-01')$$, '22007', NULL, 'a bare date is refused');
SELECT throws_ok($$SELECT ad.rfc3339_time('2026-01-01T00:00:00')$$, '22007', NULL, 'a time without offset is refused');

DROP OWNED BY tap_api_login, tap_psql_login;
DROP ROLE tap_api_login, tap_psql_login;
SELECT * FROM finish();
ROLLBACK;
