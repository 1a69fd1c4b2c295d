-- Schemas and installation bookkeeping.
-- Every file pins search_path and qualifies every name, so a hostile search_path cannot capture a call.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE SCHEMA ad;
COMMENT ON SCHEMA ad IS
    'Anomaly detection: the user-facing API (tables data engineers write, views BI reads, functions operators call).';

CREATE SCHEMA ad_internal;
COMMENT ON SCHEMA ad_internal IS
    'Anomaly detection internals: installation records, secrets, trigger functions. Not a stable API.';

CREATE TABLE ad_internal.schema_migrations (
    version      text PRIMARY KEY,
    installer    text NOT NULL CHECK (installer IN ('extension', 'migrate')),
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE ad_internal.schema_migrations IS
    'One row per schema version applied, by CREATE/ALTER EXTENSION or by adworker migrate.';
COMMENT ON COLUMN ad_internal.schema_migrations.version IS 'Schema version, as in anomaly_detection.control.';
COMMENT ON COLUMN ad_internal.schema_migrations.installer IS 'extension (CREATE/ALTER EXTENSION) or migrate (adworker migrate).';
COMMENT ON COLUMN ad_internal.schema_migrations.installed_at IS 'When the version was applied.';
COMMENT ON COLUMN ad_internal.schema_migrations.installed_by IS 'Database role that applied it.';

CREATE TABLE ad_internal.storage (
    key   text PRIMARY KEY,
    value text NOT NULL
);
COMMENT ON TABLE ad_internal.storage IS
    'How storage was set up at install time: timescaledb version and license, hypertables, compression, continuous aggregates.';
COMMENT ON COLUMN ad_internal.storage.key IS 'Setting name, for example timescaledb_version or compression.';
COMMENT ON COLUMN ad_internal.storage.value IS 'Setting value as text.';

CREATE TABLE ad.settings (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       jsonb NOT NULL,
    description text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE ad.settings IS
    'Global settings changed from their defaults (today: retention). Change them through the ad.set_* functions; '
    'an absent key means the default, so a restored dump never collides with rows the install wrote.';
COMMENT ON COLUMN ad.settings.key IS 'Setting name.';
COMMENT ON COLUMN ad.settings.value IS 'Setting value as JSON (an interval is a string such as "90 days"; null means off).';
COMMENT ON COLUMN ad.settings.description IS 'What the setting does.';
COMMENT ON COLUMN ad.settings.updated_at IS 'When the value last changed.';
COMMENT ON COLUMN ad.settings.updated_by IS 'Role that last changed it.';

-- TimescaleDB is optional: found through pg_extension, called through format('%I.%I'), never required.
CREATE FUNCTION ad_internal.timescaledb_schema() RETURNS name
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
RETURN (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'timescaledb');
COMMENT ON FUNCTION ad_internal.timescaledb_schema() IS 'The schema TimescaleDB is installed in, or NULL without it.';

CREATE FUNCTION ad_internal.timescaledb_licensed() RETURNS boolean
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
RETURN ad_internal.timescaledb_schema() IS NOT NULL
       AND coalesce(current_setting('timescaledb.license', true), 'apache') = 'timescale';
COMMENT ON FUNCTION ad_internal.timescaledb_licensed() IS
    'True when TimescaleDB runs with the community license (compression, continuous aggregates and policies).';

-- Interval text that does not depend on the session's IntervalStyle (records, messages).
CREATE FUNCTION ad_internal.interval_text(i interval) RETURNS text
LANGUAGE sql IMMUTABLE
SET IntervalStyle TO postgres
RETURN i::text;
COMMENT ON FUNCTION ad_internal.interval_text(interval) IS 'An interval as text in the postgres style, whatever the session uses.';

-- Called by the install scripts right after a table is created, before anything references it.
CREATE FUNCTION ad_internal.make_hypertable(tbl regclass, time_column name, chunk interval) RETURNS boolean
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
