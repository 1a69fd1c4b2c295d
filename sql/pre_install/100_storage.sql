-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
-- Storage features that need TimescaleDB's community license, and their plain-PostgreSQL equivalents.
-- Whatever the path, users see the same tables and a relation ad.anomaly_summary_hourly with the same columns.
SET LOCAL search_path TO pg_catalog, pg_temp;

DO $do$
DECLARE
    ts name := ad_internal.timescaledb_schema();
    -- Well past any scoring backlog: UPDATE on compressed chunks works but is slow.
    compress_after interval := interval '7 days';
    summary_select text := $sql$
        SELECT %s AS bucket,
               a.source_id,
               a.severity,
               count(*) AS anomalies,
               max(a.score) AS max_score,
               avg(a.score) AS avg_score
          FROM ad.anomalies a
         GROUP BY 1, 2, 3$sql$;
BEGIN
    IF ts IS NOT NULL THEN
        INSERT INTO ad_internal.storage (key, value)
        SELECT 'timescaledb_version', e.extversion FROM pg_extension e WHERE e.extname = 'timescaledb';
        INSERT INTO ad_internal.storage (key, value)
        VALUES ('timescaledb_license', coalesce(current_setting('timescaledb.license', true), 'apache'));
    END IF;

    IF ad_internal.timescaledb_licensed() THEN
        -- Compress whole source segments, newest first; only chunks well past the scoring backlog.
        EXECUTE 'ALTER TABLE ad.data_points SET (timescaledb.compress, '
                'timescaledb.compress_segmentby = ''source_id'', timescaledb.compress_orderby = ''"timestamp" DESC'')';
        EXECUTE format('SELECT %I.add_compression_policy(%L::regclass, compress_after => %L::interval)',
                       ts, 'ad.data_points', compress_after);
        INSERT INTO ad_internal.storage (key, value) VALUES ('compression', ad_internal.interval_text(compress_after));
        INSERT INTO ad_internal.storage (key, value) VALUES ('retention_policy_schema', ts);

        EXECUTE 'CREATE MATERIALIZED VIEW ad.anomaly_summary_hourly '
                'WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS '
                || format(summary_select, format('%I.time_bucket(interval ''1 hour'', a.point_timestamp)', ts))
                || ' WITH NO DATA';
        EXECUTE format('SELECT %I.add_continuous_aggregate_policy(%L::regclass, start_offset => NULL, '
                       'end_offset => interval ''1 hour'', schedule_interval => interval ''1 hour'')',
                       ts, 'ad.anomaly_summary_hourly');
        INSERT INTO ad_internal.storage (key, value) VALUES ('continuous_aggregate', 'ad.anomaly_summary_hourly');
    ELSE
        -- time_bucket buckets in UTC; date_trunc with an explicit zone does the same.
        EXECUTE 'CREATE VIEW ad.anomaly_summary_hourly AS '
                || format(summary_select, 'date_trunc(''hour'', a.point_timestamp, ''UTC'')');
    END IF;
    IF ts IS NOT NULL AND NOT ad_internal.timescaledb_licensed() THEN
        INSERT INTO ad_internal.storage (key, value) VALUES ('hypertable_schema', ts);
    END IF;
END
$do$;

COMMENT ON VIEW ad.anomaly_summary_hourly IS
    'Anomalies per hour, source and severity. With TimescaleDB a real-time continuous aggregate; otherwise a view.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.bucket IS 'Start of the hour (UTC buckets).';
COMMENT ON COLUMN ad.anomaly_summary_hourly.source_id IS 'The source.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.severity IS 'Severity.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.anomalies IS 'Anomalies in the hour.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.max_score IS 'Highest score in the hour.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.avg_score IS 'Mean score in the hour.';
