-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Retention: one setting, the same call with or without TimescaleDB.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad.set_retention(keep interval) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
SET IntervalStyle TO postgres  -- the stored text must not depend on the caller's style
AS $fn$
DECLARE
    ts_schema name;
BEGIN
    IF keep IS NOT NULL AND keep <= interval '0' THEN
        RAISE EXCEPTION 'ad.set_retention: keep must be positive or NULL (keep forever), got %', keep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ad.settings AS s (key, value, description)
    VALUES ('retention', coalesce(to_jsonb(keep::text), 'null'::jsonb),
            'How long data points are kept (an interval); null keeps them forever. Set with ad.set_retention().')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = current_user;
    SELECT value INTO ts_schema FROM ad_internal.storage WHERE key = 'retention_policy_schema';
    IF ts_schema IS NOT NULL THEN
        EXECUTE format('SELECT %I.remove_retention_policy(%L::regclass, if_exists => true)', ts_schema, 'ad.data_points');
        IF keep IS NOT NULL THEN
            EXECUTE format('SELECT %I.add_retention_policy(%L::regclass, drop_after => %L::interval)',
                           ts_schema, 'ad.data_points', keep);
            RETURN format('data points older than %s are dropped by a TimescaleDB retention policy', keep);
        END IF;
        RETURN 'data points are kept forever';
    END IF;
    IF keep IS NULL THEN
        RETURN 'data points are kept forever';
    END IF;
    RETURN format('data points older than %s are deleted each time ad.apply_retention() runs', keep);
END
$fn$;
COMMENT ON FUNCTION ad.set_retention(interval) IS
    'Sets how long data points are kept (NULL: forever). With licensed TimescaleDB a retention policy drops old chunks; '
    'otherwise ad.apply_retention() deletes old rows.';
REVOKE ALL ON FUNCTION ad.set_retention(interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.apply_retention() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    keep interval;
    ts_schema name;
    removed bigint := 0;
BEGIN
    SELECT (value #>> '{}')::interval INTO keep FROM ad.settings WHERE key = 'retention';
    IF keep IS NULL OR EXISTS (SELECT FROM ad_internal.storage WHERE key = 'retention_policy_schema') THEN
        PERFORM ad_internal.forget_quarantined_gone();  -- points a policy or a person removed
        RETURN 0;  -- kept forever, or a TimescaleDB policy does it
    END IF;
    SELECT value INTO ts_schema FROM ad_internal.storage WHERE key = 'hypertable_schema';
    IF ts_schema IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %I.drop_chunks(%L::regclass, older_than => now() - %L::interval)',
                       ts_schema, 'ad.data_points', keep) INTO removed;
        PERFORM ad_internal.forget_quarantined_gone();
        RETURN removed;  -- chunks dropped
    END IF;
    DELETE FROM ad.data_points WHERE "timestamp" < now() - keep;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM ad_internal.forget_quarantined_gone();
    RETURN removed;
END
$fn$;
COMMENT ON FUNCTION ad.apply_retention() IS
    'Removes data points older than the retention setting when no TimescaleDB policy does it, and the quarantine '
    'rows of points no longer there. '
    'Returns rows deleted (plain tables) or chunks dropped (hypertable without a licensed policy).';
REVOKE ALL ON FUNCTION ad.apply_retention() FROM PUBLIC;
