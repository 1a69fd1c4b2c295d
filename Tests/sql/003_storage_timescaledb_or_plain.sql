-- With TimescaleDB (licensed): hypertables, compression segmented by source, a real-time continuous aggregate,
-- a retention policy the user can change. Without it: plain tables and a view with the same columns.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;
-- timescaledb_information exists only with TimescaleDB: its queries run through EXECUTE, when their branch is taken.
CREATE FUNCTION pg_temp.q(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN EXECUTE query INTO r; RETURN r; END $$;
CREATE TEMP TABLE tsdb AS SELECT ad_internal.timescaledb_schema() IS NOT NULL AS present,
                                 ad_internal.timescaledb_licensed() AS licensed;

SELECT is((SELECT array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
             FROM pg_attribute WHERE attrelid = 'ad.anomaly_summary_hourly'::regclass AND attnum > 0),
          ARRAY['bucket timestamp with time zone', 'source_id uuid', 'severity text', 'anomalies bigint',
                'max_score double precision', 'avg_score double precision'],
          'ad.anomaly_summary_hourly has the same columns either way');

INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000000a2', 'tap-storage');
INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score)
SELECT gen_random_uuid(), '2026-05-01 10:00:00+00'::timestamptz + g * interval '10 minutes',
       '00000000-0000-0000-0000-0000000000a2', 'x', 'test', 'high', 0.5 + g / 100.0
  FROM generate_series(0, 8) g;
SELECT results_eq(
    $$SELECT bucket, anomalies, round(max_score::numeric, 2) FROM ad.anomaly_summary_hourly
       WHERE source_id = '00000000-0000-0000-0000-0000000000a2' ORDER BY bucket$$,
    $$VALUES ('2026-05-01 10:00:00+00'::timestamptz, 6::bigint, 0.55::numeric), ('2026-05-01 11:00:00+00', 3, 0.58)$$,
    'the hourly summary counts fresh anomalies at once, in UTC hours');

SELECT CASE WHEN (SELECT present FROM tsdb) THEN
    is(pg_temp.q($q$SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_schema = 'ad'
         AND hypertable_name IN ('data_points', 'anomalies')$q$), '2', 'data_points and anomalies are hypertables')
ELSE
    is((SELECT array_agg(relkind::text ORDER BY relname) FROM pg_class WHERE relnamespace = 'ad'::regnamespace
         AND relname IN ('data_points', 'anomalies')), ARRAY['r', 'r'], 'without TimescaleDB, data_points and anomalies are plain tables')
END;

SELECT CASE WHEN (SELECT present FROM tsdb) THEN
    is(pg_temp.q($q$SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_schema = 'ad'
         AND hypertable_name = 'data_points'$q$), '1 day', 'data_points chunks are one day')
ELSE
    is((SELECT relkind::text FROM pg_class WHERE oid = 'ad.anomaly_summary_hourly'::regclass), 'v',
       'without TimescaleDB, the summary is an ordinary view')
END;

SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_schema = 'ad'
         AND hypertable_name = 'data_points'$q$), 'true', 'data_points is compressed')
ELSE skip('no licensed TimescaleDB: compression not used', 1) END;

SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT attname::text FROM timescaledb_information.compression_settings WHERE hypertable_schema = 'ad'
         AND hypertable_name = 'data_points' AND segmentby_column_index = 1$q$), 'source_id', 'compression is segmented by source')
ELSE skip('no licensed TimescaleDB: compression not used', 1) END;

SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT config ->> 'compress_after' FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'
         AND hypertable_schema = 'ad' AND hypertable_name = 'data_points'$q$), '7 days', 'chunks compress after 7 days')
ELSE skip('no licensed TimescaleDB: compression not used', 1) END;

SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_schema = 'ad'
         AND view_name = 'anomaly_summary_hourly'$q$), 'false', 'the summary is a real-time continuous aggregate')
ELSE skip('no licensed TimescaleDB: no continuous aggregate', 1) END;

SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT schedule_interval FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'
         AND hypertable_schema = 'ad' AND hypertable_name = 'anomaly_summary_hourly'$q$), '01:00:00',
       'the summary is refreshed hourly')
ELSE skip('no licensed TimescaleDB: no continuous aggregate', 1) END;

SELECT is(ad.set_retention('90 days'),
          CASE WHEN (SELECT licensed FROM tsdb) THEN 'data points older than 90 days are dropped by a TimescaleDB retention policy'
               ELSE 'data points older than 90 days are deleted each time ad.apply_retention() runs' END,
          'ad.set_retention says how retention is done');

SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT config ->> 'drop_after' FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'
         AND hypertable_schema = 'ad' AND hypertable_name = 'data_points'$q$), '90 days', 'the retention policy drops after 90 days')
ELSE
    is((SELECT value FROM ad.settings WHERE key = 'retention'), '"90 days"'::jsonb, 'the retention setting is stored')
END;

SELECT ad.set_retention(NULL);
SELECT CASE WHEN (SELECT licensed FROM tsdb) THEN
    is(pg_temp.q($q$SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'
         AND hypertable_schema = 'ad'$q$), '0', 'keeping forever removes the retention policy')
ELSE
    is(ad.apply_retention(), 0::bigint, 'keeping forever deletes nothing')
END;

SELECT * FROM finish();
ROLLBACK;
