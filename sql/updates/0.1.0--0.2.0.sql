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
