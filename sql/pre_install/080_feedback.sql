-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.feedback (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    anomaly_id        uuid NOT NULL,
    anomaly_timestamp timestamptz NOT NULL,
    alert_id          uuid REFERENCES ad.alerts (id) ON DELETE SET NULL,
    user_id           uuid REFERENCES ad.users (id),
    feedback_type     text NOT NULL
                      CHECK (feedback_type IN ('false_positive', 'true_positive', 'acknowledged', 'resolved')),
    notes             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    result            jsonb,
    FOREIGN KEY (anomaly_id, anomaly_timestamp) REFERENCES ad.anomalies (id, point_timestamp) ON DELETE CASCADE
);
COMMENT ON TABLE ad.feedback IS
    'Operator judgements on anomalies; the worker consumes unprocessed rows and adjusts scoring.';
COMMENT ON COLUMN ad.feedback.id IS 'Feedback id.';
COMMENT ON COLUMN ad.feedback.anomaly_id IS 'The anomaly judged.';
COMMENT ON COLUMN ad.feedback.anomaly_timestamp IS 'That anomaly''s point_timestamp.';
COMMENT ON COLUMN ad.feedback.alert_id IS 'The alert it came through, if any.';
COMMENT ON COLUMN ad.feedback.user_id IS 'Who gave it (ad.users).';
COMMENT ON COLUMN ad.feedback.feedback_type IS 'false_positive, true_positive, acknowledged or resolved.';
COMMENT ON COLUMN ad.feedback.notes IS 'Operator notes.';
COMMENT ON COLUMN ad.feedback.created_at IS 'When it was given.';
COMMENT ON COLUMN ad.feedback.processed_at IS 'When the worker applied it; NULL while queued.';
COMMENT ON COLUMN ad.feedback.result IS 'What applying it changed.';

CREATE INDEX feedback_unprocessed_idx ON ad.feedback (created_at) WHERE processed_at IS NULL;
COMMENT ON INDEX ad.feedback_unprocessed_idx IS 'The feedback queue.';
