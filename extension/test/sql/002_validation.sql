-- Bad rows are rejected at the door with a message naming the problem, the source and the time.
\set SHOW_CONTEXT never
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'web-1');
SET timezone = 'UTC';

-- A good row.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:00', '{"cpu": 0.93, "mem": 512}');

-- Unknown source.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000009', '2026-01-01 00:00', '{"cpu": 1}');
-- Missing time.
INSERT INTO ad.data_points (source_id, values) VALUES ('00000000-0000-0000-0000-000000000001', '{"cpu": 1}');
-- Not an object.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '[1, 2]');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '0.5');
-- No metrics.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{}');
-- A string, "NaN", null, a boolean, a nested object.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"cpu": "0.5"}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"cpu": 0.1, "mem": "NaN"}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"cpu": null}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"up": true}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"cpu": {"user": 1}}');
-- Numbers that do not fit a double precision.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"big": 1e400}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"tiny": -1e-400}');
-- Arrays, empty or not, are not numbers.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"cpu": [1]}');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"cpu": []}');
-- SQL NULL values, and a time that is not finite.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', NULL);
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', 'infinity', '{"cpu": 1}');
-- An empty metric name.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:01', '{"": 1}');
-- The extremes of double precision are fine.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:02', '{"max": 1.7976931348623157e308, "min": 2.2250738585072014e-308, "subnormal": 1e-310, "zero": 0, "neg": -3}');

-- One bad row rejects the whole statement: nothing of it is kept.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:03', '{"cpu": 1}'),
       ('00000000-0000-0000-0000-000000000009', '2026-01-01 00:04', '{"cpu": 1}');
SELECT "timestamp", (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(values) k) AS metrics
  FROM ad.data_points ORDER BY "timestamp";

-- The same checks are available to data engineers before they insert.
SELECT ad.values_ok('{"cpu": 1}') AS ok, ad.values_ok('{"cpu": "NaN"}') AS not_ok,
       ad.values_problem('{"cpu": "NaN"}') AS problem, ad.values_problem('{"cpu": 1}') AS no_problem;

-- A disabled source accepts nothing; a paused one accepts points (they wait unscored).
UPDATE ad.data_sources SET status = 'disabled' WHERE name = 'web-1';
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:05', '{"cpu": 1}');
UPDATE ad.data_sources SET status = 'paused' WHERE name = 'web-1';
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000001', '2026-01-01 00:05', '{"cpu": 1}');
UPDATE ad.data_sources SET status = 'active' WHERE name = 'web-1';

-- COPY goes through the same checks.
COPY ad.data_points (source_id, "timestamp", values) FROM stdin WITH (FORMAT csv);
00000000-0000-0000-0000-000000000001,2026-01-01 00:06,"{""cpu"": 1}"
00000000-0000-0000-0000-000000000001,2026-01-01 00:07,"{""cpu"": ""high""}"
\.
SELECT count(*) AS points FROM ad.data_points;
