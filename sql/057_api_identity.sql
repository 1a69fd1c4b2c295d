-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Who is acting. A psql session acts as its login (session_user), attributed to the person ad.users maps it to. A
-- request through adworker's HTTP API or console acts as the database role of its bearer token (ad.api_tokens): the
-- API's login, a member of ad_api, authenticates the token with ad_internal.api_authenticate and, in the request's
-- transaction, sets role to the token's role and ad.api_token to the token's id. The functions below are the one
-- place that turns either into a person, so every trigger and function attributes an HTTP request as it does psql.
SET LOCAL search_path TO pg_catalog, pg_temp;

-- The token in force: only when the session's login is the API's (a member of ad_api) and the token is valid. A
-- psql user who sets ad.api_token himself is not a member of ad_api, and is ignored.
CREATE OR REPLACE FUNCTION ad_internal.api_token_in_force() RETURNS ad.api_tokens
LANGUAGE plpgsql STABLE SECURITY DEFINER  -- reads ad.api_tokens, which is the owner's alone
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    claimed constant text := nullif(current_setting('ad.api_token', true), '');
    t ad.api_tokens;
BEGIN
    IF claimed IS NULL OR claimed !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_api') THEN
        RETURN NULL;
    ELSIF NOT pg_has_role(session_user, 'ad_api', 'MEMBER') THEN
        RETURN NULL;
    END IF;
    SELECT * INTO t FROM ad.api_tokens a
     WHERE a.id = claimed::uuid AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now());
    RETURN t;
END
$fn$;
COMMENT ON FUNCTION ad_internal.api_token_in_force() IS
    'The API token this request runs under (set by adworker''s API login, a member of ad_api), or NULL.';
REVOKE ALL ON FUNCTION ad_internal.api_token_in_force() FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.current_person() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER  -- reads ad.api_tokens
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    t ad.api_tokens := ad_internal.api_token_in_force();
BEGIN
    IF t.id IS NOT NULL THEN
        RETURN t.user_id;
    END IF;
    RETURN (SELECT u.id FROM ad.users u WHERE u.db_role = session_user);
END
$fn$;
COMMENT ON FUNCTION ad.current_person() IS
    'The person (ad.users id) this session''s changes are attributed to: an HTTP request''s token''s person, else the '
    'person mapped to the login (active or not); NULL when nobody is.';

CREATE OR REPLACE FUNCTION ad.current_actor() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER  -- reads ad.api_tokens
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    t ad.api_tokens := ad_internal.api_token_in_force();
BEGIN
    IF t.id IS NOT NULL THEN
        RETURN format('API token "%s"', t.name);
    END IF;
    RETURN session_user::text;
END
$fn$;
COMMENT ON FUNCTION ad.current_actor() IS
    'Who is acting, in words for messages and "by" columns: the login, or API token "name" for an HTTP request.';

-- Who is calling, as ad.users knows them and active (NULL otherwise), for the audit log.
CREATE OR REPLACE FUNCTION ad_internal.caller_user_id() RETURNS uuid
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$ SELECT u.id FROM ad.users u WHERE u.id = ad.current_person() AND u.active $fn$;
COMMENT ON FUNCTION ad_internal.caller_user_id() IS
    'The active ad.users person this session''s changes are attributed to (ad.current_person()), if any.';

-- ---------------------------------------------------------------------------------------------------------------
-- Tokens. Only the owner issues and revokes (no grant); the API's login authenticates.

CREATE OR REPLACE FUNCTION ad.issue_api_token(name text, db_role name, person text DEFAULT NULL,
                                              expires_in interval DEFAULT NULL) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    r pg_roles%ROWTYPE;
    uid uuid;
    n int;
    token text;
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,59}$' THEN
        RAISE EXCEPTION 'ad.issue_api_token: name must be 1 to 60 letters, digits, _ . @ or -, starting with a letter '
                        'or digit, got %', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM ad.api_tokens t WHERE t.name = issue_api_token.name) THEN
        RAISE EXCEPTION 'ad.issue_api_token: a token named "%" exists', name
            USING ERRCODE = 'unique_violation',
                  HINT = format('Revoke it first, or choose another name: SELECT ad.revoke_api_token(%L);', name);
    END IF;
    SELECT * INTO r FROM pg_roles x WHERE x.rolname = issue_api_token.db_role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.issue_api_token: no role "%"', db_role USING ERRCODE = 'undefined_object';
    ELSIF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_api') THEN
        RAISE EXCEPTION 'ad.issue_api_token: role ad_api does not exist' USING ERRCODE = 'undefined_object',
            HINT = 'SELECT ad.create_roles(); creates it and lets it act as ad_reader, ad_ingest, ad_operator and ad_scientist.';
    ELSIF r.rolsuper OR r.rolname IN ('ad_api', 'ad_worker') THEN
        RAISE EXCEPTION 'ad.issue_api_token: a token may not act as %', db_role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Tokens act as ad_reader, ad_ingest, ad_operator, ad_scientist, or a role granted to ad_api.';
    ELSIF NOT pg_has_role('ad_api', r.rolname, 'MEMBER') THEN
        RAISE EXCEPTION 'ad.issue_api_token: the API cannot act as "%": ad_api is not a member of it', db_role
            USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT %I TO ad_api;', db_role);
    END IF;
    IF person IS NOT NULL THEN
        SELECT count(*), min(u.id::text)::uuid INTO n, uid FROM ad.users u
         WHERE u.active AND (u.email = person OR u.db_role::text = person OR u.name = person OR u.id::text = person);
        IF n = 0 THEN
            RAISE EXCEPTION 'ad.issue_api_token: no active person "%" in ad.users (by email, db_role, name or id)', person
                USING ERRCODE = 'no_data_found',
                      HINT = 'INSERT INTO ad.users (name, email) VALUES (''Their Name'', ''them@example.com'');';
        ELSIF n > 1 THEN
            RAISE EXCEPTION 'ad.issue_api_token: "%" names % people in ad.users; give their email or id', person, n
                USING ERRCODE = 'cardinality_violation';
        END IF;
    END IF;
    IF expires_in IS NOT NULL AND expires_in <= interval '0' THEN
        RAISE EXCEPTION 'ad.issue_api_token: expires_in must be positive, got %', expires_in
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- gen_random_uuid() draws from the server's strong random source (pg_strong_random); two give 244 random bits.
    token := 'adt_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    INSERT INTO ad.api_tokens (name, db_role, user_id, token_hash, expires_at)
    VALUES (issue_api_token.name, r.rolname, uid, sha256(convert_to(token, 'UTF8')), now() + expires_in);
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, new_value)
    VALUES (ad_internal.caller_user_id(), 'api_token_issued', 'api_token', issue_api_token.name,
            jsonb_strip_nulls(jsonb_build_object('db_role', r.rolname, 'person', uid, 'expires_at', now() + expires_in)));
    RETURN token;
