-- A point is identified by (source_id, "timestamp"). Inserting it again is an error; ON CONFLICT makes
-- re-sends idempotent, and DO UPDATE of values re-queues the point for scoring.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-000000000002', 'dup');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000002', '2026-02-01 00:00', '{"x": 1}');
-- The second is refused. (Caught, to print what is stable: on TimescaleDB the violated index is the chunk's,
-- whose number depends on what background jobs created before.)
DO $$
DECLARE detail text;
BEGIN
    INSERT INTO ad.data_points (source_id, "timestamp", values)
    VALUES ('00000000-0000-0000-0000-000000000002', '2026-02-01 00:00', '{"x": 2}');
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'refused (%): %', SQLSTATE, detail;
END
$$;
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000002', '2026-02-01 00:00', '{"x": 2}')
ON CONFLICT (source_id, "timestamp") DO NOTHING;
-- The worker scores it...
UPDATE ad.data_points SET anomaly_score = 0.2, features = '{"x": {"z": 0.1}}'
 WHERE source_id = '00000000-0000-0000-0000-000000000002';
-- ...a correction arrives: the score no longer describes the values, so the point is unscored again.
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000002', '2026-02-01 00:00', '{"x": 3}')
ON CONFLICT (source_id, "timestamp") DO UPDATE SET values = EXCLUDED.values;
SELECT values, features, anomaly_score FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-000000000002';
-- Re-sending identical values keeps the score.
UPDATE ad.data_points SET anomaly_score = 0.2 WHERE source_id = '00000000-0000-0000-0000-000000000002';
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-000000000002', '2026-02-01 00:00', '{"x": 3}')
ON CONFLICT (source_id, "timestamp") DO UPDATE SET values = EXCLUDED.values;
SELECT values, anomaly_score FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-000000000002';
-- A correction with bad values is rejected like an insert.
UPDATE ad.data_points SET values = '{"x": "oops"}' WHERE source_id = '00000000-0000-0000-0000-000000000002';
-- A point's key never changes.
UPDATE ad.data_points SET "timestamp" = '2026-02-02' WHERE source_id = '00000000-0000-0000-0000-000000000002';
UPDATE ad.data_points SET source_id = '00000000-0000-0000-0000-000000000001'
 WHERE source_id = '00000000-0000-0000-0000-000000000002';
