-- 0.1.0 to 0.2.0. sql/ was laid out for upgrades (pre_install/, re-run files, updates/); the tables are the same.
-- After this step, every update re-runs sql/NNN_*.sql (functions, triggers, views, comments, grants).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- An anomaly's explanation is one typed, versioned document (adworker's Explanation): the column says so.
COMMENT ON COLUMN ad.anomalies.explanation IS
    'Why it fired, for people: one versioned document (adworker''s Explanation type documents it): version, '
    'detector, decided_by (the deciding stream), metric, actual, expected, expected_range [low, high], score, '
    'surprise, top_contributions [{metric, feature, value, surprise}], metrics_off, pattern {measure, direction, '
    'deviation}, resting, and reason (one sentence saying why). Rows written by 0.1.0 have no version, decided_by '
    'or reason.';

-- Issue 18, item 3: a point's identity is its key. Anomalies are unique per (source_id, point_timestamp, detector)
-- rather than per data_point_id, which a loader could choose and repeat across sources. A 0.1.0 database may hold
-- two anomalies of one key (a point deleted and sent again got a new id, and was scored again): the latest stays,
-- and the alerts and feedback of the others move to it first, so nothing that refers to them is lost.
WITH dup AS (
    SELECT id, point_timestamp, keep_id
      FROM (SELECT id, point_timestamp,
                   first_value(id) OVER (PARTITION BY source_id, point_timestamp, detector
                                         ORDER BY detected_at DESC, id) AS keep_id
              FROM ad.anomalies) a
     WHERE id <> keep_id
), moved_alerts AS (
    UPDATE ad.alerts al SET anomaly_id = d.keep_id
      FROM dup d WHERE al.anomaly_id = d.id AND al.anomaly_timestamp = d.point_timestamp
), moved_feedback AS (
    UPDATE ad.feedback f SET anomaly_id = d.keep_id
      FROM dup d WHERE f.anomaly_id = d.id AND f.anomaly_timestamp = d.point_timestamp
)
DELETE FROM ad.anomalies a USING dup d WHERE a.id = d.id AND a.point_timestamp = d.point_timestamp;
ALTER TABLE ad.anomalies DROP CONSTRAINT anomalies_data_point_id_point_timestamp_detector_key;
ALTER TABLE ad.anomalies ADD CONSTRAINT anomalies_source_id_point_timestamp_detector_key
    UNIQUE (source_id, point_timestamp, detector);
COMMENT ON TABLE ad.anomalies IS
    'Points the worker scored over their threshold. Refers to its point by its key (source_id, point_timestamp), '
    'and by data_point_id, the id the server gave it; no foreign key, because data_points may be a hypertable. '
    'Keyed on the point''s time, so it can be one too.';
COMMENT ON COLUMN ad.anomalies.data_point_id IS
    'The anomalous point''s id (ad.data_points.id), which the server derives from its source and time '
    '(ad_internal.point_id); rows written before 0.2.0 keep the id the point had then.';
COMMENT ON COLUMN ad.data_points.id IS
    'Point id, given by the server: when the worker scores the point it sets it to ad_internal.point_id(source_id, '
    '"timestamp"), unique across sources, and the point''s anomalies refer to it. Leave it out; an id a loader sends '
    'lasts only until then. The point''s identity is its key (source_id, "timestamp").';
