-- Learning from feedback: per-series threshold adjustments the worker's feedback loop writes and the scoring loop
-- applies. Every adjustment is a row people can read and undo; the bounds are in README, "Learning from feedback".
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.scoring_adjustments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id         uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    metric            text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('raise', 'keep')),
    threshold         double precision NOT NULL CHECK (threshold > 0 AND threshold < 1),
    effective_before  double precision NOT NULL,
    effective_after   double precision NOT NULL,
    reason            text NOT NULL,
    feedback_id       uuid UNIQUE REFERENCES ad.feedback (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz DEFAULT now() + interval '30 days',
    undone_at         timestamptz,
    undone_by         uuid REFERENCES ad.users (id),
    undo_reason       text
);
COMMENT ON TABLE ad.scoring_adjustments IS
    'What feedback taught the worker, per source and metric: raise (a false positive: points must score at least '
    'threshold to be anomalies) or keep (a confirmed anomaly: no raise may go above threshold). Active while not '
    'undone and not expired; undo with ad.undo_adjustment(id).';
COMMENT ON COLUMN ad.scoring_adjustments.id IS 'Adjustment number.';
COMMENT ON COLUMN ad.scoring_adjustments.source_id IS 'The series'' source.';
COMMENT ON COLUMN ad.scoring_adjustments.metric IS 'The series'' metric.';
COMMENT ON COLUMN ad.scoring_adjustments.kind IS 'raise (from a false positive) or keep (from a confirmed anomaly).';
COMMENT ON COLUMN ad.scoring_adjustments.threshold IS
    'raise: the lowest score that stays an anomaly; keep: the highest a raise may go. Capped at the source''s high threshold.';
COMMENT ON COLUMN ad.scoring_adjustments.effective_before IS 'The series'' effective low threshold before this adjustment.';
COMMENT ON COLUMN ad.scoring_adjustments.effective_after IS 'Its effective low threshold with this adjustment.';
COMMENT ON COLUMN ad.scoring_adjustments.reason IS 'Why, for people: the feedback, its score, who gave it, any cap applied.';
COMMENT ON COLUMN ad.scoring_adjustments.feedback_id IS 'The feedback it came from (one adjustment per feedback at most).';
COMMENT ON COLUMN ad.scoring_adjustments.created_at IS 'When the worker made it.';
COMMENT ON COLUMN ad.scoring_adjustments.expires_at IS 'When it stops applying by itself (30 days after it was made); NULL never.';
COMMENT ON COLUMN ad.scoring_adjustments.undone_at IS 'When someone undid it; NULL while it stands.';
COMMENT ON COLUMN ad.scoring_adjustments.undone_by IS 'Who undid it (ad.users).';
COMMENT ON COLUMN ad.scoring_adjustments.undo_reason IS 'Why it was undone.';

CREATE INDEX scoring_adjustments_series_idx ON ad.scoring_adjustments (source_id, metric) WHERE undone_at IS NULL;
COMMENT ON INDEX ad.scoring_adjustments_series_idx IS 'Standing adjustments of a series.';

