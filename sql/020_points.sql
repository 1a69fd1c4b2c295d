-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- A JSON number is always finite but may not fit a double precision; anything else is not a number.
-- strict: in lax mode the filter would look inside arrays instead of rejecting them. The lower bound is the
-- smallest magnitude that does not round to zero (subnormal doubles are accepted, as float8 accepts them).
-- SQL-standard body: names are bound at creation, so no SET clause is needed (one would block inlining,
-- and the trigger's WHEN clause evaluates this for every row).
CREATE OR REPLACE FUNCTION ad.values_ok(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN jsonb_typeof(v) = 'object' AND v <> '{}'::jsonb AND NOT v ? ''
   AND NOT jsonb_path_exists(v,
       'strict $.* ? (@.type() != "number" || @ > 1.7976931348623157e308 || @ < -1.7976931348623157e308
              || (@ != 0 && @ < 2.4703282292062328e-324 && @ > -2.4703282292062328e-324))');
COMMENT ON FUNCTION ad.values_ok(jsonb) IS
    'True when v is a non-empty JSON object of metric name to a number that fits double precision.';

CREATE OR REPLACE FUNCTION ad.values_problem(v jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    bad record;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) <> 'object' THEN
        RETURN format('values must be a JSON object of metric name to number, got %s', coalesce(jsonb_typeof(v), 'NULL'));
    ELSIF v = '{}'::jsonb THEN
        RETURN 'values has no metrics';
    ELSIF v ? '' THEN
        RETURN 'values has an empty metric name';
    END IF;
    SELECT kv.key, kv.value, jsonb_typeof(kv.value) AS kind INTO bad
      FROM jsonb_each(v) kv
     WHERE jsonb_typeof(kv.value) <> 'number'
           OR abs(kv.value::numeric) > 1.7976931348623157e308
           OR (kv.value::numeric <> 0 AND abs(kv.value::numeric) < 2.4703282292062328e-324)
     ORDER BY kv.key LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF bad.kind = 'number' THEN
        RETURN format('metric "%s" = %s is outside the range of double precision',
                      bad.key, trim(to_char(bad.value::numeric, '9.999999EEEE')));
    ELSIF bad.kind = 'null' THEN
        RETURN format('metric "%s" must be a finite number, got null', bad.key);
    END IF;
    RETURN format('metric "%s" must be a finite number, got %s %s', bad.key, bad.kind, left(bad.value::text, 40));
END
$fn$;
COMMENT ON FUNCTION ad.values_problem(jsonb) IS
    'What is wrong with a values object, in words, or NULL when nothing is.';

-- Validation is split so the common case stays cheap (see README, design notes). Per row, a WHEN clause
-- evaluated in C lets only bad rows reach PL/pgSQL; per statement, one set-based query checks the sources,
-- locks them as a foreign key would, and sends one NOTIFY per source.
CREATE OR REPLACE FUNCTION ad_internal.reject_point() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER  -- it only raises; as the owner it may read the limits in ad_internal
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    problem text;
BEGIN
    IF NEW."timestamp" IS NULL THEN
        RAISE EXCEPTION 'ad.data_points: missing "timestamp" for source %', NEW.source_id
            USING ERRCODE = 'not_null_violation', HINT = 'Every point needs its observation time, for example now().';
    ELSIF NOT isfinite(NEW."timestamp") THEN
        RAISE EXCEPTION 'ad.data_points: "timestamp" must be a finite time, got % (source %)', NEW."timestamp", NEW.source_id
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF NEW.features IS NOT NULL OR NEW.anomaly_score IS NOT NULL THEN
        RAISE EXCEPTION 'ad.data_points: points arrive unscored; features and anomaly_score are the worker''s (source %, time %)',
                NEW.source_id, NEW."timestamp"
            USING ERRCODE = 'insufficient_privilege', HINT = 'Insert source_id, "timestamp" and values only.';
    END IF;
    problem := ad.values_problem(NEW.values);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'ad.data_points: % (source %, time %)', problem, NEW.source_id, NEW."timestamp"
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'values is a JSON object of metric name to number, for example {"cpu": 0.93}; '
                         'leave a metric out rather than sending NaN, Infinity, null or a string.';
    END IF;
    problem := ad_internal.point_limit_problem(NEW."timestamp", NEW.values);
    IF problem IS NULL THEN
        RETURN NEW;  -- the WHEN clause's quick test sends a few good rows here too (a backslash in a metric name)
    END IF;
    RAISE EXCEPTION 'ad.data_points: % (source %, time %)', problem, NEW.source_id, NEW."timestamp"
        USING ERRCODE = CASE WHEN problem LIKE 'time %' OR problem LIKE '%control character%'
                             THEN 'invalid_parameter_value' ELSE 'program_limit_exceeded' END,
              HINT = 'The database owner sets the limits at the door: SELECT * FROM ad.point_limits(); '
                     'SELECT ad.set_point_limit(name, value).';
END
$fn$;
COMMENT ON FUNCTION ad_internal.reject_point() IS
    'Raises the error for a point with no or an infinite timestamp, bad values, a score of its own, or outside the '
    'limits at the door (runs only for such rows, and a few good ones the quick test cannot tell, which it passes).';

CREATE OR REPLACE TRIGGER reject_point BEFORE INSERT ON ad.data_points
    FOR EACH ROW WHEN (NEW."timestamp" IS NULL OR NOT isfinite(NEW."timestamp") OR ad.values_ok(NEW.values) IS NOT TRUE
                       OR NEW.features IS NOT NULL OR NEW.anomaly_score IS NOT NULL
                       OR ad_internal.point_within_limits(NEW."timestamp", NEW.values) IS NOT TRUE)
    EXECUTE FUNCTION ad_internal.reject_point();
COMMENT ON TRIGGER reject_point ON ad.data_points IS
    'Rejects a point with no timestamp, with bad values, arriving with features or a score, or outside the limits '
    'at the door (ad.point_limits()).';

CREATE OR REPLACE FUNCTION ad_internal.points_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER  -- as the owner, like a foreign key's own checks and actions
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    bad record;
BEGIN
    -- Lock the sources first (as a foreign key does), so none can be deleted before this transaction ends.
    PERFORM FROM ad.data_sources s WHERE s.id IN (SELECT DISTINCT n.source_id FROM new_rows n) FOR KEY SHARE OF s;
    SELECT n.source_id, n."timestamp", s.status INTO bad
      FROM new_rows n LEFT JOIN ad.data_sources s ON s.id = n.source_id
     WHERE s.id IS NULL OR s.status = 'disabled'
     LIMIT 1;
    IF FOUND AND bad.status IS NULL THEN
        RAISE EXCEPTION 'ad.data_points: unknown source % (point at %)', bad.source_id, bad."timestamp"
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'An operator registers sources: INSERT INTO ad.data_sources (name) VALUES (...) RETURNING id.';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'ad.data_points: source % is disabled (point at %)', bad.source_id, bad."timestamp"
            USING ERRCODE = 'check_violation',
                  HINT = 'Set ad.data_sources.status to active (or paused, to keep points unscored).';
    END IF;
    -- Identical payloads fold within a transaction: at most one notification per transaction and source.
    PERFORM pg_notify('ad_points', d.source_id::text) FROM (SELECT DISTINCT n.source_id FROM new_rows n) d;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.points_inserted() IS
    'AFTER INSERT statement trigger on ad.data_points: checks and locks the sources, then NOTIFYs ad_points '
    'once per source.';

CREATE OR REPLACE TRIGGER points_inserted AFTER INSERT ON ad.data_points
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ad_internal.points_inserted();
COMMENT ON TRIGGER points_inserted ON ad.data_points
    IS 'Checks sources and wakes the worker, once per statement.';

CREATE OR REPLACE FUNCTION ad_internal.fixed_point_key() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'ad.data_points: source_id and "timestamp" cannot change (source %, time %)',
            OLD.source_id, OLD."timestamp"
        USING ERRCODE = 'feature_not_supported', HINT = 'Delete the point and insert it again.';
END
$fn$;
COMMENT ON FUNCTION ad_internal.fixed_point_key() IS 'Refuses to move a point to another source or time.';

CREATE OR REPLACE TRIGGER fixed_point_key BEFORE UPDATE OF source_id, "timestamp" ON ad.data_points
    FOR EACH ROW WHEN (NEW.source_id IS DISTINCT FROM OLD.source_id OR NEW."timestamp" IS DISTINCT FROM OLD."timestamp")
    EXECUTE FUNCTION ad_internal.fixed_point_key();
COMMENT ON TRIGGER fixed_point_key ON ad.data_points IS 'A point''s key is its identity: it never changes.';

-- Updating values re-queues the point: the old score no longer describes it.
CREATE OR REPLACE FUNCTION ad_internal.requeue_point() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER  -- as the owner it may read the limits in ad_internal
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    IF ad.values_ok(NEW.values) IS NOT TRUE THEN
        RAISE EXCEPTION 'ad.data_points: % (source %, time %)',
                ad.values_problem(NEW.values), NEW.source_id, NEW."timestamp"
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF ad_internal.point_within_limits(NEW."timestamp", NEW.values) IS NOT TRUE
          AND ad_internal.point_limit_problem(NEW."timestamp", NEW.values) IS NOT NULL THEN
        RAISE EXCEPTION 'ad.data_points: % (source %, time %)',
                ad_internal.point_limit_problem(NEW."timestamp", NEW.values), NEW.source_id, NEW."timestamp"
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'The database owner sets the limits at the door: SELECT * FROM ad.point_limits().';
    END IF;
    NEW.features := NULL;
    NEW.anomaly_score := NULL;
    PERFORM pg_notify('ad_points', NEW.source_id::text);
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION ad_internal.requeue_point() IS
    'BEFORE UPDATE trigger on ad.data_points: changed values are checked as at the door (values and limits) and '
    'clear the score, so the point is scored again.';

CREATE OR REPLACE TRIGGER requeue_point BEFORE UPDATE OF values ON ad.data_points
    FOR EACH ROW WHEN (NEW.values IS DISTINCT FROM OLD.values) EXECUTE FUNCTION ad_internal.requeue_point();
COMMENT ON TRIGGER requeue_point ON ad.data_points IS
    'Re-queues a point for scoring when its values change (for example INSERT ... ON CONFLICT DO UPDATE).';

CREATE OR REPLACE TRIGGER source_deleted BEFORE DELETE ON ad.data_sources
    FOR EACH ROW EXECUTE FUNCTION ad_internal.source_deleted();
COMMENT ON TRIGGER source_deleted ON ad.data_sources IS 'Cascades a source''s deletion to its points.';

-- Corrections for loaders that may only INSERT: the same checks, then the changed values re-queue the point.
CREATE OR REPLACE FUNCTION ad.upsert_point(point_source uuid, point_time timestamptz, point_values jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    inserted boolean;
    src_status text;
BEGIN
    -- The checks an INSERT gets from the statement trigger apply to the update path too.
    SELECT s.status INTO src_status FROM ad.data_sources s WHERE s.id = point_source FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.data_points: unknown source % (point at %)', point_source, point_time
            USING ERRCODE = 'foreign_key_violation', HINT = 'An operator registers sources in ad.data_sources.';
    ELSIF src_status = 'disabled' THEN
        RAISE EXCEPTION 'ad.data_points: source % is disabled (point at %)', point_source, point_time
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO ad.data_points AS p (source_id, "timestamp", values)
    VALUES (point_source, point_time, point_values)
    ON CONFLICT ON CONSTRAINT data_points_pkey DO UPDATE SET values = EXCLUDED.values
     WHERE p.values IS DISTINCT FROM EXCLUDED.values
    RETURNING (xmax = 0) INTO inserted;
    IF NOT FOUND THEN
        RETURN 'unchanged';
    END IF;
    RETURN CASE WHEN inserted THEN 'inserted' ELSE 'updated' END;
END
$fn$;
COMMENT ON FUNCTION ad.upsert_point(uuid, timestamptz, jsonb) IS
    'Inserts a point, or corrects the values of an existing one (which re-queues it for scoring). '
    'Returns inserted, updated or unchanged.';
REVOKE ALL ON FUNCTION ad.upsert_point(uuid, timestamptz, jsonb) FROM PUBLIC;
