-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Limits at the door: what time a point may carry, how long and what a metric name may be, how many metrics and
-- how many bytes one row may hold. The owner changes them with ad.set_point_limit() (rows in ad.settings; an
-- absent row is the default). The trigger on ad.data_points reads them from ad_internal.point_within_limits(),
-- an inlinable SQL function with the limits written into its body as constants: a settings change re-creates it
-- (ad_internal.compile_point_limits), so the common path reads no table and no GUC (a custom GUC would not do:
-- any session may SET one, and these limits are the owner's).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- Each limit: its name in ad.settings, its default, and what it means. The bounds are checked by
-- ad_internal.point_limit_value(): they keep every accepted point safe for the worker's arithmetic (times in
-- microseconds since 1970 in a bigint, seasonal lags of up to a week subtracted) and every metric name short
-- enough for every index that holds one (a btree entry holds at most 2704 bytes; 600 characters of at most
-- 4 bytes each, with a rule id and a source id, fit in any server encoding).
CREATE OR REPLACE FUNCTION ad_internal.point_limit_catalog()
RETURNS TABLE (name text, default_value text, allowed text, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT * FROM (VALUES
        ('min_point_time', '1970-01-01 00:00:00+00', 'from 0001-01-01 00:00:00+00 to now',
         'The earliest accepted point time (inclusive).'),
        ('max_point_time_ahead', '1 day', 'from 0 to 100 years',
         'How far past the server''s clock (the statement''s start) a point time may be.'),
        ('max_metric_name_length', '200', 'from 1 to 600',
         'The longest accepted metric name, in characters. Control characters are never accepted.'),
        ('max_metrics_per_row', '1000', 'from 1 to 100000', 'The most metrics one row''s values may hold.'),
        ('max_row_bytes', '65536', 'from 64 to 16777216',
         'The largest values object, in bytes as PostgreSQL stores it (jsonb, before compression).')
    ) AS v(name, default_value, allowed, description)
$fn$;
COMMENT ON FUNCTION ad_internal.point_limit_catalog() IS
    'The limits at the door of ad.data_points: name, default, allowed range, meaning.';

-- A limit's value, checked and normalised: raises naming the limit and its allowed range when it is not one.
CREATE OR REPLACE FUNCTION ad_internal.point_limit_value(limit_name text, limit_value text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path TO pg_catalog, pg_temp
SET IntervalStyle TO postgres
SET TimeZone TO 'UTC'
SET DateStyle TO 'ISO, YMD'
AS $fn$
DECLARE
    lim record;
    t timestamptz;
    i interval;
    n bigint;
BEGIN
    SELECT * INTO lim FROM ad_internal.point_limit_catalog() c WHERE c.name = limit_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown point limit "%"', limit_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The limits: ' || (SELECT string_agg(c.name, ', ') FROM ad_internal.point_limit_catalog() c) || '.';
    END IF;
    IF limit_value IS NULL THEN
        RETURN lim.default_value;
    END IF;
    BEGIN
        IF limit_name = 'min_point_time' THEN
            t := limit_value::timestamptz;
            IF NOT isfinite(t) OR t < timestamptz '0001-01-01 00:00:00+00' OR t > now() THEN
                RAISE EXCEPTION USING ERRCODE = 'data_exception';
            END IF;
            RETURN t::text;
        ELSIF limit_name = 'max_point_time_ahead' THEN
            i := limit_value::interval;
            IF NOT isfinite(i) OR i < interval '0' OR i > interval '100 years' THEN
                RAISE EXCEPTION USING ERRCODE = 'data_exception';
            END IF;
            RETURN i::text;
        END IF;
        n := limit_value::bigint;
        IF (limit_name = 'max_metric_name_length' AND n NOT BETWEEN 1 AND 600)
           OR (limit_name = 'max_metrics_per_row' AND n NOT BETWEEN 1 AND 100000)
           OR (limit_name = 'max_row_bytes' AND n NOT BETWEEN 64 AND 16777216) THEN
            RAISE EXCEPTION USING ERRCODE = 'data_exception';
        END IF;
        RETURN n::text;
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'point limit %: "%" is not allowed (allowed: %)', limit_name, limit_value, lim.allowed
            USING ERRCODE = 'invalid_parameter_value';
    END;
END
$fn$;
COMMENT ON FUNCTION ad_internal.point_limit_value(text, text) IS
    'A point limit''s value checked against its allowed range and normalised (NULL: its default); raises otherwise.';

-- The value in force: the ad.settings row if there is one, else the default.
-- SECURITY DEFINER: a refused loader reads the limit it broke without reading ad.settings.
CREATE OR REPLACE FUNCTION ad_internal.point_limit(limit_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
RETURN ad_internal.point_limit_value(limit_name, (SELECT s.value #>> '{}' FROM ad.settings s WHERE s.key = limit_name));
COMMENT ON FUNCTION ad_internal.point_limit(text) IS 'A point limit''s value in force (its ad.settings row, or the default).';

CREATE OR REPLACE FUNCTION ad.point_limits()
RETURNS TABLE (name text, value text, default_value text, allowed text, description text)
LANGUAGE sql STABLE SECURITY DEFINER  -- loaders may read the limits, not ad.settings
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT c.name, ad_internal.point_limit(c.name), c.default_value, c.allowed, c.description
      FROM ad_internal.point_limit_catalog() c
$fn$;
COMMENT ON FUNCTION ad.point_limits() IS
    'The limits at the door of ad.data_points: each one''s value in force, default, allowed range and meaning. '
    'The owner changes one with ad.set_point_limit(name, value).';

-- Writes the limits into ad_internal.point_within_limits() as constants. Run by every install and update (below)
-- and by the trigger on ad.settings, so the function always says what the settings say.
CREATE OR REPLACE FUNCTION ad_internal.compile_point_limits() RETURNS void
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    name_len int := ad_internal.point_limit('max_metric_name_length')::int;
    too_long text;
    n int;
BEGIN
    -- A regular expression matching a name longer than the limit: "^.{N}" where N is at most 255 per bound.
    n := name_len + 1;
    too_long := '^' || repeat('.{255}', n / 255) || CASE WHEN n % 255 > 0 THEN '.{' || n % 255 || '}' ELSE '' END;
    -- Cheap tests first. The name tests look at keys only where they can fail: a name longer than the limit
    -- needs more bytes than the limit; a control character shows in the text form as an escape (\n, \u0001...)
    -- or as itself (DEL, U+0080..U+009F), and only then are the keys searched (a backslash in a name also
    -- leads there, and passes). v || '{}' is v detoasted, so its size is the uncompressed one.
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION ad_internal.point_within_limits(t timestamptz, v jsonb) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE
        RETURN t >= %L::timestamptz AND t <= statement_timestamp() + %L::interval
           AND pg_column_size(v || '{}'::jsonb) <= %s
           AND jsonb_array_length(jsonb_path_query_array(v, 'strict $.*', '{}', true)) <= %s
           AND (pg_column_size(v || '{}'::jsonb) <= %s
                OR NOT jsonb_path_exists(v, %L, '{}', true))
           AND (v::text !~ '[\\\x7f-\x9f]'
                OR NOT jsonb_path_exists(v, 'strict $.keyvalue() ? (@.key like_regex "[\\u0001-\\u001f\\u007f-\\u009f]")',
                                         '{}', true))
        $f$,
        ad_internal.point_limit('min_point_time'), ad_internal.point_limit('max_point_time_ahead'),
        ad_internal.point_limit('max_row_bytes'), ad_internal.point_limit('max_metrics_per_row'), name_len,
        format('strict $.keyvalue() ? (@.key like_regex "%s" flag "s")', too_long));
    COMMENT ON FUNCTION ad_internal.point_within_limits(timestamptz, jsonb) IS
        'True when a point''s time and values are within the limits at the door (ad.point_limits()); written by '
        'ad_internal.compile_point_limits() with the limits as constants, so the trigger''s WHEN clause reads no table.';
END
$fn$;
COMMENT ON FUNCTION ad_internal.compile_point_limits() IS
    'Re-creates ad_internal.point_within_limits() with the limits in force; every install, update and settings change runs it.';
REVOKE ALL ON FUNCTION ad_internal.compile_point_limits() FROM PUBLIC;

SELECT ad_internal.compile_point_limits();

CREATE OR REPLACE FUNCTION ad_internal.settings_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM ad_internal.compile_point_limits();  -- checks every stored limit, raising on a bad one
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.settings_changed() IS
    'Statement trigger on ad.settings: re-writes the point limits (a restore of ad.settings runs it too).';

CREATE OR REPLACE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ad.settings
    FOR EACH STATEMENT EXECUTE FUNCTION ad_internal.settings_changed();
COMMENT ON TRIGGER settings_changed ON ad.settings IS
    'Keeps the limits at the door in step with the settings (checks them, and re-writes the function that applies them).';

CREATE OR REPLACE FUNCTION ad.set_point_limit(limit_name text, limit_value text) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    v text := ad_internal.point_limit_value(limit_name, limit_value);
    lim record;
BEGIN
    SELECT * INTO lim FROM ad_internal.point_limit_catalog() c WHERE c.name = limit_name;
    IF limit_value IS NULL THEN
        DELETE FROM ad.settings WHERE key = limit_name;
    ELSE
        INSERT INTO ad.settings AS s (key, value, description)
        VALUES (limit_name, CASE WHEN v ~ '^[0-9]+$' THEN to_jsonb(v::bigint) ELSE to_jsonb(v) END,
                lim.description || ' Set with ad.set_point_limit().')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = current_user;
    END IF;
    RETURN format('%s = %s%s', limit_name, v, CASE WHEN limit_value IS NULL THEN ' (the default)' ELSE '' END);
END
$fn$;
COMMENT ON FUNCTION ad.set_point_limit(text, text) IS
    'Sets a limit at the door of ad.data_points (see ad.point_limits()); NULL restores its default. Owner only. '
    'Applies to statements that start afterwards.';
REVOKE ALL ON FUNCTION ad.set_point_limit(text, text) FROM PUBLIC;

-- What is wrong with a point against the limits, in words naming the limit, or NULL. Only refused rows get here.
CREATE OR REPLACE FUNCTION ad_internal.point_limit_problem(t timestamptz, v jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    earliest timestamptz := ad_internal.point_limit('min_point_time')::timestamptz;
    ahead interval := ad_internal.point_limit('max_point_time_ahead')::interval;
    max_bytes int := ad_internal.point_limit('max_row_bytes')::int;
    max_metrics int := ad_internal.point_limit('max_metrics_per_row')::int;
    max_name int := ad_internal.point_limit('max_metric_name_length')::int;
    bytes int;
    metrics bigint;
    bad record;
BEGIN
    -- The limits as ad.point_limits() shows them, whatever the session's DateStyle and IntervalStyle.
    IF t < earliest THEN
        RETURN format('time is before %s, the earliest accepted (limit min_point_time)',
                      ad_internal.point_limit('min_point_time'));
    ELSIF t > statement_timestamp() + ahead THEN
        RETURN format('time is more than %s ahead of the server''s clock (limit max_point_time_ahead)',
                      ad_internal.point_limit('max_point_time_ahead'));
    END IF;
    metrics := (SELECT count(*) FROM jsonb_object_keys(v));
    IF metrics > max_metrics THEN
        RETURN format('%s metrics in one row, more than %s (limit max_metrics_per_row)', metrics, max_metrics);
    END IF;
    bytes := pg_column_size(v || '{}'::jsonb);
    IF bytes > max_bytes THEN
        RETURN format('values take %s bytes, more than %s (limit max_row_bytes)', bytes, max_bytes);
    END IF;
    SELECT k, length(k) AS len INTO bad FROM jsonb_object_keys(v) k WHERE length(k) > max_name ORDER BY k LIMIT 1;
    IF FOUND THEN
        RETURN format('metric name %s... has %s characters, more than %s (limit max_metric_name_length)',
                      left(to_jsonb(bad.k)::text, 41), bad.len, max_name);
    END IF;
    SELECT k, (SELECT min(ascii(c)) FROM regexp_split_to_table(k, '') c
                WHERE c ~ '[\x01-\x1f\x7f-\x9f]') AS code INTO bad
      FROM jsonb_object_keys(v) k WHERE k ~ '[\x01-\x1f\x7f-\x9f]' ORDER BY k LIMIT 1;
    IF FOUND THEN
        RETURN format('metric name %s contains the control character U+%s (metric names may not hold control '
                      'characters)', left(to_jsonb(bad.k)::text, 80), lpad(upper(to_hex(bad.code)), 4, '0'));
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.point_limit_problem(timestamptz, jsonb) IS
    'Which limit at the door a point breaks, in words naming the limit and its value, or NULL when none.';
