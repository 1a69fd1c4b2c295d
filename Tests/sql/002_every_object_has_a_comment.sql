-- COMMENT ON every object of ad and ad_internal: tables, views, columns, indexes, functions, triggers.
BEGIN;
SELECT plan(5);
SELECT is(ARRAY(SELECT c.oid::regclass::text FROM pg_class c
                 WHERE c.relnamespace IN ('ad'::regnamespace, 'ad_internal'::regnamespace)
                   AND c.relkind IN ('r', 'p', 'v', 'm', 'i') AND obj_description(c.oid, 'pg_class') IS NULL
                   AND NOT (c.relkind = 'i' AND EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = c.oid))
                 ORDER BY 1),
          '{}'::text[], 'every table, view and index has a comment (constraint indexes excepted)');
SELECT is(ARRAY(SELECT format('%s.%s', c.oid::regclass, a.attname) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                 WHERE c.relnamespace IN ('ad'::regnamespace, 'ad_internal'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm')
                   AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
                   AND c.relname NOT IN ('source_overview', 'point_values', 'anomaly_details', 'alert_overview')
                 ORDER BY 1),
          '{}'::text[], 'every table column has a comment');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace IN ('ad'::regnamespace, 'ad_internal'::regnamespace)
                   AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY 1),
          '{}'::text[], 'every function has a comment');
SELECT is(ARRAY(SELECT format('%s on %s', t.tgname, t.tgrelid::regclass) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                 WHERE c.relnamespace IN ('ad'::regnamespace, 'ad_internal'::regnamespace) AND NOT t.tgisinternal
                   AND t.tgname NOT LIKE 'ts\_%' AND obj_description(t.oid, 'pg_trigger') IS NULL ORDER BY 1),
          '{}'::text[], 'every trigger has a comment');
SELECT is(ARRAY(SELECT nspname::text FROM pg_namespace WHERE nspname IN ('ad', 'ad_internal')
                   AND obj_description(oid, 'pg_namespace') IS NULL),
          '{}'::text[], 'both schemas have a comment');
SELECT * FROM finish();
ROLLBACK;
