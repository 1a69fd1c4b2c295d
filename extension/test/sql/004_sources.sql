-- Sources: deleting one deletes its points (and anomalies); ids are permanent; bad values are refused.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-000000000003', 'gone-soon');
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT '00000000-0000-0000-0000-000000000003', '2026-03-01'::timestamptz + g * interval '1 minute', '{"x": 1}'
  FROM generate_series(1, 10) g;
INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score)
SELECT id, "timestamp", source_id, 'x', 'test', 'high', 0.9 FROM ad.data_points
 WHERE source_id = '00000000-0000-0000-0000-000000000003' LIMIT 1;
UPDATE ad.data_sources SET id = '00000000-0000-0000-0000-000000000004' WHERE name = 'gone-soon';
DELETE FROM ad.data_sources WHERE name = 'gone-soon';
SELECT count(*) AS points_left FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-000000000003';
SELECT count(*) AS anomalies_left FROM ad.anomalies WHERE source_id = '00000000-0000-0000-0000-000000000003';
-- (terse: the DETAIL of a check violation shows generated ids and times)
\set VERBOSITY terse
INSERT INTO ad.data_sources (name, type) VALUES ('bad-type', 'carrier-pigeon');
INSERT INTO ad.data_sources (name, config) VALUES ('bad-config', '[1]');
INSERT INTO ad.data_sources (name, status) VALUES ('bad-status', 'sleeping');
INSERT INTO ad.data_sources (name) VALUES ('');
INSERT INTO ad.data_sources (name) VALUES ('web-1');
-- Anomalies keep to the seed's enums and a score in [0, 1]. (Caught, to print the constraint: on TimescaleDB
-- the refusing relation is a chunk, whose number depends on what background jobs created before.)
DO $$
DECLARE constraint_name text;
BEGIN
    BEGIN
        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score)
        VALUES (gen_random_uuid(), now(), '00000000-0000-0000-0000-000000000001', 'x', 'test', 'severe', 0.9);
    EXCEPTION WHEN check_violation THEN
        GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
        RAISE NOTICE 'severity severe refused (%) by %', SQLSTATE, constraint_name;
    END;
    BEGIN
        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score)
        VALUES (gen_random_uuid(), now(), '00000000-0000-0000-0000-000000000001', 'x', 'test', 'high', 1.5);
    EXCEPTION WHEN check_violation THEN
        GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
        RAISE NOTICE 'score 1.5 refused (%) by %', SQLSTATE, constraint_name;
    END;
END
$$;
\set VERBOSITY default
-- The audit log is append-only, even for its owner.
INSERT INTO ad.audit_log (action, entity, entity_id) VALUES ('test', 'source', 'x');
UPDATE ad.audit_log SET action = 'rewritten';
DELETE FROM ad.audit_log;
TRUNCATE ad.audit_log;
SELECT action, entity, entity_id FROM ad.audit_log;
