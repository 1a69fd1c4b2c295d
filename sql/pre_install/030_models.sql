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
    progress    text,
    started_at  timestamptz,
    claimed_by  text,
    lease_until timestamptz,
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    retrain_of  uuid REFERENCES ad.ml_models (id) ON DELETE SET NULL,
    mlflow      jsonb CHECK (mlflow IS NULL OR jsonb_typeof(mlflow) = 'object'),
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
COMMENT ON COLUMN ad.ml_models.progress IS 'What training is doing now, in words (updated while it runs).';
COMMENT ON COLUMN ad.ml_models.started_at IS 'When a worker first claimed the training job.';
COMMENT ON COLUMN ad.ml_models.claimed_by IS 'The worker that holds the training job.';
COMMENT ON COLUMN ad.ml_models.lease_until IS
    'Until when that worker holds it; renewed while it trains. Past it, another worker takes the job over.';
COMMENT ON COLUMN ad.ml_models.attempts IS 'How many times a worker claimed the training job.';
COMMENT ON COLUMN ad.ml_models.retrain_of IS 'The production model whose drift asked for this one, if any.';
COMMENT ON COLUMN ad.ml_models.mlflow IS 'Where the run was logged in MLflow (experiment, run, model version), if it was.';

-- The built-in streaming scorer is a model too, so every anomaly names the model that produced it. Its id is fixed:
-- ad.anomalies.model_id defaults to it.
INSERT INTO ad.ml_models (id, name, version, algorithm, source_id, status, parameters, trained_at, promoted_at)
VALUES ('00000000-0000-4000-8000-000000000001', 'streaming', 1, 'streaming', NULL, 'production',
        '{"description": "The built-in streaming scorer: per-metric robust, novelty, burst, level-shift and seasonal streams (source config)."}',
        now(), now());

CREATE UNIQUE INDEX ml_models_one_production_idx ON ad.ml_models ((coalesce(source_id, '00000000-0000-0000-0000-000000000000')))
    WHERE status = 'production';
COMMENT ON INDEX ad.ml_models_one_production_idx IS
    'At most one production model per scope: a source, or all sources (the built-in streaming scorer).';
CREATE INDEX ml_models_jobs_idx ON ad.ml_models (created_at) WHERE status IN ('training', 'evaluating');
COMMENT ON INDEX ad.ml_models_jobs_idx IS 'Training jobs waiting or running, for the worker''s claim.';
