-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Storage helpers: TimescaleDB found at run time; make_hypertable is called by pre_install/ and by steps.
-- Every file pins search_path and qualifies every name, so a hostile search_path cannot capture a call.
SET LOCAL search_path TO pg_catalog, pg_temp;

-- TimescaleDB is optional: found through pg_extension, called through format('%I.%I'), never required.
CREATE OR REPLACE FUNCTION ad_internal.timescaledb_schema() RETURNS name
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
RETURN (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'timescaledb');
COMMENT ON FUNCTION ad_internal.timescaledb_schema() IS 'The schema TimescaleDB is installed in, or NULL without it.';

CREATE OR REPLACE FUNCTION ad_internal.timescaledb_licensed() RETURNS boolean
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
RETURN ad_internal.timescaledb_schema() IS NOT NULL
       AND coalesce(current_setting('timescaledb.license', true), 'apache') = 'timescale';
COMMENT ON FUNCTION ad_internal.timescaledb_licensed() IS
    'True when TimescaleDB runs with the community license (compression, continuous aggregates and policies).';

-- Interval text that does not depend on the session's IntervalStyle (records, messages).
CREATE OR REPLACE FUNCTION ad_internal.interval_text(i interval) RETURNS text
LANGUAGE sql IMMUTABLE
SET IntervalStyle TO postgres
RETURN i::text;
COMMENT ON FUNCTION ad_internal.interval_text(interval) IS 'An interval as text in the postgres style, whatever the session uses.';

-- Called by the install scripts right after a table is created, before anything references it.
CREATE OR REPLACE FUNCTION ad_internal.make_hypertable(tbl regclass, time_column name, chunk interval) RETURNS boolean
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    ts name := ad_internal.timescaledb_schema();
BEGIN
    IF ts IS NULL THEN
        RETURN false;
    END IF;
    -- No default indexes: the tables carry their own, the same with and without TimescaleDB.
    EXECUTE format('SELECT %I.create_hypertable(%L::regclass, %I.by_range(%L, %L::interval), create_default_indexes => false)',
                   ts, tbl, ts, time_column, chunk);
    INSERT INTO ad_internal.storage (key, value) VALUES ('hypertable:' || tbl::text, ad_internal.interval_text(chunk));
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION ad_internal.make_hypertable(regclass, name, interval) IS
    'Turns a new table into a TimescaleDB hypertable when TimescaleDB is installed; does nothing otherwise.';
