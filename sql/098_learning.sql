-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Learning from feedback: per-series patterns the worker's feedback loop writes and the scoring loop applies.
-- Every adjustment is a row people can read and undo; the bounds are in README, "Learning from feedback".
SET LOCAL search_path TO pg_catalog, pg_temp;

-- The worker applies the same reduction (ADCore.SeriesLearning); the replay test checks that they agree.
CREATE OR REPLACE VIEW ad.learned_patterns AS
WITH standing AS (
    SELECT * FROM ad.scoring_adjustments a
     WHERE a.undone_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now())
), keeps AS (
    SELECT k.source_id, k.metric, k.direction, min(k.deviation) AS kept_under, count(*) AS n, max(k.created_at) AS last_at
      FROM standing k WHERE k.kind = 'keep'
     GROUP BY k.source_id, k.metric, k.direction
)
SELECT t.source_id,
       s.name AS source_name,
       t.metric,
       t.measure,
       t.direction,
       max(t.deviation) AS tolerated_up_to,
       k.kept_under,
       least(max(t.deviation), k.kept_under) AS effective_tolerance,
       coalesce((s.config #>> '{thresholds,high}')::double precision, 0.65) AS always_alert_from,
       count(*) + coalesce(k.n, 0) AS adjustments,
       greatest(max(t.created_at), k.last_at) AS last_adjusted_at
  FROM standing t
  JOIN ad.data_sources s ON s.id = t.source_id
  LEFT JOIN keeps k ON k.source_id = t.source_id AND k.metric = t.metric AND k.direction = t.direction
 WHERE t.kind = 'tolerate'
 GROUP BY t.source_id, s.name, s.config, t.metric, t.measure, t.direction, k.kept_under, k.n, k.last_at;
COMMENT ON VIEW ad.learned_patterns IS
    'What the worker tolerates because of feedback: per series, measure and direction with a standing false positive, '
    'the deviation up to which a point is not an anomaly (the largest tolerated, under the smallest confirmed limit '
    'in that direction), unless it scores at least the high threshold.';
COMMENT ON COLUMN ad.learned_patterns.source_id IS 'The source.';
COMMENT ON COLUMN ad.learned_patterns.source_name IS 'Its name.';
COMMENT ON COLUMN ad.learned_patterns.metric IS 'The metric.';
COMMENT ON COLUMN ad.learned_patterns.measure IS 'What the deviation measures (see ad.scoring_adjustments.measure).';
COMMENT ON COLUMN ad.learned_patterns.direction IS 'above or below the expected value.';
COMMENT ON COLUMN ad.learned_patterns.tolerated_up_to IS 'The largest standing tolerance, in robust scales.';
COMMENT ON COLUMN ad.learned_patterns.kept_under IS 'The smallest standing limit from confirmed anomalies in this direction, or NULL.';
COMMENT ON COLUMN ad.learned_patterns.effective_tolerance IS 'What the worker applies: the smaller of the two.';
COMMENT ON COLUMN ad.learned_patterns.always_alert_from IS 'The source''s high threshold: points scoring at least this always count.';
COMMENT ON COLUMN ad.learned_patterns.adjustments IS 'Standing adjustments behind this row.';
COMMENT ON COLUMN ad.learned_patterns.last_adjusted_at IS 'The latest of them.';

-- Made by the worker, undone by people: both audited.
CREATE OR REPLACE FUNCTION ad_internal.adjustment_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (CASE WHEN TG_OP = 'UPDATE' THEN NEW.undone_by END,
            CASE TG_OP WHEN 'INSERT' THEN 'adjustment_made' ELSE 'adjustment_undone' END,
            'scoring_adjustment', NEW.id::text,
            CASE WHEN TG_OP = 'UPDATE' THEN jsonb_build_object('effective_tolerance', NEW.effective_after) END,
            jsonb_strip_nulls(jsonb_build_object('source_id', NEW.source_id, 'metric', NEW.metric, 'kind', NEW.kind,
                                                 'measure', NEW.measure, 'direction', NEW.direction, 'deviation', NEW.deviation, 'feedback_id', NEW.feedback_id,
                                                 'reason', CASE WHEN TG_OP = 'INSERT' THEN NEW.reason ELSE NEW.undo_reason END)));
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.adjustment_changed() IS 'Writes every adjustment made or undone to ad.audit_log.';
REVOKE ALL ON FUNCTION ad_internal.adjustment_changed() FROM PUBLIC;

CREATE OR REPLACE TRIGGER adjustment_changed AFTER INSERT OR UPDATE OF undone_at ON ad.scoring_adjustments
    FOR EACH ROW EXECUTE FUNCTION ad_internal.adjustment_changed();
COMMENT ON TRIGGER adjustment_changed ON ad.scoring_adjustments IS 'Audit trail of learning.';

CREATE OR REPLACE FUNCTION ad.undo_adjustment(adjustment bigint, reason text DEFAULT NULL) RETURNS text
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
    SELECT * INTO person FROM ad.users u WHERE u.id = ad.current_person() AND u.active;  -- login or API token
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.undo_adjustment: % is not mapped to an active person, so nobody can be recorded as '
                        'having undone adjustment %',
                        CASE WHEN ad.current_actor() = session_user::text THEN format('role "%s"', session_user)
                             ELSE ad.current_actor() END, adjustment
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
    'Undoes a learned adjustment (audited, attributed to the mapped person); the worker follows at its next '
    'config refresh. Returns undone or already undone.';
REVOKE ALL ON FUNCTION ad.undo_adjustment(bigint, text) FROM PUBLIC;
