-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
-- What training and the drift monitor keep beside the models: labelled incident windows, drift reports.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.labelled_incidents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id   uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    note        text CHECK (length(note) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT session_user,
    CHECK (ends_at > starts_at)
);
COMMENT ON TABLE ad.labelled_incidents IS
    'Incident windows people recorded: every point of the source with "timestamp" in [starts_at, ends_at) is '
    'anomalous when a model is evaluated, and is left out of what it trains on. Record one with ad.label_incident().';
COMMENT ON COLUMN ad.labelled_incidents.id IS 'Label number.';
COMMENT ON COLUMN ad.labelled_incidents.source_id IS 'The source the incident happened on.';
COMMENT ON COLUMN ad.labelled_incidents.starts_at IS 'First instant of the incident.';
COMMENT ON COLUMN ad.labelled_incidents.ends_at IS 'End of the incident (exclusive).';
COMMENT ON COLUMN ad.labelled_incidents.note IS 'What happened, in words.';
COMMENT ON COLUMN ad.labelled_incidents.created_at IS 'When it was recorded.';
COMMENT ON COLUMN ad.labelled_incidents.created_by IS 'The login that recorded it.';
CREATE INDEX labelled_incidents_source_idx ON ad.labelled_incidents (source_id, starts_at);
COMMENT ON INDEX ad.labelled_incidents_source_idx IS 'The labels of one source over a time range.';

CREATE TABLE ad.drift_reports (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id                uuid NOT NULL REFERENCES ad.ml_models (id) ON DELETE CASCADE,
    checked_at              timestamptz NOT NULL DEFAULT now(),
    recent_from             timestamptz NOT NULL,
    recent_to               timestamptz NOT NULL,
    recent_points           bigint NOT NULL CHECK (recent_points >= 0),
    features                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(features) = 'array'),
    max_psi                 double precision,
    max_ks                  double precision,
    anomaly_rate            double precision,
    reference_anomaly_rate  double precision,
    threshold               double precision NOT NULL,
    drifted                 boolean NOT NULL,
    retrain_model_id        uuid REFERENCES ad.ml_models (id) ON DELETE SET NULL
);
COMMENT ON TABLE ad.drift_reports IS
    'One check of a production model by the drift monitor: its recent inputs against its training window, '
    'feature by feature, and its recent anomaly rate against the rate on its evaluation split.';
COMMENT ON COLUMN ad.drift_reports.id IS 'Report number.';
COMMENT ON COLUMN ad.drift_reports.model_id IS 'The production model checked.';
COMMENT ON COLUMN ad.drift_reports.checked_at IS 'When the check ran.';
COMMENT ON COLUMN ad.drift_reports.recent_from IS 'Start of the recent window compared.';
COMMENT ON COLUMN ad.drift_reports.recent_to IS 'End of the recent window compared.';
COMMENT ON COLUMN ad.drift_reports.recent_points IS 'Points of the source in the recent window.';
COMMENT ON COLUMN ad.drift_reports.features IS
    'Per model feature: {"feature", "psi", "ks", "ks_p_value"}, population stability index and two-sample '
    'Kolmogorov-Smirnov statistic of the recent values against the training window''s.';
COMMENT ON COLUMN ad.drift_reports.max_psi IS 'The largest feature PSI (NULL when too few recent points).';
COMMENT ON COLUMN ad.drift_reports.max_ks IS 'The largest feature KS statistic.';
COMMENT ON COLUMN ad.drift_reports.anomaly_rate IS 'Share of recent points the model scored at or above low.';
COMMENT ON COLUMN ad.drift_reports.reference_anomaly_rate IS 'The same share on its evaluation split when trained.';
COMMENT ON COLUMN ad.drift_reports.threshold IS 'The PSI past which the model counts as drifted (setting drift_psi_threshold).';
COMMENT ON COLUMN ad.drift_reports.drifted IS 'Whether max_psi passed the threshold.';
COMMENT ON COLUMN ad.drift_reports.retrain_model_id IS 'The retraining this report requested, if it did.';
CREATE INDEX drift_reports_model_idx ON ad.drift_reports (model_id, checked_at);
COMMENT ON INDEX ad.drift_reports_model_idx IS 'The reports of one model over time.';
