-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.data_sources (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    type        text NOT NULL DEFAULT 'sql' CHECK (type IN ('sql', 'api', 'kafka', 'db_poll')),
    config      jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad.data_sources IS
    'A source of observations (a host, a service, a sensor). Each data point belongs to one source.';
COMMENT ON COLUMN ad.data_sources.id IS 'Source id; data_points.source_id refers to it.';
COMMENT ON COLUMN ad.data_sources.name IS 'Unique human name, 1 to 200 characters.';
COMMENT ON COLUMN ad.data_sources.type IS 'How rows arrive: sql (INSERT/COPY, the default), api, kafka or db_poll.';
COMMENT ON COLUMN ad.data_sources.config IS
    'Per-source detection settings (windows, seasonality, thresholds, detectors) as a JSON object; see README.';
COMMENT ON COLUMN ad.data_sources.status IS
    'active (scored), paused (points accepted and kept unscored until active again) or disabled (inserts rejected).';
COMMENT ON COLUMN ad.data_sources.description IS 'Free text for people.';
COMMENT ON COLUMN ad.data_sources.created_at IS 'When the source was registered.';
COMMENT ON COLUMN ad.data_sources.updated_at IS 'When the row last changed.';