END
$fn$;
COMMENT ON FUNCTION ad.issue_api_token(text, name, text, interval) IS
    'Issues a bearer token for the HTTP API and console that acts as db_role (ad_reader, ad_ingest, ad_operator, '
    'ad_scientist, or a role granted to ad_api), attributed to person (email, db_role, name or id in ad.users). '
    'Returns the token: it is shown only this once; only its SHA-256 is kept. Owner only.';
REVOKE ALL ON FUNCTION ad.issue_api_token(text, name, text, interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.revoke_api_token(name text) RETURNS boolean
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    t ad.api_tokens;
BEGIN
    UPDATE ad.api_tokens a SET revoked_at = now(), revoked_by = session_user
     WHERE a.name = revoke_api_token.name AND a.revoked_at IS NULL
    RETURNING * INTO t;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM ad.api_tokens a WHERE a.name = revoke_api_token.name) THEN
            RETURN false;  -- already revoked
        END IF;
        RAISE EXCEPTION 'ad.revoke_api_token: no token named "%"', name USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (ad_internal.caller_user_id(), 'api_token_revoked', 'api_token', t.name,
            jsonb_build_object('db_role', t.db_role), jsonb_build_object('revoked_at', t.revoked_at));
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION ad.revoke_api_token(text) IS
    'Revokes a token at once (the next request presenting it gets 401). True if it was valid, false if already '
    'revoked. Owner only.';
REVOKE ALL ON FUNCTION ad.revoke_api_token(text) FROM PUBLIC;

-- The API's login calls this once per request, then sets role and ad.api_token in the same transaction.
CREATE OR REPLACE FUNCTION ad_internal.api_authenticate(token text)
RETURNS TABLE (token_id uuid, token_name text, db_role name, user_id uuid, person text)
LANGUAGE plpgsql SECURITY DEFINER  -- reads ad.api_tokens
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    t ad.api_tokens;
BEGIN
    IF token IS NULL OR length(token) <> 68 OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_api') THEN
        RETURN;
    ELSIF NOT pg_has_role(session_user, 'ad_api', 'MEMBER') THEN
        RETURN;
    END IF;
    SELECT * INTO t FROM ad.api_tokens a
     WHERE a.token_hash = sha256(convert_to(token, 'UTF8')) AND a.revoked_at IS NULL
       AND (a.expires_at IS NULL OR a.expires_at > now());
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' THEN
        UPDATE ad.api_tokens a SET last_used_at = now() WHERE a.id = t.id;
    END IF;
    RETURN QUERY SELECT t.id, t.name, t.db_role, t.user_id, (SELECT u.name FROM ad.users u WHERE u.id = t.user_id);
END
$fn$;
COMMENT ON FUNCTION ad_internal.api_authenticate(text) IS
    'For the API''s login (a member of ad_api): the valid token with this secret (its id, name, role, person), '
    'or no row.';
REVOKE ALL ON FUNCTION ad_internal.api_authenticate(text) FROM PUBLIC;

-- The HTTP API's reading of a point's time: RFC 3339 only (with its offset), so "yesterday", "now" or a bare
-- date, which PostgreSQL's own input would take, are refused rather than stored as some time nobody meant.
CREATE OR REPLACE FUNCTION ad.rfc3339_time(t text) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    IF t IS NULL THEN
        RETURN NULL;  -- the trigger on ad.data_points says the timestamp is missing
    ELSIF t !~ '^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)$' THEN
        RAISE EXCEPTION 'timestamp must be an RFC 3339 time with its offset, such as 2026-01-01T00:00:00Z, got "%"',
                        left(t, 60)
            USING ERRCODE = 'invalid_datetime_format';
    END IF;
    RETURN t::timestamptz;
END
$fn$;
COMMENT ON FUNCTION ad.rfc3339_time(text) IS
    'An RFC 3339 time (2026-01-01T00:00:00Z, with its offset) as timestamptz; anything else is an error saying so. '
    'How the HTTP API reads a point''s timestamp.';
