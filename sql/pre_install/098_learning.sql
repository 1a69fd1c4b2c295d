-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
-- Learning from feedback: per-series patterns the worker's feedback loop writes and the scoring loop applies.
-- Every adjustment is a row people can read and undo; the bounds are in README, "Learning from feedback".
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.scoring_adjustments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id         uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    metric            text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('tolerate', 'keep')),
    measure           text NOT NULL CHECK (measure IN ('value', 'step', 'level_shift', 'daily', 'weekly')),
    direction         text NOT NULL CHECK (direction IN ('above', 'below')),
    deviation         double precision NOT NULL CHECK (deviation >= 0 AND deviation < 'infinity'),
    score             double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    effective_before  double precision,
    effective_after   double precision,
    reason            text NOT NULL,
    feedback_id       uuid UNIQUE REFERENCES ad.feedback (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz DEFAULT now() + interval '30 days',
    undone_at         timestamptz,
    undone_by         uuid REFERENCES ad.users (id),
    undo_reason       text
);
COMMENT ON TABLE ad.scoring_adjustments IS
    'What feedback taught the worker, per source and metric. tolerate (a false positive): points whose '
    'measure and direction match and whose deviation is at most deviation are not anomalies unless they score at '
    'least the source''s high threshold. keep (a confirmed anomaly): no tolerance in that direction, of any measure, '
    'may reach deviation. Active while not undone and not expired; undo with ad.undo_adjustment(id).';
COMMENT ON COLUMN ad.scoring_adjustments.id IS 'Adjustment number.';
COMMENT ON COLUMN ad.scoring_adjustments.source_id IS 'The series'' source.';
COMMENT ON COLUMN ad.scoring_adjustments.metric IS 'The series'' metric.';
COMMENT ON COLUMN ad.scoring_adjustments.kind IS 'tolerate (from a false positive) or keep (from a confirmed anomaly).';
COMMENT ON COLUMN ad.scoring_adjustments.measure IS
    'What the judged anomaly''s deviation measures (its explanation.pattern): value (against the window''s median), '
    'step (from the previous value), level_shift, daily or weekly (from a season before). A keep limits every measure '
    'in its direction.';
COMMENT ON COLUMN ad.scoring_adjustments.direction IS 'above or below the expected value.';
COMMENT ON COLUMN ad.scoring_adjustments.deviation IS
    'In robust scales from the expected value. tolerate: the judged deviation d times 1.1 plus 3, the most a similar '
    'point may deviate and be normal; keep: (d - 3) / 1.1 for a confirmed d, the limit no tolerance reaches.';
COMMENT ON COLUMN ad.scoring_adjustments.score IS 'The judged anomaly''s score.';
COMMENT ON COLUMN ad.scoring_adjustments.effective_before IS
    'The tolerance of the judged anomaly''s measure and direction on this series before this adjustment (NULL: none).';
COMMENT ON COLUMN ad.scoring_adjustments.effective_after IS 'That tolerance with this adjustment (NULL: none).';
COMMENT ON COLUMN ad.scoring_adjustments.reason IS 'Why, for people: the feedback, its score and pattern, who gave it, any limit.';
COMMENT ON COLUMN ad.scoring_adjustments.feedback_id IS 'The feedback it came from (one adjustment per feedback at most).';
COMMENT ON COLUMN ad.scoring_adjustments.created_at IS 'When the worker made it.';
COMMENT ON COLUMN ad.scoring_adjustments.expires_at IS 'When it stops applying by itself (30 days after it was made); NULL never.';
COMMENT ON COLUMN ad.scoring_adjustments.undone_at IS 'When someone undid it; NULL while it stands.';
COMMENT ON COLUMN ad.scoring_adjustments.undone_by IS 'Who undid it (ad.users).';
COMMENT ON COLUMN ad.scoring_adjustments.undo_reason IS 'Why it was undone.';

CREATE INDEX scoring_adjustments_series_idx ON ad.scoring_adjustments (source_id, metric) WHERE undone_at IS NULL;
COMMENT ON INDEX ad.scoring_adjustments_series_idx IS 'Standing adjustments of a series.';
