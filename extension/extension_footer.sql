-- Appended to the extension's install and update scripts (adworker migrate records its version itself); an
-- update re-registers every table, so a table a step adds is dumped too.
-- Extension member tables are skipped by pg_dump unless registered, so every table people or the worker
-- fill is registered; the version row says which installer ran.
SET LOCAL search_path TO pg_catalog, pg_temp;

DO $do$
DECLARE
    rel regclass;
BEGIN
    -- One call per statement: each call rewrites the same pg_extension row.
    FOR rel IN SELECT c.oid::regclass
                 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('ad', 'ad_internal') AND c.relkind IN ('r', 'p', 'S')
                  -- Written by the install script itself: a restore runs it again, so dumping them would collide.
                  AND c.oid NOT IN ('ad_internal.schema_migrations'::regclass, 'ad_internal.storage'::regclass)
                ORDER BY c.oid LOOP
        -- The install writes the built-in streaming scorer's model row: dump every other.
        PERFORM pg_catalog.pg_extension_config_dump(
            rel, CASE WHEN rel = 'ad.ml_models'::regclass
                      THEN 'WHERE id <> ''00000000-0000-4000-8000-000000000001''' ELSE '' END);
    END LOOP;
END
$do$;

INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('@EXTVERSION@', 'extension');
