-- The extension installs from the packaged script and records its version.
SELECT count(*) AS roles_before FROM pg_roles WHERE rolname LIKE 'ad\_%' \gset
CREATE EXTENSION anomaly_detection;
SELECT extversion FROM pg_extension WHERE extname = 'anomaly_detection';
SELECT version, installer FROM ad_internal.schema_migrations;
-- Without TimescaleDB everything is a plain table and the summary is a view.
SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'ad'::regnamespace AND relname IN ('data_points', 'anomalies', 'anomaly_summary_hourly')
 ORDER BY relname;
SELECT key, value FROM ad_internal.storage ORDER BY key;
-- Roles are cluster-wide: installing never creates them (ad.create_roles() does, when asked).
SELECT count(*) = :roles_before AS no_roles_created FROM pg_roles WHERE rolname LIKE 'ad\_%';
