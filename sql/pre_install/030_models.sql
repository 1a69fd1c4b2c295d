-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.ml_models (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    algorithm   text NOT NULL CHECK (length(algorithm) BETWEEN 1 AND 100),
    source_id   uuid REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'training'
                CHECK (status IN ('training', 'evaluating', 'registered', 'production', 'deprecated', 'failed')),
    parameters  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    metrics     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metrics) = 'object'),
    artifact    bytea,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT current_user,
    trained_at  timestamptz,
    promoted_at timestamptz,
    UNIQUE (name, version)
);
COMMENT ON TABLE ad.ml_models IS
    'Trained models and their life cycle: training, evaluating, registered, production, deprecated (failed when training fails).';
COMMENT ON COLUMN ad.ml_models.id IS 'Model id; anomalies.model_id refers to it.';
COMMENT ON COLUMN ad.ml_models.name IS 'Model name; versions of one name form its history.';
COMMENT ON COLUMN ad.ml_models.version IS 'Version within the name, from 1.';
COMMENT ON COLUMN ad.ml_models.algorithm IS 'Detector or learning algorithm, for example robust_mad or isolation_forest.';
COMMENT ON COLUMN ad.ml_models.source_id IS 'The source it was trained for, or NULL for all sources.';
COMMENT ON COLUMN ad.ml_models.status IS 'Life-cycle state.';
COMMENT ON COLUMN ad.ml_models.parameters IS 'Training parameters (hyperparameters, training window).';
COMMENT ON COLUMN ad.ml_models.metrics IS 'Evaluation metrics (precision, recall, f1, roc_auc, ...).';
COMMENT ON COLUMN ad.ml_models.artifact IS 'Serialized model, written by the worker.';
COMMENT ON COLUMN ad.ml_models.error IS 'Why training failed, when status is failed.';
COMMENT ON COLUMN ad.ml_models.created_at IS 'When the model was requested.';
COMMENT ON COLUMN ad.ml_models.created_by IS 'Role that requested it.';
COMMENT ON COLUMN ad.ml_models.trained_at IS 'When training finished.';
COMMENT ON COLUMN ad.ml_models.promoted_at IS 'When it last became production.';

CREATE UNIQUE INDEX ml_models_one_production_idx ON ad.ml_models (name) WHERE status = 'production';
COMMENT ON INDEX ad.ml_models_one_production_idx IS 'At most one production version per model name.';
