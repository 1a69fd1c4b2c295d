-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Quarantine: what operators read (ad.quarantine) and how they re-queue (ad.requeue_quarantined). The worker
-- writes ad.quarantined_points (sql/pre_install/045_quarantine.sql) when a lone point still fails its batch.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE VIEW ad.quarantine AS
SELECT q.source_id,
       s.name AS source_name,
       q.point_timestamp,
       p.values,
       q.error,
       q.sqlstate,
       q.quarantined_at,
       q.attempts,
       q.requeued_at,
       q.requeued_by,
       CASE WHEN q.requeued_at IS NULL THEN 'quarantined'
            WHEN p.anomaly_score IS NOT NULL THEN 'scored'
            ELSE 'requeued' END AS state
  FROM ad.quarantined_points q
  JOIN ad.data_sources s ON s.id = q.source_id
  LEFT JOIN ad.data_points p ON p.source_id = q.source_id AND p."timestamp" = q.point_timestamp;
COMMENT ON VIEW ad.quarantine IS
    'Points the worker set aside because scoring them failed (state quarantined: skipped by the worker until '
    're-queued with ad.requeue_quarantined), with the error, its SQLSTATE and the point''s values; re-queued ones '
    'show requeued until scored, then scored.';
COMMENT ON COLUMN ad.quarantine.source_id IS 'The point''s source.';
COMMENT ON COLUMN ad.quarantine.source_name IS 'Its name (what ad.requeue_quarantined takes).';
COMMENT ON COLUMN ad.quarantine.point_timestamp IS 'The point''s "timestamp".';
COMMENT ON COLUMN ad.quarantine.values IS 'The point''s values (NULL once the point is gone).';
COMMENT ON COLUMN ad.quarantine.error IS 'The error its batch failed with, in the server''s words.';
COMMENT ON COLUMN ad.quarantine.sqlstate IS 'That error''s SQLSTATE (57014: the statement timeout).';
COMMENT ON COLUMN ad.quarantine.quarantined_at IS 'When it was last quarantined.';
COMMENT ON COLUMN ad.quarantine.attempts IS 'How many times it was quarantined.';
COMMENT ON COLUMN ad.quarantine.requeued_at IS 'When it was re-queued; NULL while quarantined.';
COMMENT ON COLUMN ad.quarantine.requeued_by IS 'The login that re-queued it.';
COMMENT ON COLUMN ad.quarantine.state IS
    'quarantined (the worker skips it), requeued (waiting to be scored again) or scored.';

CREATE OR REPLACE FUNCTION ad.requeue_quarantined(
    source text DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    source_uuid uuid;
    n bigint;
BEGIN
    IF requeue_quarantined.source IS NOT NULL THEN
        SELECT s.id INTO source_uuid FROM ad.data_sources s WHERE s.name = requeue_quarantined.source;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ad.requeue_quarantined: no source named "%"', requeue_quarantined.source
                USING ERRCODE = 'no_data_found';
        END IF;
    END IF;
    WITH requeued AS (
        UPDATE ad.quarantined_points q SET requeued_at = now(), requeued_by = left(ad.current_actor(), 63)
         WHERE q.requeued_at IS NULL
           AND (source_uuid IS NULL OR q.source_id = source_uuid)
           AND (requeue_quarantined.since IS NULL OR q.point_timestamp >= requeue_quarantined.since)
           AND (requeue_quarantined.until IS NULL OR q.point_timestamp < requeue_quarantined.until)
        RETURNING q.source_id
    ), notified AS (
        SELECT pg_notify('ad_points', d.source_id::text) FROM (SELECT DISTINCT source_id FROM requeued) d
    )
    SELECT (SELECT count(*) FROM requeued) INTO n FROM (SELECT count(*) FROM notified) x;
    IF n > 0 THEN
        INSERT INTO ad.audit_log (user_id, action, entity, entity_id, new_value)
        VALUES (ad_internal.caller_user_id(),
                'requeue', 'quarantined_points', coalesce(source_uuid::text, 'all'),
                jsonb_build_object('points', n, 'since', requeue_quarantined.since, 'until', requeue_quarantined.until));
    END IF;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION ad.requeue_quarantined(text, timestamptz, timestamptz) IS
    'Re-queues quarantined points (all, or one source''s by name, optionally with "timestamp" in [since, until)): '
    'the worker claims them again; one that fails again is quarantined again with attempts + 1. Audited. Returns '
    'how many points were re-queued.';
REVOKE ALL ON FUNCTION ad.requeue_quarantined(text, timestamptz, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.forget_quarantined_gone() RETURNS bigint
LANGUAGE sql
SET search_path TO pg_catalog, pg_temp
AS $fn$
    WITH gone AS (
        DELETE FROM ad.quarantined_points q
         WHERE NOT EXISTS (SELECT FROM ad.data_points p
                            WHERE p.source_id = q.source_id AND p."timestamp" = q.point_timestamp)
        RETURNING 1
    )
    SELECT count(*) FROM gone;
$fn$;
COMMENT ON FUNCTION ad_internal.forget_quarantined_gone() IS
    'Deletes quarantine rows whose point no longer exists (removed by retention, by a TimescaleDB policy or by '
    'hand); ad.apply_retention() calls it. Returns how many.';
REVOKE ALL ON FUNCTION ad_internal.forget_quarantined_gone() FROM PUBLIC;
