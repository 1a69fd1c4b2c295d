-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
-- Quarantine: points the worker could not score. The same block is in sql/updates/0.1.0--0.2.0.sql.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.quarantined_points (
    source_id       uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    point_timestamp timestamptz NOT NULL,
    error           text NOT NULL,
    sqlstate        text,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    requeued_at     timestamptz,
    requeued_by     name,
    PRIMARY KEY (source_id, point_timestamp)
);
COMMENT ON TABLE ad.quarantined_points IS
    'Points the worker could not score: a scoring batch that failed for a reason tied to its rows was split until '
    'the failing point stood alone (or a lone point still hit the statement timeout), and that point was set aside '
    'here so every other point is scored. The point stays in ad.data_points, unscored; the claim skips it while '
    'requeued_at is NULL. Operators read ad.quarantine and call ad.requeue_quarantined() to score it again.';
COMMENT ON COLUMN ad.quarantined_points.source_id IS 'The point''s source (deleting the source deletes this row).';
COMMENT ON COLUMN ad.quarantined_points.point_timestamp IS
    'The point''s "timestamp": with source_id, the point''s key in ad.data_points.';
COMMENT ON COLUMN ad.quarantined_points.error IS 'The server''s error for the point''s batch, in its words.';
COMMENT ON COLUMN ad.quarantined_points.sqlstate IS 'That error''s SQLSTATE (57014: the statement timeout).';
COMMENT ON COLUMN ad.quarantined_points.quarantined_at IS 'When it was last quarantined.';
COMMENT ON COLUMN ad.quarantined_points.attempts IS 'How many times it was quarantined (a re-queued point that fails again counts again).';
COMMENT ON COLUMN ad.quarantined_points.requeued_at IS
    'When an operator re-queued it (ad.requeue_quarantined); NULL while it is quarantined.';
COMMENT ON COLUMN ad.quarantined_points.requeued_by IS 'The login that re-queued it.';
