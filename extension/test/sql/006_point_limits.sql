-- The limits at the door (issue 18): each refusal names the limit, the source and the time; the owner changes
-- a limit with ad.set_point_limit(), and the same limits apply to corrections.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-000000000006', 'limits');
SELECT name, value, default_value, allowed FROM ad.point_limits();

-- Times: before 1970, or more than a day past the server's clock.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '1969-12-31 23:59:59+00', '{"cpu": 1}');
-- (294270 AD too on plain PostgreSQL; TimescaleDB refuses that one itself, "timestamp out of range", before any
-- trigger runs.)
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2200-01-01 00:00+00', '{"cpu": 1}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '4714-11-24 00:00+00 BC', '{"cpu": 1}');
-- Metric names: longer than 200 characters, or with a control character (newline, DEL, a C1 control).
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00', jsonb_build_object(repeat('m', 10240), 1));
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00', '{"cpu\n": 1}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00', jsonb_build_object('a' || chr(127), 1));
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00', jsonb_build_object('a' || chr(133), 1));
-- Metrics and bytes per row.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00',
        (SELECT jsonb_object_agg('m' || g, 1) FROM generate_series(1, 1000000) g));
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00',
        (SELECT jsonb_object_agg(repeat('m', 150) || g, 1) FROM generate_series(1, 500) g));

-- At the limits, and a backslash (which the quick test sends to the exact one), all accepted.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '1970-01-01 00:00+00', jsonb_build_object(repeat('m', 200), 1)),
       ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:00+00',
        (SELECT jsonb_object_agg('m' || g, 1) FROM generate_series(1, 1000) g)),
       ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:01+00', '{"a\\b": 1, "tab\\t": 2}');
SELECT count(*) AS accepted FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-000000000006';

-- Corrections get the same limits.
SELECT ad.upsert_point('00000000-0000-0000-0000-000000000006', '2026-01-01 00:01+00', jsonb_build_object(repeat('m', 201), 1));
UPDATE ad.data_points SET values = jsonb_build_object(repeat('m', 201), 1)
 WHERE source_id = '00000000-0000-0000-0000-000000000006' AND "timestamp" = '2026-01-01 00:01+00';

-- The owner moves a limit; bad values are refused, directly in ad.settings too; NULL restores the default.
SELECT ad.set_point_limit('max_metric_name_length', '600');
SELECT ad.set_point_limit('max_metric_name_length', '601');
SELECT ad.set_point_limit('max_point_time_ahead', '1000 years');
SELECT ad.set_point_limit('min_point_time', 'infinity');
SELECT ad.set_point_limit('no_such_limit', '1');
INSERT INTO ad.settings (key, value, description) VALUES ('max_row_bytes', '1', 'too small');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:02+00', jsonb_build_object(repeat('m', 600), 1));
SELECT key, value FROM ad.settings WHERE key LIKE 'max%' ORDER BY key;
SELECT ad.set_point_limit('max_metric_name_length', NULL);
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000006', '2026-01-01 00:03+00', jsonb_build_object(repeat('m', 600), 1));

-- Loaders may not call it.
SELECT has_function_privilege('public', 'ad.set_point_limit(text, text)', 'EXECUTE') AS public_may_set;
DELETE FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-000000000006';
DELETE FROM ad.data_sources WHERE id = '00000000-0000-0000-0000-000000000006';
