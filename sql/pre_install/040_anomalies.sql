-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.anomalies (
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    data_point_id     uuid NOT NULL,
    point_timestamp   timestamptz NOT NULL,
    source_id         uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    metric            text NOT NULL,
    model_id          uuid DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES ad.ml_models (id) ON DELETE SET NULL,
    detector          text NOT NULL,
    severity          text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    score             double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    explanation       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(explanation) = 'object'),
    status            text NOT NULL DEFAULT 'detected'
                      CHECK (status IN ('detected', 'acknowledged', 'confirmed', 'resolved', 'false_positive')),
    notes             text,
    detected_at       timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz,
    status_changed_by uuid,
    PRIMARY KEY (id, point_timestamp),
    UNIQUE (source_id, point_timestamp, detector)
);
COMMENT ON TABLE ad.anomalies IS
    'Points the worker scored over their threshold. Refers to its point by its key (source_id, point_timestamp), '
    'and by data_point_id, the id the server gave it; no foreign key, because data_points may be a hypertable. '
    'Keyed on the point''s time, so it can be one too.';
COMMENT ON COLUMN ad.anomalies.id IS 'Anomaly id (unique together with point_timestamp).';
COMMENT ON COLUMN ad.anomalies.data_point_id IS
    'The anomalous point''s id (ad.data_points.id), which the server derives from its source and time '
    '(ad_internal.point_id); rows written before 0.2.0 keep the id the point had then.';
COMMENT ON COLUMN ad.anomalies.point_timestamp IS 'The anomalous point''s timestamp.';
COMMENT ON COLUMN ad.anomalies.source_id IS 'The point''s source.';
COMMENT ON COLUMN ad.anomalies.metric IS 'The metric that contributed most (the point may be multivariate).';
COMMENT ON COLUMN ad.anomalies.model_id IS
    'The model that produced it: a trained model (ad.ml_models), or the built-in streaming scorer''s row (name streaming).';
COMMENT ON COLUMN ad.anomalies.detector IS 'The detector (or ensemble) that produced the score.';
COMMENT ON COLUMN ad.anomalies.severity IS
    'low, medium, high or critical: the tier the score reaches in the source''s thresholds, capped by the tier the '
    'size of the deviation reaches (the size alone once it has lasted); see explanation.severity_basis.';
COMMENT ON COLUMN ad.anomalies.score IS 'Calibrated score in [0, 1]; one threshold means the same on every series.';
COMMENT ON COLUMN ad.anomalies.explanation IS
    'Why it fired, for people: one versioned document (adworker''s Explanation type documents it): version, '
    'detector, decided_by (the deciding stream), metric, actual, expected, expected_range [low, high], score, '
    'surprise, top_contributions [{metric, feature, value, surprise}], metrics_off, pattern {measure, direction, '
    'deviation}, resting, reason (one sentence saying why), summary (a few words), severity_basis {by_score, '
    'by_size, size, history, lasting}. Rows written by 0.1.0 have no version, decided_by, reason, summary or '
    'severity_basis.';
COMMENT ON COLUMN ad.anomalies.status IS
    'detected, acknowledged, confirmed (a true positive), resolved or false_positive; set by operators through the '
    'state machine in ad.status_transitions.';
COMMENT ON COLUMN ad.anomalies.notes IS 'Operator notes.';
COMMENT ON COLUMN ad.anomalies.detected_at IS 'When the worker detected it.';
COMMENT ON COLUMN ad.anomalies.status_changed_at IS 'When status last changed.';
COMMENT ON COLUMN ad.anomalies.status_changed_by IS 'The ad.users row that last changed status.';

CREATE INDEX anomalies_source_time_idx ON ad.anomalies (source_id, point_timestamp DESC);
COMMENT ON INDEX ad.anomalies_source_time_idx IS 'Recent anomalies of a source.';
CREATE INDEX anomalies_detected_idx ON ad.anomalies (detected_at DESC);
COMMENT ON INDEX ad.anomalies_detected_idx IS 'Latest detections first.';

-- Hypertable on the point's time (so the unique key can include it); anomalies are sparse, so chunks are long.
SELECT ad_internal.make_hypertable('ad.anomalies', 'point_timestamp', interval '30 days');
