-- 0.1.0 to 0.2.0: no table changes. sql/ was laid out for upgrades (pre_install/, re-run files, updates/);
-- the objects are the same. The step exists so the upgrade path exists (pgvector ships empty steps too).
-- After it, every update re-runs sql/NNN_*.sql (functions, triggers, views, comments, grants).
SET LOCAL search_path TO pg_catalog, pg_temp;
