-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
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
