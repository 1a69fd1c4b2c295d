-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.data_points (
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    source_id     uuid NOT NULL,
    "timestamp"   timestamptz NOT NULL,
    values        jsonb NOT NULL,
    features      jsonb,
    anomaly_score double precision CHECK (anomaly_score BETWEEN 0 AND 1),
    PRIMARY KEY (source_id, "timestamp")
) WITH (fillfactor = 80);
COMMENT ON TABLE ad.data_points IS
    'Observations: one row is one source at one time, with one or more metrics. Data engineers INSERT or COPY here; '
    'rows with anomaly_score NULL are the scoring queue. A duplicate (source_id, timestamp) is a unique violation; '
    'use ON CONFLICT (source_id, "timestamp") DO NOTHING to make re-sends idempotent.';
COMMENT ON COLUMN ad.data_points.id IS
    'Point id, given by the server: when the worker scores the point it sets it to ad_internal.point_id(source_id, '
    '"timestamp"), unique across sources, and the point''s anomalies refer to it. Leave it out; an id a loader sends '
    'lasts only until then. The point''s identity is its key (source_id, "timestamp").';
COMMENT ON COLUMN ad.data_points.source_id IS
    'The source (ad.data_sources.id). Enforced by trigger rather than a foreign key: checked once per statement, '
    'with the same KEY SHARE lock a foreign key takes; deleting a source deletes its points.';
COMMENT ON COLUMN ad.data_points."timestamp" IS 'Observation time. Required.';
COMMENT ON COLUMN ad.data_points.values IS
    'JSON object of metric name to finite number, for example {"cpu": 0.93, "mem": 512}.';
COMMENT ON COLUMN ad.data_points.features IS 'Features the worker computed for this point (set when scored).';
COMMENT ON COLUMN ad.data_points.anomaly_score IS 'Calibrated anomaly score in [0, 1]; NULL until scored.';

-- The queue: unscored rows in time order, small because scored rows leave it.
CREATE INDEX data_points_unscored_idx ON ad.data_points ("timestamp", source_id) WHERE anomaly_score IS NULL;
COMMENT ON INDEX ad.data_points_unscored_idx IS 'Finds unscored points (the scoring queue) in time order.';

-- Time-range reads across sources (BI, retention): BRIN costs next to nothing on insert for time-ordered data.
CREATE INDEX data_points_time_brin ON ad.data_points USING brin ("timestamp");
COMMENT ON INDEX ad.data_points_time_brin IS 'Time-range scans across all sources.';

-- One day per chunk: at a thousand series a point every ten seconds that is a few GB, well under memory.
SELECT ad_internal.make_hypertable('ad.data_points', 'timestamp', interval '1 day');
