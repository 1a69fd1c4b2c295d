-- Retention without TimescaleDB: the setting, then ad.apply_retention() deletes what is older.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-000000000005', 'kept');
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT '00000000-0000-0000-0000-000000000005', now() - g * interval '1 day', '{"x": 1}' FROM generate_series(0, 9) g;
SELECT ad.apply_retention() AS removed_while_kept_forever;
SELECT ad.set_retention(interval '-1 day');
SELECT ad.set_retention(interval '5 days 12 hours');
SELECT value FROM ad.settings WHERE key = 'retention';
SELECT ad.apply_retention() AS removed;
SELECT count(*) AS left_for_source FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-000000000005';
SELECT ad.set_retention(NULL);
SELECT value FROM ad.settings WHERE key = 'retention';