CREATE VIEW ad.learned_thresholds AS
SELECT a.source_id,
       s.name AS source_name,
       a.metric,
       coalesce((s.config #>> '{thresholds,low}')::double precision, 0.5) AS configured_low,
       max(a.threshold) FILTER (WHERE a.kind = 'raise') AS raised_to,
       min(a.threshold) FILTER (WHERE a.kind = 'keep') AS kept_at,
       CASE WHEN max(a.threshold) FILTER (WHERE a.kind = 'raise') IS NULL
            THEN coalesce((s.config #>> '{thresholds,low}')::double precision, 0.5)
            ELSE greatest(coalesce((s.config #>> '{thresholds,low}')::double precision, 0.5),
                          least(max(a.threshold) FILTER (WHERE a.kind = 'raise'),
                                min(a.threshold) FILTER (WHERE a.kind = 'keep'),
                                coalesce((s.config #>> '{thresholds,high}')::double precision, 0.7)))
       END AS effective_low,
       count(*) AS adjustments,
       max(a.created_at) AS last_adjusted_at
  FROM ad.scoring_adjustments a
  JOIN ad.data_sources s ON s.id = a.source_id
 WHERE a.undone_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now())
 GROUP BY a.source_id, s.name, s.config, a.metric;
COMMENT ON VIEW ad.learned_thresholds IS
    'Per series with standing adjustments: the configured low threshold, what feedback raised it to and kept it '
    'under, and the effective threshold the worker applies: low, or the highest raise capped by the lowest keep '
    'and the high threshold.';
COMMENT ON COLUMN ad.learned_thresholds.source_id IS 'The source.';
COMMENT ON COLUMN ad.learned_thresholds.source_name IS 'Its name.';
COMMENT ON COLUMN ad.learned_thresholds.metric IS 'The metric.';
COMMENT ON COLUMN ad.learned_thresholds.configured_low IS 'The source''s low threshold (config.thresholds.low).';
COMMENT ON COLUMN ad.learned_thresholds.raised_to IS 'The highest standing raise, or NULL.';
COMMENT ON COLUMN ad.learned_thresholds.kept_at IS 'The lowest standing keep, or NULL.';
COMMENT ON COLUMN ad.learned_thresholds.effective_low IS 'The score a point on this series needs to be an anomaly.';
COMMENT ON COLUMN ad.learned_thresholds.adjustments IS 'Standing adjustments.';
COMMENT ON COLUMN ad.learned_thresholds.last_adjusted_at IS 'The latest of them.';

-- Made by the worker, undone by people: both audited.
CREATE FUNCTION ad_internal.adjustment_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (CASE WHEN TG_OP = 'UPDATE' THEN NEW.undone_by END,
            CASE TG_OP WHEN 'INSERT' THEN 'adjustment_made' ELSE 'adjustment_undone' END,
            'scoring_adjustment', NEW.id::text,
            CASE WHEN TG_OP = 'UPDATE' THEN jsonb_build_object('effective_low', NEW.effective_after) END,
            jsonb_strip_nulls(jsonb_build_object('source_id', NEW.source_id, 'metric', NEW.metric, 'kind', NEW.kind,
                                                 'threshold', NEW.threshold, 'feedback_id', NEW.feedback_id,
                                                 'reason', CASE WHEN TG_OP = 'INSERT' THEN NEW.reason ELSE NEW.undo_reason END)));
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.adjustment_changed() IS 'Writes every adjustment made or undone to ad.audit_log.';
REVOKE ALL ON FUNCTION ad_internal.adjustment_changed() FROM PUBLIC;

CREATE TRIGGER adjustment_changed AFTER INSERT OR UPDATE OF undone_at ON ad.scoring_adjustments
    FOR EACH ROW EXECUTE FUNCTION ad_internal.adjustment_changed();
COMMENT ON TRIGGER adjustment_changed ON ad.scoring_adjustments IS 'Audit trail of learning.';

CREATE FUNCTION ad.undo_adjustment(adjustment bigint, reason text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    person ad.users%ROWTYPE;
    found_row ad.scoring_adjustments%ROWTYPE;
BEGIN
    SELECT * INTO found_row FROM ad.scoring_adjustments a WHERE a.id = adjustment FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.undo_adjustment: no adjustment %', adjustment USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO person FROM ad.users u WHERE u.db_role = session_user AND u.active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.undo_adjustment: role "%" is not mapped to an active person, so nobody can be recorded as '
                        'having undone adjustment %', session_user, adjustment
            USING ERRCODE = 'invalid_authorization_specification',
                  HINT = format('Map the login first: INSERT INTO ad.users (name, db_role) VALUES (''Your Name'', %L);', session_user);
    END IF;
    IF found_row.undone_at IS NOT NULL THEN
        RETURN 'already undone';
    END IF;
    UPDATE ad.scoring_adjustments a
       SET undone_at = now(), undone_by = person.id, undo_reason = coalesce(undo_adjustment.reason, 'undone by ' || person.name)
     WHERE a.id = adjustment;
    RETURN 'undone';
END
$fn$;
COMMENT ON FUNCTION ad.undo_adjustment(bigint, text) IS
    'Undoes a learned adjustment (audited, attributed to the mapped person); the series'' threshold follows at the '
    'worker''s next config refresh. Returns undone or already undone.';
REVOKE ALL ON FUNCTION ad.undo_adjustment(bigint, text) FROM PUBLIC;
