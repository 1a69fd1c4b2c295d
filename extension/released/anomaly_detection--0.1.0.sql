\echo Use "CREATE EXTENSION anomaly_detection" to load this file. \quit

-- ---- 000_schemas.sql ----
-- Schemas and installation bookkeeping.
-- Every file pins search_path and qualifies every name, so a hostile search_path cannot capture a call.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE SCHEMA ad;
COMMENT ON SCHEMA ad IS
    'Anomaly detection: the user-facing API (tables data engineers write, views BI reads, functions operators call).';

CREATE SCHEMA ad_internal;
COMMENT ON SCHEMA ad_internal IS
    'Anomaly detection internals: installation records, secrets, trigger functions. Not a stable API.';

CREATE TABLE ad_internal.schema_migrations (
    version      text PRIMARY KEY,
    installer    text NOT NULL CHECK (installer IN ('extension', 'migrate')),
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE ad_internal.schema_migrations IS
    'One row per schema version applied, by CREATE/ALTER EXTENSION or by adworker migrate.';
COMMENT ON COLUMN ad_internal.schema_migrations.version IS 'Schema version, as in anomaly_detection.control.';
COMMENT ON COLUMN ad_internal.schema_migrations.installer IS 'extension (CREATE/ALTER EXTENSION) or migrate (adworker migrate).';
COMMENT ON COLUMN ad_internal.schema_migrations.installed_at IS 'When the version was applied.';
COMMENT ON COLUMN ad_internal.schema_migrations.installed_by IS 'Database role that applied it.';

CREATE TABLE ad_internal.storage (
    key   text PRIMARY KEY,
    value text NOT NULL
);
COMMENT ON TABLE ad_internal.storage IS
    'How storage was set up at install time: timescaledb version and license, hypertables, compression, continuous aggregates.';
COMMENT ON COLUMN ad_internal.storage.key IS 'Setting name, for example timescaledb_version or compression.';
COMMENT ON COLUMN ad_internal.storage.value IS 'Setting value as text.';

CREATE TABLE ad.settings (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       jsonb NOT NULL,
    description text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE ad.settings IS
    'Global settings changed from their defaults (today: retention). Change them through the ad.set_* functions; '
    'an absent key means the default, so a restored dump never collides with rows the install wrote.';
COMMENT ON COLUMN ad.settings.key IS 'Setting name.';
COMMENT ON COLUMN ad.settings.value IS 'Setting value as JSON (an interval is a string such as "90 days"; null means off).';
COMMENT ON COLUMN ad.settings.description IS 'What the setting does.';
COMMENT ON COLUMN ad.settings.updated_at IS 'When the value last changed.';
COMMENT ON COLUMN ad.settings.updated_by IS 'Role that last changed it.';

-- TimescaleDB is optional: found through pg_extension, called through format('%I.%I'), never required.
CREATE FUNCTION ad_internal.timescaledb_schema() RETURNS name
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
RETURN (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'timescaledb');
COMMENT ON FUNCTION ad_internal.timescaledb_schema() IS 'The schema TimescaleDB is installed in, or NULL without it.';

CREATE FUNCTION ad_internal.timescaledb_licensed() RETURNS boolean
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
RETURN ad_internal.timescaledb_schema() IS NOT NULL
       AND coalesce(current_setting('timescaledb.license', true), 'apache') = 'timescale';
COMMENT ON FUNCTION ad_internal.timescaledb_licensed() IS
    'True when TimescaleDB runs with the community license (compression, continuous aggregates and policies).';

-- Interval text that does not depend on the session's IntervalStyle (records, messages).
CREATE FUNCTION ad_internal.interval_text(i interval) RETURNS text
LANGUAGE sql IMMUTABLE
SET IntervalStyle TO postgres
RETURN i::text;
COMMENT ON FUNCTION ad_internal.interval_text(interval) IS 'An interval as text in the postgres style, whatever the session uses.';

-- Called by the install scripts right after a table is created, before anything references it.
CREATE FUNCTION ad_internal.make_hypertable(tbl regclass, time_column name, chunk interval) RETURNS boolean
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    ts name := ad_internal.timescaledb_schema();
BEGIN
    IF ts IS NULL THEN
        RETURN false;
    END IF;
    -- No default indexes: the tables carry their own, the same with and without TimescaleDB.
    EXECUTE format('SELECT %I.create_hypertable(%L::regclass, %I.by_range(%L, %L::interval), create_default_indexes => false)',
                   ts, tbl, ts, time_column, chunk);
    INSERT INTO ad_internal.storage (key, value) VALUES ('hypertable:' || tbl::text, ad_internal.interval_text(chunk));
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION ad_internal.make_hypertable(regclass, name, interval) IS
    'Turns a new table into a TimescaleDB hypertable when TimescaleDB is installed; does nothing otherwise.';

-- ---- 010_sources.sql ----
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

-- data_points carries no foreign key (see 020_points.sql); deleting a source deletes its points here.
CREATE FUNCTION ad_internal.source_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER  -- as the owner, like a foreign key's own checks and actions
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    DELETE FROM ad.data_points p WHERE p.source_id = OLD.id;
    RETURN OLD;
END
$fn$;
COMMENT ON FUNCTION ad_internal.source_deleted() IS 'Deletes the points of a deleted source.';

CREATE FUNCTION ad_internal.fixed_source_id() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'ad.data_sources: id cannot change (source "%")', OLD.name USING ERRCODE = 'feature_not_supported';
END
$fn$;
COMMENT ON FUNCTION ad_internal.fixed_source_id() IS 'Refuses to change a source id that points refer to.';

CREATE TRIGGER fixed_source_id BEFORE UPDATE OF id ON ad.data_sources
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION ad_internal.fixed_source_id();
COMMENT ON TRIGGER fixed_source_id ON ad.data_sources IS 'Source ids are permanent.';

-- The same rules as the worker's SourceConfig.parse (a test feeds one table of cases to both).
CREATE FUNCTION ad.config_problem(config jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    k text;
    v jsonb;
    w int := 1000;
    mh int := 12;
    t numeric[] := ARRAY[0.45, 0.55, 0.65, 0.8];
    ints text[] := ARRAY['likelihood_window', 'warmup', 'rest_period'];
    lo int[] := ARRAY[100, 0, 0];
    hi int[] := ARRAY[100000, 100000, 100000];
    tiers text[] := ARRAY['low', 'medium', 'high', 'critical'];
    i int;
BEGIN
    IF jsonb_typeof(config) IS DISTINCT FROM 'object' THEN
        RETURN 'config: must be a JSON object';
    END IF;
    FOR k IN SELECT jsonb_object_keys(config) ORDER BY 1 LOOP
        IF k NOT IN ('window', 'min_history', 'likelihood_window', 'warmup', 'rest_period', 'detectors', 'seasonality', 'thresholds') THEN
            RETURN format('config.%s: unknown setting (known: window, min_history, likelihood_window, warmup, rest_period, detectors, seasonality, thresholds)', k);
        END IF;
    END LOOP;
    v := config -> 'window';
    IF v IS NOT NULL THEN
        IF jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric) OR v::numeric NOT BETWEEN 10 AND 1000 THEN
            RETURN format('config.window: must be an integer from 10 to 1000, got %s', v);
        END IF;
        w := v::int;
    END IF;
    v := config -> 'min_history';
    IF v IS NOT NULL THEN
        IF jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric) OR v::numeric NOT BETWEEN 3 AND 1000 THEN
            RETURN format('config.min_history: must be an integer from 3 to 1000, got %s', v);
        END IF;
        mh := v::int;
    END IF;
    FOR i IN 1..3 LOOP
        v := config -> ints[i];
        IF v IS NOT NULL AND (jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric) OR v::numeric NOT BETWEEN lo[i] AND hi[i]) THEN
            RETURN format('config.%s: must be an integer from %s to %s, got %s', ints[i], lo[i], hi[i], v);
        END IF;
    END LOOP;
    IF mh > w THEN
        RETURN format('config.min_history: must not exceed window (%s), got %s', w, mh);
    END IF;
    v := config -> 'detectors';
    IF v IS NOT NULL THEN
        IF jsonb_typeof(v) <> 'array' OR EXISTS (SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
            RETURN format('config.detectors: must be an array of strings, got %s', v);
        END IF;
        SELECT e INTO k FROM jsonb_array_elements_text(v) e WHERE e NOT IN ('robust', 'seasonal', 'multivariate') LIMIT 1;
        IF FOUND THEN
            RETURN format('config.detectors: unknown detector "%s" (known: robust, seasonal, multivariate)', k);
        END IF;
        IF NOT (v ? 'robust' OR v ? 'seasonal') THEN
            RETURN 'config.detectors: needs robust or seasonal (multivariate combines their evidence)';
        END IF;
    END IF;
    v := config -> 'seasonality';
    IF v IS NOT NULL THEN
        IF jsonb_typeof(v) <> 'array' OR EXISTS (SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
            RETURN format('config.seasonality: must be an array of strings, got %s', v);
        END IF;
        SELECT e INTO k FROM jsonb_array_elements_text(v) e WHERE e NOT IN ('daily', 'weekly') LIMIT 1;
        IF FOUND THEN
            RETURN format('config.seasonality: unknown seasonality "%s" (known: daily, weekly)', k);
        END IF;
    END IF;
    v := config -> 'thresholds';
    IF v IS NOT NULL THEN
        IF jsonb_typeof(v) <> 'object' THEN
            RETURN 'config.thresholds: must be an object';
        END IF;
        FOR k IN SELECT jsonb_object_keys(v) ORDER BY 1 LOOP
            IF k <> ALL (tiers) THEN
                RETURN format('config.thresholds.%s: unknown tier (known: low, medium, high, critical)', k);
            END IF;
        END LOOP;
        FOR i IN 1..4 LOOP
            IF v ? tiers[i] THEN
                IF jsonb_typeof(v -> tiers[i]) <> 'number' OR (v ->> tiers[i])::numeric <= 0 OR (v ->> tiers[i])::numeric >= 1 THEN
                    RETURN format('config.thresholds.%s: must be a number between 0 and 1 (exclusive), got %s', tiers[i], v -> tiers[i]);
                END IF;
                t[i] := (v ->> tiers[i])::numeric;
            END IF;
        END LOOP;
        IF NOT (t[1] < t[2] AND t[2] < t[3] AND t[3] < t[4]) THEN
            RETURN format('config.thresholds: must increase: low < medium < high < critical, got %s, %s, %s, %s', t[1], t[2], t[3], t[4]);
        END IF;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad.config_problem(jsonb) IS
    'What is wrong with a per-source detection config, naming the field, or NULL when nothing is.';

CREATE FUNCTION ad_internal.check_source_config() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    problem text := ad.config_problem(NEW.config);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'ad.data_sources: % (source "%")', problem, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See README, "Per-source configuration"; SELECT ad.config_problem(''{...}'') checks a config.';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION ad_internal.check_source_config() IS 'Rejects a data source whose config the worker could not use.';

CREATE TRIGGER check_source_config BEFORE INSERT OR UPDATE OF config ON ad.data_sources
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_source_config();
COMMENT ON TRIGGER check_source_config ON ad.data_sources IS 'Validates per-source detection config.';

-- ---- 020_points.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.data_points (
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    source_id     uuid NOT NULL,
    "timestamp"   timestamptz NOT NULL,
    values        jsonb NOT NULL,
    features      jsonb,
    anomaly_score double precision CHECK (anomaly_score BETWEEN 0 AND 1),
    PRIMARY KEY (source_id, "timestamp")
) WITH (fillfactor = 80);
COMMENT ON TABLE ad.data_points IS
    'Observations: one row is one source at one time, with one or more metrics. Data engineers INSERT or COPY here; '
    'rows with anomaly_score NULL are the scoring queue. A duplicate (source_id, timestamp) is a unique violation; '
    'use ON CONFLICT (source_id, "timestamp") DO NOTHING to make re-sends idempotent.';
COMMENT ON COLUMN ad.data_points.id IS 'Point id; anomalies refer to it together with the point''s timestamp.';
COMMENT ON COLUMN ad.data_points.source_id IS
    'The source (ad.data_sources.id). Enforced by trigger rather than a foreign key: checked once per statement, '
    'with the same KEY SHARE lock a foreign key takes; deleting a source deletes its points.';
COMMENT ON COLUMN ad.data_points."timestamp" IS 'Observation time. Required.';
COMMENT ON COLUMN ad.data_points.values IS
    'JSON object of metric name to finite number, for example {"cpu": 0.93, "mem": 512}.';
COMMENT ON COLUMN ad.data_points.features IS 'Features the worker computed for this point (set when scored).';
COMMENT ON COLUMN ad.data_points.anomaly_score IS 'Calibrated anomaly score in [0, 1]; NULL until scored.';

-- The queue: unscored rows in time order, small because scored rows leave it.
CREATE INDEX data_points_unscored_idx ON ad.data_points ("timestamp", source_id) WHERE anomaly_score IS NULL;
COMMENT ON INDEX ad.data_points_unscored_idx IS 'Finds unscored points (the scoring queue) in time order.';

-- Time-range reads across sources (BI, retention): BRIN costs next to nothing on insert for time-ordered data.
CREATE INDEX data_points_time_brin ON ad.data_points USING brin ("timestamp");
COMMENT ON INDEX ad.data_points_time_brin IS 'Time-range scans across all sources.';

-- A JSON number is always finite but may not fit a double precision; anything else is not a number.
-- strict: in lax mode the filter would look inside arrays instead of rejecting them. The lower bound is the
-- smallest magnitude that does not round to zero (subnormal doubles are accepted, as float8 accepts them).
-- SQL-standard body: names are bound at creation, so no SET clause is needed (one would block inlining,
-- and the trigger's WHEN clause evaluates this for every row).
CREATE FUNCTION ad.values_ok(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN jsonb_typeof(v) = 'object' AND v <> '{}'::jsonb AND NOT v ? ''
   AND NOT jsonb_path_exists(v,
       'strict $.* ? (@.type() != "number" || @ > 1.7976931348623157e308 || @ < -1.7976931348623157e308
              || (@ != 0 && @ < 2.4703282292062328e-324 && @ > -2.4703282292062328e-324))');
COMMENT ON FUNCTION ad.values_ok(jsonb) IS
    'True when v is a non-empty JSON object of metric name to a number that fits double precision.';

CREATE FUNCTION ad.values_problem(v jsonb) RETURNS text
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
CREATE FUNCTION ad_internal.reject_point() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
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
    RAISE EXCEPTION 'ad.data_points: % (source %, time %)', ad.values_problem(NEW.values), NEW.source_id, NEW."timestamp"
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'values is a JSON object of metric name to number, for example {"cpu": 0.93}; '
                     'leave a metric out rather than sending NaN, Infinity, null or a string.';
END
$fn$;
COMMENT ON FUNCTION ad_internal.reject_point() IS
    'Raises the error for a point with no or an infinite timestamp, bad values, or a score of its own (runs only for such rows).';

CREATE TRIGGER reject_point BEFORE INSERT ON ad.data_points
    FOR EACH ROW WHEN (NEW."timestamp" IS NULL OR NOT isfinite(NEW."timestamp") OR ad.values_ok(NEW.values) IS NOT TRUE
                       OR NEW.features IS NOT NULL OR NEW.anomaly_score IS NOT NULL)
    EXECUTE FUNCTION ad_internal.reject_point();
COMMENT ON TRIGGER reject_point ON ad.data_points IS
    'Rejects a point with no timestamp, with bad values, or arriving with features or a score.';

CREATE FUNCTION ad_internal.points_inserted() RETURNS trigger
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

CREATE TRIGGER points_inserted AFTER INSERT ON ad.data_points
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ad_internal.points_inserted();
COMMENT ON TRIGGER points_inserted ON ad.data_points
    IS 'Checks sources and wakes the worker, once per statement.';

CREATE FUNCTION ad_internal.fixed_point_key() RETURNS trigger
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

CREATE TRIGGER fixed_point_key BEFORE UPDATE OF source_id, "timestamp" ON ad.data_points
    FOR EACH ROW WHEN (NEW.source_id IS DISTINCT FROM OLD.source_id OR NEW."timestamp" IS DISTINCT FROM OLD."timestamp")
    EXECUTE FUNCTION ad_internal.fixed_point_key();
COMMENT ON TRIGGER fixed_point_key ON ad.data_points IS 'A point''s key is its identity: it never changes.';

-- Updating values re-queues the point: the old score no longer describes it.
CREATE FUNCTION ad_internal.requeue_point() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    IF ad.values_ok(NEW.values) IS NOT TRUE THEN
        RAISE EXCEPTION 'ad.data_points: % (source %, time %)',
                ad.values_problem(NEW.values), NEW.source_id, NEW."timestamp"
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    NEW.features := NULL;
    NEW.anomaly_score := NULL;
    PERFORM pg_notify('ad_points', NEW.source_id::text);
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION ad_internal.requeue_point() IS
    'BEFORE UPDATE trigger on ad.data_points: changed values clear the score so the point is scored again.';

CREATE TRIGGER requeue_point BEFORE UPDATE OF values ON ad.data_points
    FOR EACH ROW WHEN (NEW.values IS DISTINCT FROM OLD.values) EXECUTE FUNCTION ad_internal.requeue_point();
COMMENT ON TRIGGER requeue_point ON ad.data_points IS
    'Re-queues a point for scoring when its values change (for example INSERT ... ON CONFLICT DO UPDATE).';

-- One day per chunk: at a thousand series a point every ten seconds that is a few GB, well under memory.
SELECT ad_internal.make_hypertable('ad.data_points', 'timestamp', interval '1 day');

CREATE TRIGGER source_deleted BEFORE DELETE ON ad.data_sources
    FOR EACH ROW EXECUTE FUNCTION ad_internal.source_deleted();
COMMENT ON TRIGGER source_deleted ON ad.data_sources IS 'Cascades a source''s deletion to its points.';

-- Corrections for loaders that may only INSERT: the same checks, then the changed values re-queue the point.
CREATE FUNCTION ad.upsert_point(point_source uuid, point_time timestamptz, point_values jsonb) RETURNS text
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

-- ---- 030_models.sql ----
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

-- ---- 040_anomalies.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.anomalies (
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    data_point_id     uuid NOT NULL,
    point_timestamp   timestamptz NOT NULL,
    source_id         uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    metric            text NOT NULL,
    model_id          uuid REFERENCES ad.ml_models (id) ON DELETE SET NULL,
    detector          text NOT NULL,
    severity          text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    score             double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    explanation       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(explanation) = 'object'),
    status            text NOT NULL DEFAULT 'detected'
                      CHECK (status IN ('detected', 'acknowledged', 'confirmed', 'resolved', 'false_positive')),
    notes             text,
    detected_at       timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz,
    status_changed_by uuid,
    PRIMARY KEY (id, point_timestamp),
    UNIQUE (data_point_id, point_timestamp, detector)
);
COMMENT ON TABLE ad.anomalies IS
    'Points the worker scored over their threshold. Refers to its point by (data_point_id, point_timestamp); '
    'no foreign key, because data_points may be a hypertable. Keyed on the point''s time, so it can be one too.';
COMMENT ON COLUMN ad.anomalies.id IS 'Anomaly id (unique together with point_timestamp).';
COMMENT ON COLUMN ad.anomalies.data_point_id IS 'The anomalous point (ad.data_points.id).';
COMMENT ON COLUMN ad.anomalies.point_timestamp IS 'The anomalous point''s timestamp.';
COMMENT ON COLUMN ad.anomalies.source_id IS 'The point''s source.';
COMMENT ON COLUMN ad.anomalies.metric IS 'The metric that contributed most (the point may be multivariate).';
COMMENT ON COLUMN ad.anomalies.model_id IS 'The trained model that scored it, or NULL for a built-in detector.';
COMMENT ON COLUMN ad.anomalies.detector IS 'The detector (or ensemble) that produced the score.';
COMMENT ON COLUMN ad.anomalies.severity IS 'low, medium, high or critical, from the source''s thresholds.';
COMMENT ON COLUMN ad.anomalies.score IS 'Calibrated score in [0, 1]; one threshold means the same on every series.';
COMMENT ON COLUMN ad.anomalies.explanation IS
    'Why it fired, for people: metric, actual, expected, expected range, top contributing features, detector.';
COMMENT ON COLUMN ad.anomalies.status IS
    'detected, acknowledged, confirmed (a true positive), resolved or false_positive; set by operators through the '
    'state machine in ad.status_transitions.';
COMMENT ON COLUMN ad.anomalies.notes IS 'Operator notes.';
COMMENT ON COLUMN ad.anomalies.detected_at IS 'When the worker detected it.';
COMMENT ON COLUMN ad.anomalies.status_changed_at IS 'When status last changed.';
COMMENT ON COLUMN ad.anomalies.status_changed_by IS 'The ad.users row that last changed status.';

CREATE INDEX anomalies_source_time_idx ON ad.anomalies (source_id, point_timestamp DESC);
COMMENT ON INDEX ad.anomalies_source_time_idx IS 'Recent anomalies of a source.';
CREATE INDEX anomalies_detected_idx ON ad.anomalies (detected_at DESC);
COMMENT ON INDEX ad.anomalies_detected_idx IS 'Latest detections first.';

-- Hypertable on the point's time (so the unique key can include it); anomalies are sparse, so chunks are long.
SELECT ad_internal.make_hypertable('ad.anomalies', 'point_timestamp', interval '30 days');

-- ---- 050_users.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email      text UNIQUE CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    role       text NOT NULL DEFAULT 'operator'
               CHECK (role IN ('admin', 'operator', 'analyst', 'data_scientist', 'engineer', 'viewer')),
    db_role    name UNIQUE,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad.users IS
    'People who act on anomalies and alerts. db_role maps a database login to a person, so psql actions are attributed.';
COMMENT ON COLUMN ad.users.id IS 'User id.';
COMMENT ON COLUMN ad.users.name IS 'Display name.';
COMMENT ON COLUMN ad.users.email IS 'Email address, for notifications.';
COMMENT ON COLUMN ad.users.role IS 'What the person does: admin, operator, analyst, data_scientist, engineer or viewer.';
COMMENT ON COLUMN ad.users.db_role IS 'The database role (session_user) this person logs in as.';
COMMENT ON COLUMN ad.users.active IS 'False for people who left; they stay for the audit trail.';
COMMENT ON COLUMN ad.users.created_at IS 'When the row was added.';

-- ---- 060_channels.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.channels (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    type       text NOT NULL CHECK (type IN ('email', 'slack', 'pagerduty', 'webhook', 'alertmanager')),
    target     text NOT NULL CHECK (length(target) BETWEEN 1 AND 2000),
    headers    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad.channels IS
    'Named alert destinations (the webhook registry). Secrets live apart, readable by the worker only; '
    'set them with ad.set_channel_secret().';
COMMENT ON COLUMN ad.channels.id IS 'Channel id.';
COMMENT ON COLUMN ad.channels.name IS 'Unique name that rules refer to.';
COMMENT ON COLUMN ad.channels.type IS 'email, slack, pagerduty, webhook or alertmanager.';
COMMENT ON COLUMN ad.channels.target IS
    'Where to send: a URL (webhook, slack, alertmanager), a PagerDuty Events API URL, or email addresses.';
COMMENT ON COLUMN ad.channels.headers IS 'Extra HTTP headers (not secret).';
COMMENT ON COLUMN ad.channels.config IS 'Channel settings (timeouts, SMTP host and TLS mode, ...); not secret.';
COMMENT ON COLUMN ad.channels.active IS 'False stops sending to this channel.';
COMMENT ON COLUMN ad.channels.created_at IS 'When the channel was added.';
COMMENT ON COLUMN ad.channels.updated_at IS 'When it last changed.';

CREATE TABLE ad_internal.channel_secrets (
    channel_id uuid PRIMARY KEY REFERENCES ad.channels (id) ON DELETE CASCADE,
    secret     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad_internal.channel_secrets IS
    'Channel secrets (HMAC key, SMTP password, PagerDuty routing key). Readable by the worker role only.';
COMMENT ON COLUMN ad_internal.channel_secrets.channel_id IS 'The channel.';
COMMENT ON COLUMN ad_internal.channel_secrets.secret IS 'The secret.';
COMMENT ON COLUMN ad_internal.channel_secrets.updated_at IS 'When it was last set.';

CREATE FUNCTION ad.set_channel_secret(channel text, secret text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    cid uuid;
BEGIN
    SELECT c.id INTO cid FROM ad.channels c WHERE c.name = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.set_channel_secret: unknown channel "%"', channel USING ERRCODE = 'no_data_found';
    END IF;
    IF secret IS NULL THEN
        DELETE FROM ad_internal.channel_secrets s WHERE s.channel_id = cid;
    ELSE
        INSERT INTO ad_internal.channel_secrets AS s (channel_id, secret) VALUES (cid, secret)
        ON CONFLICT (channel_id) DO UPDATE SET secret = EXCLUDED.secret, updated_at = now();
    END IF;
END
$fn$;
COMMENT ON FUNCTION ad.set_channel_secret(text, text) IS
    'Sets (or with NULL removes) the secret of a channel by name. Write-only: nobody but the worker can read it back.';
REVOKE ALL ON FUNCTION ad.set_channel_secret(text, text) FROM PUBLIC;

-- ---- 070_alerts.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.alert_rules (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    description       text,
    enabled           boolean NOT NULL DEFAULT true,
    conditions        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(conditions) = 'object'),
    group_window      interval NOT NULL DEFAULT '1 hour' CHECK (group_window >= interval '0'),
    renotify_interval interval CHECK (renotify_interval > interval '0'),
    escalate_after    interval CHECK (escalate_after > interval '0'),
    created_by        name NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad.alert_rules IS 'Which anomalies raise alerts, how they are grouped, and where they go.';
COMMENT ON COLUMN ad.alert_rules.id IS 'Rule id.';
COMMENT ON COLUMN ad.alert_rules.name IS 'Unique rule name.';
COMMENT ON COLUMN ad.alert_rules.description IS 'Free text for people.';
COMMENT ON COLUMN ad.alert_rules.enabled IS 'False stops the rule from matching.';
COMMENT ON COLUMN ad.alert_rules.conditions IS
    'Match conditions (minimum severity and score, sources, metrics, detectors, time windows, silences); see README.';
COMMENT ON COLUMN ad.alert_rules.group_window IS
    'Anomalies for the same rule, source and metric within this window update one open alert.';
COMMENT ON COLUMN ad.alert_rules.renotify_interval IS 'Send an open alert again after this long; NULL never.';
COMMENT ON COLUMN ad.alert_rules.escalate_after IS 'Escalate an alert not acknowledged within this long; NULL never.';
COMMENT ON COLUMN ad.alert_rules.created_by IS 'Role that created the rule.';
COMMENT ON COLUMN ad.alert_rules.created_at IS 'When the rule was created.';
COMMENT ON COLUMN ad.alert_rules.updated_at IS 'When it last changed.';

CREATE TABLE ad.alert_rule_channels (
    rule_id    uuid NOT NULL REFERENCES ad.alert_rules (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES ad.channels (id) ON DELETE RESTRICT,
    purpose    text NOT NULL DEFAULT 'notify' CHECK (purpose IN ('notify', 'escalate')),
    PRIMARY KEY (rule_id, channel_id, purpose)
);
COMMENT ON TABLE ad.alert_rule_channels IS 'Where a rule sends: its notify channels and its escalation channels.';
COMMENT ON COLUMN ad.alert_rule_channels.rule_id IS 'The rule.';
COMMENT ON COLUMN ad.alert_rule_channels.channel_id IS 'The channel (deleting a channel still in use is refused).';
COMMENT ON COLUMN ad.alert_rule_channels.purpose IS 'notify (on firing) or escalate (after escalate_after).';

CREATE TABLE ad.alerts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- RESTRICT: deleting a rule must not delete its alerts (disable it with enabled = false instead).
    rule_id           uuid NOT NULL REFERENCES ad.alert_rules (id) ON DELETE RESTRICT,
    anomaly_id        uuid NOT NULL,
    anomaly_timestamp timestamptz NOT NULL,
    source_id         uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    metric            text NOT NULL,
    severity          text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sent', 'acknowledged', 'escalated', 'resolved', 'failed')),
    title             text NOT NULL,
    message           text NOT NULL,
    occurrences       integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    notes             text,
    acknowledged_at   timestamptz,
    acknowledged_by   uuid REFERENCES ad.users (id),
    resolved_at       timestamptz,
    resolved_by       uuid REFERENCES ad.users (id),
    escalated_at      timestamptz,
    last_notified_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (anomaly_id, anomaly_timestamp) REFERENCES ad.anomalies (id, point_timestamp) ON DELETE CASCADE
);
COMMENT ON TABLE ad.alerts IS
    'Alerts raised by rules: the outbox the delivery loop sends from, and what operators acknowledge and resolve.';
COMMENT ON COLUMN ad.alerts.id IS 'Alert id; every channel receives it as the idempotency key.';
COMMENT ON COLUMN ad.alerts.rule_id IS 'The rule that raised it.';
COMMENT ON COLUMN ad.alerts.anomaly_id IS 'The anomaly that opened it.';
COMMENT ON COLUMN ad.alerts.anomaly_timestamp IS 'That anomaly''s point_timestamp.';
COMMENT ON COLUMN ad.alerts.source_id IS 'The source.';
COMMENT ON COLUMN ad.alerts.metric IS 'The metric.';
COMMENT ON COLUMN ad.alerts.severity IS 'Worst severity seen while open.';
COMMENT ON COLUMN ad.alerts.status IS 'pending, sent, acknowledged, escalated, resolved, or failed (delivery gave up).';
COMMENT ON COLUMN ad.alerts.title IS 'One-line summary.';
COMMENT ON COLUMN ad.alerts.message IS 'Readable description (actual vs expected, explanation).';
COMMENT ON COLUMN ad.alerts.occurrences IS 'Anomalies grouped into this alert.';
COMMENT ON COLUMN ad.alerts.first_seen_at IS 'First grouped anomaly.';
COMMENT ON COLUMN ad.alerts.last_seen_at IS 'Latest grouped anomaly.';
COMMENT ON COLUMN ad.alerts.notes IS 'Operator notes.';
COMMENT ON COLUMN ad.alerts.acknowledged_at IS 'When it was acknowledged.';
COMMENT ON COLUMN ad.alerts.acknowledged_by IS 'Who acknowledged it (ad.users).';
COMMENT ON COLUMN ad.alerts.resolved_at IS 'When it was resolved.';
COMMENT ON COLUMN ad.alerts.resolved_by IS 'Who resolved it (ad.users).';
COMMENT ON COLUMN ad.alerts.escalated_at IS 'When it was escalated.';
COMMENT ON COLUMN ad.alerts.last_notified_at IS 'When a channel last accepted it.';
COMMENT ON COLUMN ad.alerts.created_at IS 'When it was raised.';
COMMENT ON COLUMN ad.alerts.updated_at IS 'When it last changed.';

-- One open alert per rule, source and metric: grouping is a unique key, not a read-then-write race.
CREATE UNIQUE INDEX alerts_open_group_idx ON ad.alerts (rule_id, source_id, metric)
    WHERE status IN ('pending', 'sent', 'acknowledged', 'escalated');
COMMENT ON INDEX ad.alerts_open_group_idx IS 'At most one open alert per rule, source and metric.';
CREATE INDEX alerts_status_idx ON ad.alerts (status, created_at);
COMMENT ON INDEX ad.alerts_status_idx IS 'Alerts by state, oldest first.';
CREATE INDEX alerts_anomaly_idx ON ad.alerts (anomaly_id, anomaly_timestamp);
COMMENT ON INDEX ad.alerts_anomaly_idx IS 'Alerts of an anomaly.';

CREATE TABLE ad.alert_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id        uuid NOT NULL REFERENCES ad.alerts (id) ON DELETE CASCADE,
    -- RESTRICT: deleting a channel must not delete delivery history (set active = false instead).
    channel_id      uuid NOT NULL REFERENCES ad.channels (id) ON DELETE RESTRICT,
    kind            text NOT NULL DEFAULT 'trigger'
                    CHECK (kind IN ('trigger', 'renotify', 'escalate', 'acknowledge', 'resolve')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
COMMENT ON TABLE ad.alert_deliveries IS
    'The outbox: one row per alert, channel and kind of message; the delivery loop claims due rows and retries.';
COMMENT ON COLUMN ad.alert_deliveries.id IS 'Delivery id.';
COMMENT ON COLUMN ad.alert_deliveries.alert_id IS 'The alert.';
COMMENT ON COLUMN ad.alert_deliveries.channel_id IS 'The channel.';
COMMENT ON COLUMN ad.alert_deliveries.kind IS 'trigger, renotify, escalate, acknowledge or resolve.';
COMMENT ON COLUMN ad.alert_deliveries.status IS 'pending (due at next_attempt_at), sent, failed (gave up) or cancelled.';
COMMENT ON COLUMN ad.alert_deliveries.attempts IS 'Attempts so far.';
COMMENT ON COLUMN ad.alert_deliveries.next_attempt_at IS 'When the next attempt is due.';
COMMENT ON COLUMN ad.alert_deliveries.last_error IS 'The last failure, for people.';
COMMENT ON COLUMN ad.alert_deliveries.created_at IS 'When it was queued.';
COMMENT ON COLUMN ad.alert_deliveries.sent_at IS 'When the channel accepted it.';

CREATE INDEX alert_deliveries_due_idx ON ad.alert_deliveries (next_attempt_at) WHERE status = 'pending';
COMMENT ON INDEX ad.alert_deliveries_due_idx IS 'Due deliveries (the outbox queue).';

CREATE TABLE ad.delivery_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES ad.alert_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL CHECK (attempt >= 1),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    http_status  integer,
    smtp_reply   text,
    error        text
);
COMMENT ON TABLE ad.delivery_attempts IS 'Delivery history: every attempt with its outcome.';
COMMENT ON COLUMN ad.delivery_attempts.id IS 'Attempt id.';
COMMENT ON COLUMN ad.delivery_attempts.delivery_id IS 'The delivery.';
COMMENT ON COLUMN ad.delivery_attempts.attempt IS 'Attempt number, from 1.';
COMMENT ON COLUMN ad.delivery_attempts.started_at IS 'When the attempt started.';
COMMENT ON COLUMN ad.delivery_attempts.finished_at IS 'When it finished.';
COMMENT ON COLUMN ad.delivery_attempts.outcome IS 'sent, retry (failed, will retry) or failed (gave up).';
COMMENT ON COLUMN ad.delivery_attempts.http_status IS 'HTTP status, for HTTP channels.';
COMMENT ON COLUMN ad.delivery_attempts.smtp_reply IS 'Final SMTP reply, for email.';
COMMENT ON COLUMN ad.delivery_attempts.error IS 'Error text, when it failed.';
CREATE INDEX delivery_attempts_delivery_idx ON ad.delivery_attempts (delivery_id, attempt);
COMMENT ON INDEX ad.delivery_attempts_delivery_idx IS 'Attempts of a delivery in order.';

-- ---- 080_feedback.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.feedback (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    anomaly_id        uuid NOT NULL,
    anomaly_timestamp timestamptz NOT NULL,
    alert_id          uuid REFERENCES ad.alerts (id) ON DELETE SET NULL,
    user_id           uuid REFERENCES ad.users (id),
    feedback_type     text NOT NULL
                      CHECK (feedback_type IN ('false_positive', 'true_positive', 'acknowledged', 'resolved')),
    notes             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    result            jsonb,
    FOREIGN KEY (anomaly_id, anomaly_timestamp) REFERENCES ad.anomalies (id, point_timestamp) ON DELETE CASCADE
);
COMMENT ON TABLE ad.feedback IS
    'Operator judgements on anomalies; the worker consumes unprocessed rows and adjusts scoring.';
COMMENT ON COLUMN ad.feedback.id IS 'Feedback id.';
COMMENT ON COLUMN ad.feedback.anomaly_id IS 'The anomaly judged.';
COMMENT ON COLUMN ad.feedback.anomaly_timestamp IS 'That anomaly''s point_timestamp.';
COMMENT ON COLUMN ad.feedback.alert_id IS 'The alert it came through, if any.';
COMMENT ON COLUMN ad.feedback.user_id IS 'Who gave it (ad.users).';
COMMENT ON COLUMN ad.feedback.feedback_type IS 'false_positive, true_positive, acknowledged or resolved.';
COMMENT ON COLUMN ad.feedback.notes IS 'Operator notes.';
COMMENT ON COLUMN ad.feedback.created_at IS 'When it was given.';
COMMENT ON COLUMN ad.feedback.processed_at IS 'When the worker applied it; NULL while queued.';
COMMENT ON COLUMN ad.feedback.result IS 'What applying it changed.';

CREATE INDEX feedback_unprocessed_idx ON ad.feedback (created_at) WHERE processed_at IS NULL;
COMMENT ON INDEX ad.feedback_unprocessed_idx IS 'The feedback queue.';

-- ---- 090_audit.sql ----
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    db_role     name NOT NULL DEFAULT session_user,
    user_id     uuid REFERENCES ad.users (id),
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    old_value   jsonb,
    new_value   jsonb
);
COMMENT ON TABLE ad.audit_log IS 'Append-only record of state changes: who (role and person), when, old and new.';
COMMENT ON COLUMN ad.audit_log.id IS 'Entry number, increasing.';
COMMENT ON COLUMN ad.audit_log.occurred_at IS 'When it happened (transaction time).';
COMMENT ON COLUMN ad.audit_log.db_role IS 'The database login that made the change.';
COMMENT ON COLUMN ad.audit_log.user_id IS 'The person (ad.users) mapped to that login, if any.';
COMMENT ON COLUMN ad.audit_log.action IS 'What happened, for example status_change or config_change.';
COMMENT ON COLUMN ad.audit_log.entity IS 'The kind of thing changed, for example alert or anomaly.';
COMMENT ON COLUMN ad.audit_log.entity_id IS 'Its id.';
COMMENT ON COLUMN ad.audit_log.old_value IS 'The state before.';
COMMENT ON COLUMN ad.audit_log.new_value IS 'The state after.';
CREATE INDEX audit_log_entity_idx ON ad.audit_log (entity, entity_id, occurred_at);
COMMENT ON INDEX ad.audit_log_entity_idx IS 'History of one entity.';

CREATE FUNCTION ad_internal.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'ad.audit_log is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$fn$;
COMMENT ON FUNCTION ad_internal.audit_log_append_only() IS 'Refuses UPDATE, DELETE and TRUNCATE on ad.audit_log.';

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON ad.audit_log
    FOR EACH ROW EXECUTE FUNCTION ad_internal.audit_log_append_only();
COMMENT ON TRIGGER audit_log_append_only ON ad.audit_log IS 'Keeps the audit trail append-only.';
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ad.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ad_internal.audit_log_append_only();
COMMENT ON TRIGGER audit_log_no_truncate ON ad.audit_log IS 'Keeps the audit trail append-only.';

-- ---- 095_alerting.sql ----
-- Alerting: rule and channel validation, raising and grouping alerts, the delivery outbox, escalation,
-- re-notification and the audit trail of alert states. The worker evaluates rule conditions in Swift
-- (ADCore.AlertRule); these functions only ever receive rule text as jsonb values, never as SQL.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE FUNCTION ad_internal.severity_rank(severity text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
RETURN array_position(ARRAY['low', 'medium', 'high', 'critical'], severity);
COMMENT ON FUNCTION ad_internal.severity_rank(text) IS 'low 1, medium 2, high 3, critical 4 (NULL otherwise).';

-- ---------------------------------------------------------------------------------------------------------
-- Rule conditions: the grammar (README, "Alert rules") checked at INSERT and UPDATE.

CREATE FUNCTION ad.rule_problem(conditions jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    k text;
    v jsonb;
    e jsonb;
    ek text;
    i int;
    ts_re constant text := '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$';
    hm_re constant text := '^([01]\d|2[0-3]):[0-5]\d$';
    uuid_re constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
    known constant text := 'min_severity, min_score, sources, metrics, detectors, models, hours, weekdays, timezone, '
                           'silences, min_occurrences, within_seconds';
BEGIN
    IF conditions IS NULL OR jsonb_typeof(conditions) <> 'object' THEN
        RETURN 'conditions: must be a JSON object';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(conditions) LOOP
        CASE k
        WHEN 'min_severity' THEN
            IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') NOT IN ('low', 'medium', 'high', 'critical') THEN
                RETURN format('conditions.min_severity: must be "low", "medium", "high" or "critical", got %s', v);
            END IF;
        WHEN 'min_score' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 0 AND 1 THEN
                RETURN format('conditions.min_score: must be a number from 0 to 1, got %s', v);
            END IF;
        WHEN 'sources', 'metrics', 'detectors', 'models' THEN
            IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0 THEN
                RETURN format('conditions.%s: must be a non-empty array of strings, got %s', k, v);
            END IF;
            FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
                IF jsonb_typeof(v -> i) <> 'string' OR length(v ->> i) NOT BETWEEN 1 AND 200 THEN
                    RETURN format('conditions.%s[%s]: must be a string of 1 to 200 characters, got %s', k, i, v -> i);
                END IF;
                IF k = 'models' AND (v ->> i) !~ uuid_re THEN
                    RETURN format('conditions.models[%s]: must be a model id (a uuid), got %s', i, v -> i);
                END IF;
            END LOOP;
        WHEN 'hours' THEN
            IF jsonb_typeof(v) <> 'object' THEN
                RETURN format('conditions.hours: must be an object {"from": "HH:MM", "to": "HH:MM"}, got %s', v);
            END IF;
            FOR ek IN SELECT jsonb_object_keys(v) LOOP
                IF ek NOT IN ('from', 'to') THEN
                    RETURN format('conditions.hours.%s: unknown field (known: from, to)', ek);
                END IF;
            END LOOP;
            FOREACH ek IN ARRAY ARRAY['from', 'to'] LOOP
                IF jsonb_typeof(v -> ek) IS DISTINCT FROM 'string' OR (v ->> ek) !~ hm_re THEN
                    RETURN format('conditions.hours.%s: must be a time "HH:MM" from 00:00 to 23:59, got %s', ek,
                                  coalesce((v -> ek)::text, 'nothing'));
                END IF;
            END LOOP;
            IF v ->> 'from' = v ->> 'to' THEN
                RETURN 'conditions.hours: from and to must differ (leave hours out to match all day)';
            END IF;
        WHEN 'weekdays' THEN
            IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0 THEN
                RETURN format('conditions.weekdays: must be a non-empty array like ["mon", "tue"], got %s', v);
            END IF;
            FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
                IF jsonb_typeof(v -> i) <> 'string'
                   OR (v ->> i) NOT IN ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun') THEN
                    RETURN format('conditions.weekdays[%s]: must be one of mon, tue, wed, thu, fri, sat, sun, got %s', i, v -> i);
                END IF;
            END LOOP;
        WHEN 'timezone' THEN
            IF jsonb_typeof(v) <> 'string'
               OR NOT EXISTS (SELECT FROM pg_timezone_names z WHERE z.name = v #>> '{}' AND z.name ~ '^[A-Za-z]') THEN
                RETURN format('conditions.timezone: must be an IANA time zone name like "Europe/Berlin" or "UTC", got %s', v);
            END IF;
        WHEN 'silences' THEN
            IF jsonb_typeof(v) <> 'array' THEN
                RETURN format('conditions.silences: must be an array of {"start", "end", "reason"} objects, got %s', v);
            END IF;
            FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
                e := v -> i;
                IF jsonb_typeof(e) <> 'object' THEN
                    RETURN format('conditions.silences[%s]: must be an object {"start", "end", "reason"}, got %s', i, e);
                END IF;
                FOR ek IN SELECT jsonb_object_keys(e) LOOP
                    IF ek NOT IN ('start', 'end', 'reason') THEN
                        RETURN format('conditions.silences[%s].%s: unknown field (known: start, end, reason)', i, ek);
                    END IF;
                END LOOP;
                FOREACH ek IN ARRAY ARRAY['start', 'end'] LOOP
                    IF jsonb_typeof(e -> ek) IS DISTINCT FROM 'string' OR (e ->> ek) !~ ts_re THEN
                        RETURN format('conditions.silences[%s].%s: must be a timestamp with a zone, like '
                                      '"2026-05-01T22:00:00Z", got %s', i, ek, coalesce((e -> ek)::text, 'nothing'));
                    END IF;
                END LOOP;
                IF (e ->> 'end')::timestamptz <= (e ->> 'start')::timestamptz THEN
                    RETURN format('conditions.silences[%s]: end must be after start', i);
                END IF;
                IF e ? 'reason' AND jsonb_typeof(e -> 'reason') <> 'string' THEN
                    RETURN format('conditions.silences[%s].reason: must be a string', i);
                END IF;
            END LOOP;
        WHEN 'min_occurrences' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^\d{1,5}$' OR (v #>> '{}')::int NOT BETWEEN 1 AND 10000 THEN
                RETURN format('conditions.min_occurrences: must be an integer from 1 to 10000, got %s', v);
            END IF;
        WHEN 'within_seconds' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^\d{1,7}$' OR (v #>> '{}')::int NOT BETWEEN 1 AND 2678400 THEN
                RETURN format('conditions.within_seconds: must be an integer number of seconds from 1 to 2678400 (31 days), got %s', v);
            END IF;
        ELSE
            RETURN format('conditions.%s: unknown field (known: %s)', k, known);
        END CASE;
    END LOOP;
    IF coalesce((conditions ->> 'min_occurrences')::int, 1) > 1 AND NOT conditions ? 'within_seconds' THEN
        RETURN 'conditions.within_seconds: required when min_occurrences is more than 1';
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad.rule_problem(jsonb) IS
    'What is wrong with alert rule conditions, naming the field, or NULL when nothing is.';

CREATE FUNCTION ad_internal.check_alert_rule() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    problem text := ad.rule_problem(NEW.conditions);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'ad.alert_rules: % (rule "%")', problem, NEW.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See README, "Alert rules"; SELECT ad.rule_problem(''{...}'') checks conditions.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION ad_internal.check_alert_rule() IS 'Rejects alert rules whose conditions the worker could not use.';

CREATE TRIGGER check_alert_rule BEFORE INSERT OR UPDATE ON ad.alert_rules
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_alert_rule();
COMMENT ON TRIGGER check_alert_rule ON ad.alert_rules IS 'Validates rule conditions; stamps updated_at.';

-- ---------------------------------------------------------------------------------------------------------
-- Channels: targets, headers and settings checked at INSERT and UPDATE.

CREATE FUNCTION ad.channel_problem(type text, target text, headers jsonb, config jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    k text;
    v jsonb;
    addr text;
    url_re constant text := '^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*'
                            '|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?([/?#][^\s]*)?$';
    mail_re constant text := '^[^@\s,<>"]+@[^@\s,<>"]+\.[^@\s,<>"]+$|^[^@\s,<>"]+@localhost$';
    allowed text[];
BEGIN
    IF type = 'email' THEN
        FOREACH addr IN ARRAY string_to_array(target, ',') LOOP
            IF btrim(addr) !~ mail_re THEN
                RETURN format('target: "%s" is not an email address (give addresses separated by commas)', btrim(addr));
            END IF;
        END LOOP;
        allowed := ARRAY['smtp_host', 'smtp_port', 'tls', 'username', 'from', 'helo', 'timeout_seconds', 'ca_file'];
        IF NOT config ? 'smtp_host' THEN
            RETURN 'config.smtp_host: required for an email channel';
        END IF;
        IF NOT config ? 'from' THEN
            RETURN 'config.from: required for an email channel (the sender address)';
        END IF;
        IF headers <> '{}' THEN
            RETURN 'headers: an email channel takes no HTTP headers';
        END IF;
    ELSIF type IN ('webhook', 'slack', 'pagerduty', 'alertmanager') THEN
        IF target !~ url_re THEN
            RETURN format('target: "%s" is not an http:// or https:// URL', target);
        END IF;
        IF substring(target FROM ':(\d{1,5})(?:[/?#]|$)')::int > 65535 THEN
            RETURN format('target: "%s" has a port above 65535', target);
        END IF;
        allowed := CASE type WHEN 'alertmanager' THEN ARRAY['timeout_seconds', 'ends_after_seconds']
                             ELSE ARRAY['timeout_seconds'] END;
        FOR k, v IN SELECT * FROM jsonb_each(headers) LOOP
            IF k !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]+$' THEN
                RETURN format('headers: "%s" is not a valid HTTP header name', k);
            END IF;
            IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') ~ '[\r\n]' THEN
                RETURN format('headers.%s: must be a string without line breaks', k);
            END IF;
            IF lower(k) IN ('content-type', 'content-length', 'host', 'idempotency-key', 'x-ad-alert-id',
                            'x-ad-timestamp', 'x-ad-signature') THEN
                RETURN format('headers.%s: set by adworker itself', k);
            END IF;
        END LOOP;
    ELSE
        RETURN format('type: must be email, slack, pagerduty, webhook or alertmanager, got "%s"', type);
    END IF;

    FOR k, v IN SELECT * FROM jsonb_each(config) LOOP
        IF k <> ALL (allowed) THEN
            RETURN format('config.%s: unknown setting for a %s channel (known: %s)', k, type, array_to_string(allowed, ', '));
        END IF;
        CASE k
        WHEN 'smtp_host', 'username', 'helo', 'ca_file' THEN
            IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') = 0 OR (v #>> '{}') ~ '[\s]' THEN
                RETURN format('config.%s: must be a non-empty string without spaces, got %s', k, v);
            END IF;
        WHEN 'from' THEN
            IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ mail_re THEN
                RETURN format('config.from: must be an email address, got %s', v);
            END IF;
        WHEN 'smtp_port' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^\d{1,5}$' OR (v #>> '{}')::int NOT BETWEEN 1 AND 65535 THEN
                RETURN format('config.smtp_port: must be a port number from 1 to 65535, got %s', v);
            END IF;
        WHEN 'tls' THEN
            IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') NOT IN ('starttls', 'implicit', 'none') THEN
                RETURN format('config.tls: must be "starttls", "implicit" or "none", got %s', v);
            END IF;
        WHEN 'timeout_seconds' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 0.1 AND 300 THEN
                RETURN format('config.timeout_seconds: must be a number from 0.1 to 300, got %s', v);
            END IF;
        WHEN 'ends_after_seconds' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^\d{1,7}$' OR (v #>> '{}')::int NOT BETWEEN 60 AND 2678400 THEN
                RETURN format('config.ends_after_seconds: must be an integer from 60 to 2678400, got %s', v);
            END IF;
        END CASE;
    END LOOP;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad.channel_problem(text, text, jsonb, jsonb) IS
    'What is wrong with a channel''s type, target, headers or config, naming the field, or NULL when nothing is.';

CREATE FUNCTION ad_internal.check_channel() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    problem text := ad.channel_problem(NEW.type, NEW.target, NEW.headers, NEW.config);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'ad.channels: % (channel "%")', problem, NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'See README, "Channels".';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION ad_internal.check_channel() IS 'Rejects channels the worker could not send to.';

CREATE TRIGGER check_channel BEFORE INSERT OR UPDATE ON ad.channels
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_channel();
COMMENT ON TRIGGER check_channel ON ad.channels IS 'Validates type, target, headers and config; stamps updated_at.';

CREATE FUNCTION ad.add_rule_channel(rule text, channel text, purpose text DEFAULT 'notify') RETURNS void
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    rid uuid;
    cid uuid;
BEGIN
    SELECT r.id INTO rid FROM ad.alert_rules r WHERE r.name = rule;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.add_rule_channel: unknown rule "%"', rule USING ERRCODE = 'no_data_found';
    END IF;
    SELECT c.id INTO cid FROM ad.channels c WHERE c.name = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.add_rule_channel: unknown channel "%"', channel USING ERRCODE = 'no_data_found',
            HINT = 'SELECT name, type FROM ad.channels lists them.';
    END IF;
    IF purpose IS NULL OR purpose NOT IN ('notify', 'escalate') THEN
        RAISE EXCEPTION 'ad.add_rule_channel: purpose must be notify or escalate, got "%"', purpose
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ad.alert_rule_channels (rule_id, channel_id, purpose) VALUES (rid, cid, purpose) ON CONFLICT DO NOTHING;
END
$fn$;
COMMENT ON FUNCTION ad.add_rule_channel(text, text, text) IS
    'Sends a rule''s alerts to a channel, both by name; purpose notify (on firing) or escalate. Idempotent.';
REVOKE ALL ON FUNCTION ad.add_rule_channel(text, text, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------------
-- Raising alerts (called by the worker in the scoring transaction) and grouping them.

CREATE FUNCTION ad_internal.raise_alerts(rule_ids uuid[], anomaly_ids uuid[], anomaly_times timestamptz[],
                                         source_ids uuid[], metrics text[], severities text[], titles text[],
                                         messages text[])
RETURNS TABLE (alert_id uuid, opened boolean)
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    gw interval;
BEGIN
    -- Fixed order, so two workers raising for the same groups take their row locks in the same order.
    FOR r IN SELECT * FROM unnest(rule_ids, anomaly_ids, anomaly_times, source_ids, metrics, severities, titles, messages)
                     AS u(rule_id, anomaly_id, at, source_id, metric, severity, title, message)
             ORDER BY u.rule_id, u.source_id, u.metric, u.at LOOP
        SELECT ar.group_window INTO gw FROM ad.alert_rules ar WHERE ar.id = r.rule_id;
        -- An open alert whose latest anomaly is older than the grouping window is over: close it, so this one
        -- opens a new alert (and is sent) instead of being folded into an old one.
        UPDATE ad.alerts al
           SET status = 'resolved', resolved_at = now(),
               notes = concat_ws(E'\n', al.notes,
                                 format('Resolved by adworker: a new anomaly came more than the grouping window (%s) '
                                        'after the last one.', gw))
         WHERE al.rule_id = r.rule_id AND al.source_id = r.source_id AND al.metric = r.metric
           AND al.status IN ('pending', 'sent', 'acknowledged', 'escalated')
           AND al.last_seen_at < r.at - gw;
        RETURN QUERY
        INSERT INTO ad.alerts AS al (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title,
                                     message, first_seen_at, last_seen_at)
        VALUES (r.rule_id, r.anomaly_id, r.at, r.source_id, r.metric, r.severity, r.title, r.message, r.at, r.at)
        ON CONFLICT (rule_id, source_id, metric) WHERE status IN ('pending', 'sent', 'acknowledged', 'escalated')
        DO UPDATE SET occurrences   = al.occurrences + 1,
                      first_seen_at = least(al.first_seen_at, EXCLUDED.first_seen_at),
                      last_seen_at  = greatest(al.last_seen_at, EXCLUDED.last_seen_at),
                      severity      = CASE WHEN ad_internal.severity_rank(EXCLUDED.severity)
                                                > ad_internal.severity_rank(al.severity)
                                           THEN EXCLUDED.severity ELSE al.severity END,
                      updated_at    = now()
        RETURNING al.id, (al.xmax = 0);
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ad_internal.raise_alerts(uuid[], uuid[], timestamptz[], uuid[], text[], text[], text[], text[]) IS
    'Opens an alert per (rule, source, metric), or folds the anomaly into the open one (occurrences, last seen, '
    'worst severity). The open-group unique index makes this safe with several workers. Returns each alert and '
    'whether it was opened.';
REVOKE ALL ON FUNCTION ad_internal.raise_alerts(uuid[], uuid[], timestamptz[], uuid[], text[], text[], text[], text[])
    FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------------
-- Every alert state change: the audit trail, and the deliveries it implies.

CREATE FUNCTION ad_internal.alert_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    uid uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    SELECT u.id INTO uid FROM ad.users u WHERE u.db_role = session_user;
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (uid, CASE TG_OP WHEN 'INSERT' THEN 'alert_opened' ELSE 'status_change' END, 'alert', NEW.id::text,
            CASE WHEN TG_OP = 'UPDATE' THEN jsonb_build_object('status', OLD.status) END,
            jsonb_strip_nulls(jsonb_build_object('status', NEW.status, 'notes', NEW.notes, 'rule_id', NEW.rule_id,
                                                 'severity', NEW.severity)));

    IF TG_OP = 'INSERT' THEN
        INSERT INTO ad.alert_deliveries (alert_id, channel_id, kind)
        SELECT NEW.id, rc.channel_id, 'trigger'
          FROM ad.alert_rule_channels rc
          JOIN ad.channels c ON c.id = rc.channel_id
         WHERE rc.rule_id = NEW.rule_id AND rc.purpose = 'notify' AND c.active;
    ELSIF NEW.status = 'escalated' THEN
        INSERT INTO ad.alert_deliveries (alert_id, channel_id, kind)
        SELECT NEW.id, rc.channel_id, 'escalate'
          FROM ad.alert_rule_channels rc
          JOIN ad.channels c ON c.id = rc.channel_id
         WHERE rc.rule_id = NEW.rule_id AND rc.purpose = 'escalate' AND c.active;
    ELSIF NEW.status IN ('acknowledged', 'resolved') THEN
        -- Nothing more to say about it: drop queued re-notifications and escalations (and, once resolved,
        -- triggers never sent), then tell the channels that were told it fired and understand the news.
        UPDATE ad.alert_deliveries d SET status = 'cancelled', last_error = 'alert ' || NEW.status
         WHERE d.alert_id = NEW.id AND d.status = 'pending'
           AND (d.kind IN ('renotify', 'escalate') OR (NEW.status = 'resolved' AND d.kind IN ('trigger', 'acknowledge')));
        INSERT INTO ad.alert_deliveries (alert_id, channel_id, kind)
        SELECT DISTINCT NEW.id, d.channel_id, CASE NEW.status WHEN 'acknowledged' THEN 'acknowledge' ELSE 'resolve' END
          FROM ad.alert_deliveries d
          JOIN ad.channels c ON c.id = d.channel_id
         WHERE d.alert_id = NEW.id AND d.kind IN ('trigger', 'escalate') AND d.status = 'sent'
           AND CASE NEW.status
                   WHEN 'acknowledged' THEN c.type IN ('pagerduty', 'webhook')
                   ELSE c.type IN ('pagerduty', 'webhook', 'alertmanager', 'slack')
               END;
    END IF;
    PERFORM pg_notify('ad_deliveries', '');
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.alert_changed() IS
    'Writes every alert state change to ad.audit_log (who, when, old, new) and queues the deliveries it implies: '
    'triggers on opening, escalations, and acknowledge/resolve for the channels that understand them.';
REVOKE ALL ON FUNCTION ad_internal.alert_changed() FROM PUBLIC;

CREATE TRIGGER alert_changed AFTER INSERT OR UPDATE OF status ON ad.alerts
    FOR EACH ROW EXECUTE FUNCTION ad_internal.alert_changed();
COMMENT ON TRIGGER alert_changed ON ad.alerts IS 'Audit trail and deliveries for alert state changes.';

-- ---------------------------------------------------------------------------------------------------------
-- The delivery loop's side: claim due deliveries under a lease, record outcomes, escalate, re-notify.

CREATE FUNCTION ad_internal.claim_deliveries(max_rows int, lease interval)
RETURNS TABLE (delivery_id uuid, kind text, attempt int, alert jsonb, channel_name text, channel_type text,
               target text, headers jsonb, config jsonb, secret text)
LANGUAGE sql
SET search_path TO pg_catalog, pg_temp
AS $fn$
    WITH due AS (
        SELECT d.id
          FROM ad.alert_deliveries d
         WHERE d.status = 'pending' AND d.next_attempt_at <= now()
           AND EXISTS (SELECT FROM ad.channels c WHERE c.id = d.channel_id AND c.active)
         ORDER BY d.next_attempt_at, d.id
         LIMIT max_rows
           FOR UPDATE SKIP LOCKED
    ), claimed AS (
        -- The lease: a worker that dies mid-send leaves the row due again once it runs out (at-least-once).
        UPDATE ad.alert_deliveries d
           SET attempts = d.attempts + 1, next_attempt_at = now() + lease
          FROM due
         WHERE d.id = due.id
        RETURNING d.id, d.kind, d.attempts, d.alert_id, d.channel_id
    )
    SELECT cl.id, cl.kind, cl.attempts,
           jsonb_build_object(
               'id', al.id, 'status', al.status, 'severity', al.severity, 'title', al.title, 'message', al.message,
               'metric', al.metric, 'occurrences', al.occurrences, 'first_seen_at', al.first_seen_at,
               'last_seen_at', al.last_seen_at, 'created_at', al.created_at, 'resolved_at', al.resolved_at,
               'acknowledged_at', al.acknowledged_at, 'notes', al.notes,
               'rule', jsonb_build_object('id', r.id, 'name', r.name),
               'source', jsonb_build_object('id', s.id, 'name', s.name),
               'anomaly', jsonb_build_object('id', an.id, 'point_timestamp', an.point_timestamp, 'score', an.score,
                                             'severity', an.severity, 'detector', an.detector,
                                             'explanation', an.explanation)),
           c.name, c.type, c.target, c.headers, c.config, cs.secret
      FROM claimed cl
      JOIN ad.alerts al ON al.id = cl.alert_id
      JOIN ad.alert_rules r ON r.id = al.rule_id
      JOIN ad.data_sources s ON s.id = al.source_id
      JOIN ad.channels c ON c.id = cl.channel_id
      LEFT JOIN ad.anomalies an ON an.id = al.anomaly_id AND an.point_timestamp = al.anomaly_timestamp
      LEFT JOIN ad_internal.channel_secrets cs ON cs.channel_id = c.id
     ORDER BY cl.id
$fn$;
COMMENT ON FUNCTION ad_internal.claim_deliveries(int, interval) IS
    'Claims up to max_rows due deliveries (SKIP LOCKED), counts the attempt and leases them: if the worker does '
    'not record an outcome within the lease, they are due again. Returns what sending needs, secret included.';
REVOKE ALL ON FUNCTION ad_internal.claim_deliveries(int, interval) FROM PUBLIC;

CREATE FUNCTION ad_internal.record_delivery(delivery uuid, attempt int, started timestamptz, finished timestamptz,
                                            outcome text, http_status int, smtp_reply text, error text,
                                            retry_at timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    d record;
BEGIN
    INSERT INTO ad.delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, http_status, smtp_reply, error)
    VALUES (delivery, attempt, started, finished, outcome, http_status, smtp_reply, error);
    -- Only the holder of the current lease moves the delivery on; a late report from a worker whose lease ran
    -- out (and whose delivery someone else took over) stays in the history only.
    UPDATE ad.alert_deliveries ad_d
       SET status          = CASE outcome WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' ELSE 'pending' END,
           next_attempt_at = CASE WHEN outcome = 'retry' THEN retry_at ELSE ad_d.next_attempt_at END,
           last_error      = CASE WHEN outcome = 'sent' THEN NULL ELSE error END,
           sent_at         = CASE WHEN outcome = 'sent' THEN finished END
     WHERE ad_d.id = delivery AND ad_d.attempts = attempt AND ad_d.status = 'pending'
    RETURNING ad_d.alert_id, ad_d.kind, ad_d.status INTO d;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;
    IF d.kind IN ('trigger', 'renotify', 'escalate') AND outcome = 'sent' THEN
        UPDATE ad.alerts al
           SET last_notified_at = finished,
               status = CASE WHEN al.status IN ('pending', 'failed') THEN 'sent' ELSE al.status END
         WHERE al.id = d.alert_id;
    ELSIF d.kind = 'trigger' AND outcome = 'failed' THEN
        -- Failed only when no channel got it and none still tries; it stays visible (and can escalate).
        UPDATE ad.alerts al SET status = 'failed'
         WHERE al.id = d.alert_id AND al.status = 'pending'
           AND NOT EXISTS (SELECT FROM ad.alert_deliveries o
                            WHERE o.alert_id = d.alert_id AND o.kind = 'trigger' AND o.status IN ('pending', 'sent'));
    END IF;
    RETURN d.status;
END
$fn$;
COMMENT ON FUNCTION ad_internal.record_delivery(uuid, int, timestamptz, timestamptz, text, int, text, text, timestamptz) IS
    'Records one delivery attempt in ad.delivery_attempts and moves the delivery (sent, retry at retry_at, failed) '
    'and its alert (sent, or failed when no channel got it) on. Returns the delivery''s status, or stale.';
REVOKE ALL ON FUNCTION ad_internal.record_delivery(uuid, int, timestamptz, timestamptz, text, int, text, text, timestamptz)
    FROM PUBLIC;

CREATE FUNCTION ad_internal.escalate_due() RETURNS int
LANGUAGE sql
SET search_path TO pg_catalog, pg_temp
AS $fn$
    WITH escalated AS (
        UPDATE ad.alerts al
           SET status = 'escalated', escalated_at = now()
          FROM ad.alert_rules r
         WHERE r.id = al.rule_id AND r.escalate_after IS NOT NULL
           AND al.status IN ('pending', 'sent', 'failed') AND al.escalated_at IS NULL
           AND al.created_at + r.escalate_after <= now()
        RETURNING al.id
    )
    SELECT count(*)::int FROM escalated
$fn$;
COMMENT ON FUNCTION ad_internal.escalate_due() IS
    'Escalates, once, every alert not acknowledged within its rule''s escalate_after; the alert_changed trigger '
    'queues the escalation deliveries. Returns how many.';
REVOKE ALL ON FUNCTION ad_internal.escalate_due() FROM PUBLIC;

CREATE FUNCTION ad_internal.renotify_due() RETURNS int
LANGUAGE sql
SET search_path TO pg_catalog, pg_temp
AS $fn$
    WITH due AS (
        SELECT al.id, al.rule_id
          FROM ad.alerts al
          JOIN ad.alert_rules r ON r.id = al.rule_id
         WHERE al.status IN ('sent', 'escalated') AND r.renotify_interval IS NOT NULL
           AND coalesce(al.last_notified_at, al.created_at) + r.renotify_interval <= now()
           AND NOT EXISTS (SELECT FROM ad.alert_deliveries d
                            WHERE d.alert_id = al.id AND d.kind IN ('trigger', 'renotify')
                              AND (d.status = 'pending' OR d.created_at + r.renotify_interval > now()))
           FOR UPDATE OF al SKIP LOCKED
    ), queued AS (
        INSERT INTO ad.alert_deliveries (alert_id, channel_id, kind)
        SELECT due.id, rc.channel_id, 'renotify'
          FROM due
          JOIN ad.alert_rule_channels rc ON rc.rule_id = due.rule_id AND rc.purpose = 'notify'
          JOIN ad.channels c ON c.id = rc.channel_id AND c.active
        RETURNING alert_id
    )
    SELECT count(DISTINCT alert_id)::int FROM queued
$fn$;
COMMENT ON FUNCTION ad_internal.renotify_due() IS
    'Queues a re-notification for every open, unacknowledged alert whose rule has a renotify_interval and that '
    'no channel was told about within it. Returns how many alerts.';
REVOKE ALL ON FUNCTION ad_internal.renotify_due() FROM PUBLIC;

-- ---- 096_operations.sql ----
-- Operators in psql: the alert and anomaly state machines, who did it, the audit trail, and the feedback queue.
-- A plain UPDATE of status (and notes) is the API; the functions below are the same UPDATE for scripts. Every
-- status change passes one trigger that checks the transition and records the person.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE VIEW ad.status_transitions AS
SELECT t.entity, t.from_status, t.to_status, t.actor, t.meaning
  FROM (VALUES
    ('alert', 'pending', 'sent', 'worker', 'a channel accepted it'),
    ('alert', 'failed', 'sent', 'worker', 'a later delivery got through'),
    ('alert', 'pending', 'failed', 'worker', 'no channel got it and none still tries'),
    ('alert', 'pending', 'escalated', 'worker', 'nobody acknowledged it within the rule''s escalate_after'),
    ('alert', 'sent', 'escalated', 'worker', 'nobody acknowledged it within the rule''s escalate_after'),
    ('alert', 'failed', 'escalated', 'worker', 'nobody acknowledged it within the rule''s escalate_after'),
    ('alert', 'pending', 'resolved', 'worker', 'a new anomaly came after the grouping window'),
    ('alert', 'sent', 'resolved', 'worker', 'a new anomaly came after the grouping window'),
    ('alert', 'acknowledged', 'resolved', 'worker', 'a new anomaly came after the grouping window'),
    ('alert', 'escalated', 'resolved', 'worker', 'a new anomaly came after the grouping window'),
    ('alert', 'pending', 'acknowledged', 'person', 'someone is on it'),
    ('alert', 'sent', 'acknowledged', 'person', 'someone is on it'),
    ('alert', 'escalated', 'acknowledged', 'person', 'someone is on it'),
    ('alert', 'failed', 'acknowledged', 'person', 'someone is on it'),
    ('alert', 'pending', 'resolved', 'person', 'over'),
    ('alert', 'sent', 'resolved', 'person', 'over'),
    ('alert', 'escalated', 'resolved', 'person', 'over'),
    ('alert', 'failed', 'resolved', 'person', 'over'),
    ('alert', 'acknowledged', 'resolved', 'person', 'over'),
    ('anomaly', 'detected', 'acknowledged', 'person', 'someone is looking'),
    ('anomaly', 'detected', 'confirmed', 'person', 'a true anomaly (keeps the series sensitive)'),
    ('anomaly', 'detected', 'false_positive', 'person', 'not an anomaly (similar points alert less)'),
    ('anomaly', 'detected', 'resolved', 'person', 'over, no judgement'),
    ('anomaly', 'acknowledged', 'confirmed', 'person', 'a true anomaly (keeps the series sensitive)'),
    ('anomaly', 'acknowledged', 'false_positive', 'person', 'not an anomaly (similar points alert less)'),
    ('anomaly', 'acknowledged', 'resolved', 'person', 'over, no judgement'),
    ('anomaly', 'confirmed', 'resolved', 'person', 'over (the confirmation stays in ad.feedback)'),
    ('anomaly', 'confirmed', 'false_positive', 'person', 'a correction'),
    ('anomaly', 'resolved', 'confirmed', 'person', 'judged after the fact'),
    ('anomaly', 'resolved', 'false_positive', 'person', 'judged after the fact'),
    ('anomaly', 'false_positive', 'confirmed', 'person', 'a correction')
  ) AS t(entity, from_status, to_status, actor, meaning);
COMMENT ON VIEW ad.status_transitions IS
    'The alert and anomaly state machines: every allowed status change and who may make it. Anything else is refused.';
COMMENT ON COLUMN ad.status_transitions.entity IS 'alert or anomaly.';
COMMENT ON COLUMN ad.status_transitions.from_status IS 'Status before.';
COMMENT ON COLUMN ad.status_transitions.to_status IS 'Status after.';
COMMENT ON COLUMN ad.status_transitions.actor IS
    'person (a login mapped to ad.users by db_role) or worker (a role with UPDATE on the whole table: adworker).';
COMMENT ON COLUMN ad.status_transitions.meaning IS 'What the change says.';

-- SECURITY INVOKER on purpose: whether the caller may make worker transitions is the caller's own table privilege,
-- which an operator (UPDATE on status and notes only) cannot borrow.
CREATE FUNCTION ad_internal.check_status_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    -- The entity comes as the trigger's argument: on a hypertable TG_TABLE_NAME is the chunk's name.
    ent constant text := TG_ARGV[0];
    tbl constant text := CASE TG_ARGV[0] WHEN 'alert' THEN 'alerts' ELSE 'anomalies' END;
    person ad.users%ROWTYPE;
    is_worker constant boolean := has_table_privilege(current_user, TG_RELID, 'UPDATE');
    by_person boolean;
    by_worker boolean;
    allowed text;
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    SELECT * INTO person FROM ad.users u WHERE u.db_role = session_user;
    SELECT coalesce(bool_or(t.actor = 'person'), false), coalesce(bool_or(t.actor = 'worker'), false) AND is_worker
      INTO by_person, by_worker
      FROM ad.status_transitions t
     WHERE t.entity = ent AND t.from_status = OLD.status AND t.to_status = NEW.status;

    IF NOT by_person AND NOT by_worker THEN
        SELECT string_agg(DISTINCT t.to_status, ', ') INTO allowed
          FROM ad.status_transitions t
         WHERE t.entity = ent AND t.from_status = OLD.status
           AND (t.actor = 'person' OR is_worker);
        RAISE EXCEPTION 'ad.%: % % cannot go from % to %; from % it may go to: %', tbl, ent, NEW.id,
                        OLD.status, NEW.status, OLD.status, coalesce(allowed, 'nothing (it is final)')
            USING ERRCODE = 'check_violation',
                  HINT = format('SELECT * FROM ad.status_transitions WHERE entity = %L shows the state machine.', ent);
    END IF;
    IF by_person AND NOT by_worker AND (person.id IS NULL OR NOT person.active) THEN
        RAISE EXCEPTION 'ad.%: role "%" is %, so nobody can be recorded as having set % % to %', tbl,
                        session_user, CASE WHEN person.id IS NULL THEN 'not mapped to a person'
                                           ELSE format('mapped to %s, who is no longer active', person.name) END,
                        ent, NEW.id, NEW.status
            USING ERRCODE = 'invalid_authorization_specification',
                  HINT = CASE WHEN person.id IS NULL
                              THEN format('Map the login first: INSERT INTO ad.users (name, db_role) VALUES (''Your Name'', %L);', session_user)
                              ELSE format('UPDATE ad.users SET active = true WHERE db_role = %L;', session_user) END;
    END IF;

    -- A worker transition is attributed to the mapped person when there is one (a DBA at the keyboard), else to nobody.
    IF ent = 'alert' THEN
        NEW.updated_at := now();
        IF NEW.status = 'acknowledged' THEN
            NEW.acknowledged_at := now();
            NEW.acknowledged_by := person.id;
        ELSIF NEW.status = 'resolved' THEN
            NEW.resolved_at := now();
            NEW.resolved_by := person.id;
        END IF;
    ELSE
        NEW.status_changed_at := now();
        NEW.status_changed_by := person.id;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION ad_internal.check_status_change() IS
    'Refuses a status change ad.status_transitions does not allow (naming the allowed ones), refuses a person''s '
    'change from a login not mapped to an active ad.users row, and stamps when and by whom.';

CREATE TRIGGER check_status_change BEFORE UPDATE OF status ON ad.alerts
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_status_change('alert');
COMMENT ON TRIGGER check_status_change ON ad.alerts IS
    'The alert state machine; fills acknowledged_at/by and resolved_at/by.';
CREATE TRIGGER check_status_change BEFORE UPDATE OF status ON ad.anomalies
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_status_change('anomaly');
COMMENT ON TRIGGER check_status_change ON ad.anomalies IS
    'The anomaly state machine; fills status_changed_at/by.';

-- A person's change becomes feedback (the queue the worker's feedback loop consumes) and wakes that loop.
CREATE FUNCTION ad_internal.status_feedback() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_ARGV[0] = 'anomaly' THEN  -- not TG_TABLE_NAME: a chunk's name on a hypertable
        INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
        VALUES (NEW.status_changed_by, 'status_change', 'anomaly', NEW.id::text, jsonb_build_object('status', OLD.status),
                jsonb_strip_nulls(jsonb_build_object('status', NEW.status, 'notes', NEW.notes, 'score', NEW.score)));
        IF NEW.status_changed_by IS NOT NULL THEN
            INSERT INTO ad.feedback (anomaly_id, anomaly_timestamp, user_id, feedback_type, notes)
            VALUES (NEW.id, NEW.point_timestamp, NEW.status_changed_by,
                    CASE NEW.status WHEN 'confirmed' THEN 'true_positive' ELSE NEW.status END, NEW.notes);
        END IF;
    ELSE
        INSERT INTO ad.feedback (anomaly_id, anomaly_timestamp, alert_id, user_id, feedback_type, notes)
        VALUES (NEW.anomaly_id, NEW.anomaly_timestamp, NEW.id,
                CASE NEW.status WHEN 'acknowledged' THEN NEW.acknowledged_by ELSE NEW.resolved_by END, NEW.status, NEW.notes);
    END IF;
    PERFORM pg_notify('ad_feedback', '');
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.status_feedback() IS
    'Audits anomaly status changes, queues a person''s judgement as ad.feedback and notifies ad_feedback.';
REVOKE ALL ON FUNCTION ad_internal.status_feedback() FROM PUBLIC;

CREATE TRIGGER status_feedback AFTER UPDATE OF status ON ad.anomalies
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION ad_internal.status_feedback('anomaly');
COMMENT ON TRIGGER status_feedback ON ad.anomalies IS 'Audit trail and feedback for anomaly status changes.';
-- Alerts are audited by alert_changed; only a person's acknowledge or resolve is feedback.
CREATE TRIGGER status_feedback AFTER UPDATE OF status ON ad.alerts
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       AND ((NEW.status = 'acknowledged' AND NEW.acknowledged_by IS NOT NULL)
                            OR (NEW.status = 'resolved' AND NEW.resolved_by IS NOT NULL)))
    EXECUTE FUNCTION ad_internal.status_feedback('alert');
COMMENT ON TRIGGER status_feedback ON ad.alerts IS 'A person''s acknowledge or resolve, queued as feedback.';

-- ---------------------------------------------------------------------------------------------------------
-- The same as functions, for scripts and tools. They run with the caller's rights: the same UPDATE, the same
-- privileges, the same trigger.

CREATE FUNCTION ad.change_status(entity text, id uuid, status text, notes text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    tbl constant text := CASE entity WHEN 'alert' THEN 'ad.alerts' WHEN 'anomaly' THEN 'ad.anomalies' END;
    result text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ad.change_status: entity must be alert or anomaly, got "%"', entity
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- tbl is one of two constants above; the values are bound.
    EXECUTE format('UPDATE %s AS t SET status = $1, notes = coalesce($2, t.notes) WHERE t.id = $3 RETURNING t.status', tbl)
       INTO result USING status, notes, id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'ad.change_status: no % with id %', entity, id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN result;
END
$fn$;
COMMENT ON FUNCTION ad.change_status(text, uuid, text, text) IS
    'Sets an alert''s or anomaly''s status (and notes, when given) through the state machine; returns the status. '
    'Setting the status it already has changes only the notes.';

CREATE FUNCTION ad.acknowledge_alert(alert uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('alert', alert, 'acknowledged', notes);
COMMENT ON FUNCTION ad.acknowledge_alert(uuid, text) IS
    'Acknowledges an alert (PagerDuty and webhooks are told); the same as UPDATE ad.alerts SET status = ''acknowledged''.';

CREATE FUNCTION ad.resolve_alert(alert uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('alert', alert, 'resolved', notes);
COMMENT ON FUNCTION ad.resolve_alert(uuid, text) IS
    'Resolves an alert (PagerDuty, webhooks, Alertmanager and Slack are told); the same as UPDATE ad.alerts SET status = ''resolved''.';

CREATE FUNCTION ad.mark_false_positive(anomaly uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('anomaly', anomaly, 'false_positive', notes);
COMMENT ON FUNCTION ad.mark_false_positive(uuid, text) IS
    'Marks an anomaly a false positive: similar points on its series alert less (see ad.scoring_adjustments).';

CREATE FUNCTION ad.confirm_anomaly(anomaly uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('anomaly', anomaly, 'confirmed', notes);
COMMENT ON FUNCTION ad.confirm_anomaly(uuid, text) IS
    'Confirms an anomaly as a true positive: learning will not make its series less sensitive than its score.';

REVOKE ALL ON FUNCTION ad.change_status(text, uuid, text, text), ad.acknowledge_alert(uuid, text),
    ad.resolve_alert(uuid, text), ad.mark_false_positive(uuid, text), ad.confirm_anomaly(uuid, text) FROM PUBLIC;

-- ---- 098_learning.sql ----
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

-- The worker applies the same reduction (ADCore.SeriesLearning); the replay test checks that they agree.
CREATE VIEW ad.learned_patterns AS
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
CREATE FUNCTION ad_internal.adjustment_changed() RETURNS trigger
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
    'Undoes a learned adjustment (audited, attributed to the mapped person); the worker follows at its next '
    'config refresh. Returns undone or already undone.';
REVOKE ALL ON FUNCTION ad.undo_adjustment(bigint, text) FROM PUBLIC;

-- ---- 100_storage.sql ----
-- Storage features that need TimescaleDB's community license, and their plain-PostgreSQL equivalents.
-- Whatever the path, users see the same tables and a relation ad.anomaly_summary_hourly with the same columns.
SET LOCAL search_path TO pg_catalog, pg_temp;

DO $do$
DECLARE
    ts name := ad_internal.timescaledb_schema();
    -- Well past any scoring backlog: UPDATE on compressed chunks works but is slow.
    compress_after interval := interval '7 days';
    summary_select text := $sql$
        SELECT %s AS bucket,
               a.source_id,
               a.severity,
               count(*) AS anomalies,
               max(a.score) AS max_score,
               avg(a.score) AS avg_score
          FROM ad.anomalies a
         GROUP BY 1, 2, 3$sql$;
BEGIN
    IF ts IS NOT NULL THEN
        INSERT INTO ad_internal.storage (key, value)
        SELECT 'timescaledb_version', e.extversion FROM pg_extension e WHERE e.extname = 'timescaledb';
        INSERT INTO ad_internal.storage (key, value)
        VALUES ('timescaledb_license', coalesce(current_setting('timescaledb.license', true), 'apache'));
    END IF;

    IF ad_internal.timescaledb_licensed() THEN
        -- Compress whole source segments, newest first; only chunks well past the scoring backlog.
        EXECUTE 'ALTER TABLE ad.data_points SET (timescaledb.compress, '
                'timescaledb.compress_segmentby = ''source_id'', timescaledb.compress_orderby = ''"timestamp" DESC'')';
        EXECUTE format('SELECT %I.add_compression_policy(%L::regclass, compress_after => %L::interval)',
                       ts, 'ad.data_points', compress_after);
        INSERT INTO ad_internal.storage (key, value) VALUES ('compression', ad_internal.interval_text(compress_after));
        INSERT INTO ad_internal.storage (key, value) VALUES ('retention_policy_schema', ts);

        EXECUTE 'CREATE MATERIALIZED VIEW ad.anomaly_summary_hourly '
                'WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS '
                || format(summary_select, format('%I.time_bucket(interval ''1 hour'', a.point_timestamp)', ts))
                || ' WITH NO DATA';
        EXECUTE format('SELECT %I.add_continuous_aggregate_policy(%L::regclass, start_offset => NULL, '
                       'end_offset => interval ''1 hour'', schedule_interval => interval ''1 hour'')',
                       ts, 'ad.anomaly_summary_hourly');
        INSERT INTO ad_internal.storage (key, value) VALUES ('continuous_aggregate', 'ad.anomaly_summary_hourly');
    ELSE
        -- time_bucket buckets in UTC; date_trunc with an explicit zone does the same.
        EXECUTE 'CREATE VIEW ad.anomaly_summary_hourly AS '
                || format(summary_select, 'date_trunc(''hour'', a.point_timestamp, ''UTC'')');
    END IF;
    IF ts IS NOT NULL AND NOT ad_internal.timescaledb_licensed() THEN
        INSERT INTO ad_internal.storage (key, value) VALUES ('hypertable_schema', ts);
    END IF;
END
$do$;

COMMENT ON VIEW ad.anomaly_summary_hourly IS
    'Anomalies per hour, source and severity. With TimescaleDB a real-time continuous aggregate; otherwise a view.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.bucket IS 'Start of the hour (UTC buckets).';
COMMENT ON COLUMN ad.anomaly_summary_hourly.source_id IS 'The source.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.severity IS 'Severity.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.anomalies IS 'Anomalies in the hour.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.max_score IS 'Highest score in the hour.';
COMMENT ON COLUMN ad.anomaly_summary_hourly.avg_score IS 'Mean score in the hour.';

-- ---- 110_views.sql ----
-- Views: the stable surface BI tools read. Recreated on every upgrade (CREATE OR REPLACE).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE VIEW ad.source_overview AS
SELECT s.id AS source_id,
       s.name AS source_name,
       s.type,
       s.status,
       s.created_at,
       last_point."timestamp" AS last_point_at,
       (SELECT count(*) FROM ad.anomalies a
         WHERE a.source_id = s.id AND a.point_timestamp > now() - interval '24 hours') AS anomalies_24h,
       (SELECT count(*) FROM ad.alerts al
         WHERE al.source_id = s.id AND al.status IN ('pending', 'sent', 'acknowledged', 'escalated')) AS open_alerts
  FROM ad.data_sources s
  LEFT JOIN LATERAL (SELECT p."timestamp" FROM ad.data_points p
                      WHERE p.source_id = s.id ORDER BY p."timestamp" DESC LIMIT 1) last_point ON true;
COMMENT ON VIEW ad.source_overview IS 'One row per source: state, latest point, anomalies in the last 24 hours, open alerts.';

CREATE OR REPLACE VIEW ad.point_values AS
SELECT p.source_id,
       s.name AS source_name,
       p."timestamp",
       kv.key AS metric,
       (kv.value)::double precision AS value,
       p.anomaly_score
  FROM ad.data_points p
  JOIN ad.data_sources s ON s.id = p.source_id
 CROSS JOIN LATERAL jsonb_each(p.values) kv;
COMMENT ON VIEW ad.point_values IS
    'Observations in long format (one row per point and metric) with their anomaly score. Filter on "timestamp".';

CREATE OR REPLACE VIEW ad.anomaly_details AS
SELECT a.id AS anomaly_id,
       a.point_timestamp,
       a.detected_at,
       a.source_id,
       s.name AS source_name,
       a.metric,
       a.severity,
       a.score,
       a.status,
       a.detector,
       a.model_id,
       (a.explanation ->> 'actual')::double precision AS actual,
       (a.explanation ->> 'expected')::double precision AS expected,
       a.explanation,
       a.notes
  FROM ad.anomalies a
  JOIN ad.data_sources s ON s.id = a.source_id;
COMMENT ON VIEW ad.anomaly_details IS 'Anomalies with their source name and the actual and expected values.';

CREATE OR REPLACE VIEW ad.alert_overview AS
SELECT al.id AS alert_id,
       al.status,
       al.severity,
       al.title,
       r.name AS rule_name,
       s.name AS source_name,
       al.metric,
       al.occurrences,
       al.first_seen_at,
       al.last_seen_at,
       al.created_at,
       al.acknowledged_at,
       ack.name AS acknowledged_by,
       al.resolved_at,
       res.name AS resolved_by,
       al.escalated_at,
       al.notes,
       al.anomaly_id
  FROM ad.alerts al
  JOIN ad.alert_rules r ON r.id = al.rule_id
  JOIN ad.data_sources s ON s.id = al.source_id
  LEFT JOIN ad.users ack ON ack.id = al.acknowledged_by
  LEFT JOIN ad.users res ON res.id = al.resolved_by;
COMMENT ON VIEW ad.alert_overview IS 'Alerts with rule, source and people by name. Never shows channel secrets.';

CREATE OR REPLACE VIEW ad.feedback_precision AS
WITH judged AS (
    -- An anomaly's judgement is its latest false_positive or true_positive feedback (so confirming and then
    -- resolving it still counts as confirmed).
    SELECT DISTINCT ON (f.anomaly_id) f.anomaly_id, f.anomaly_timestamp, f.feedback_type
      FROM ad.feedback f
     WHERE f.feedback_type IN ('false_positive', 'true_positive')
     ORDER BY f.anomaly_id, f.created_at DESC, f.id
), daily AS (
    SELECT a.source_id, a.detector, a.model_id,
           date_trunc('day', a.point_timestamp, 'UTC') AS day,
           count(*) AS anomalies,
           count(*) FILTER (WHERE j.feedback_type = 'true_positive') AS confirmed,
           count(*) FILTER (WHERE j.feedback_type = 'false_positive') AS rejected
      FROM ad.anomalies a
      LEFT JOIN judged j ON j.anomaly_id = a.id AND j.anomaly_timestamp = a.point_timestamp
     GROUP BY a.source_id, a.detector, a.model_id, date_trunc('day', a.point_timestamp, 'UTC')
)
SELECT d.source_id,
       s.name AS source_name,
       d.detector,
       d.model_id,
       d.day,
       d.anomalies,
       d.confirmed,
       d.rejected,
       d.anomalies - d.confirmed - d.rejected AS unjudged,
       d.confirmed::double precision / nullif(d.confirmed + d.rejected, 0) AS precision,
       sum(d.confirmed) OVER w::double precision / nullif(sum(d.confirmed + d.rejected) OVER w, 0) AS cumulative_precision
  FROM daily d
  JOIN ad.data_sources s ON s.id = d.source_id
WINDOW w AS (PARTITION BY d.source_id, d.detector, d.model_id ORDER BY d.day);
COMMENT ON VIEW ad.feedback_precision IS
    'Precision from operator feedback per source, detector and model, by day (UTC) of the anomalous points: '
    'confirmed and rejected (false positive) anomalies, the day''s precision and the running precision so far.';
COMMENT ON COLUMN ad.feedback_precision.source_id IS 'The source.';
COMMENT ON COLUMN ad.feedback_precision.source_name IS 'Its name.';
COMMENT ON COLUMN ad.feedback_precision.detector IS 'The detector that fired.';
COMMENT ON COLUMN ad.feedback_precision.model_id IS 'The model, or NULL for a built-in detector.';
COMMENT ON COLUMN ad.feedback_precision.day IS 'Day (UTC) of the anomalous points.';
COMMENT ON COLUMN ad.feedback_precision.anomalies IS 'Anomalies that day.';
COMMENT ON COLUMN ad.feedback_precision.confirmed IS 'Of them, confirmed true positives (latest judgement).';
COMMENT ON COLUMN ad.feedback_precision.rejected IS 'Of them, marked false positives (latest judgement).';
COMMENT ON COLUMN ad.feedback_precision.unjudged IS 'Of them, not judged either way.';
COMMENT ON COLUMN ad.feedback_precision.precision IS 'confirmed / (confirmed + rejected) that day; NULL when none was judged.';
COMMENT ON COLUMN ad.feedback_precision.cumulative_precision IS 'The same over every day up to this one.';

-- ---- 120_retention.sql ----
-- Retention: one setting, the same call with or without TimescaleDB.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad.set_retention(keep interval) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
SET IntervalStyle TO postgres  -- the stored text must not depend on the caller's style
AS $fn$
DECLARE
    ts_schema name;
BEGIN
    IF keep IS NOT NULL AND keep <= interval '0' THEN
        RAISE EXCEPTION 'ad.set_retention: keep must be positive or NULL (keep forever), got %', keep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ad.settings AS s (key, value, description)
    VALUES ('retention', coalesce(to_jsonb(keep::text), 'null'::jsonb),
            'How long data points are kept (an interval); null keeps them forever. Set with ad.set_retention().')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = current_user;
    SELECT value INTO ts_schema FROM ad_internal.storage WHERE key = 'retention_policy_schema';
    IF ts_schema IS NOT NULL THEN
        EXECUTE format('SELECT %I.remove_retention_policy(%L::regclass, if_exists => true)', ts_schema, 'ad.data_points');
        IF keep IS NOT NULL THEN
            EXECUTE format('SELECT %I.add_retention_policy(%L::regclass, drop_after => %L::interval)',
                           ts_schema, 'ad.data_points', keep);
            RETURN format('data points older than %s are dropped by a TimescaleDB retention policy', keep);
        END IF;
        RETURN 'data points are kept forever';
    END IF;
    IF keep IS NULL THEN
        RETURN 'data points are kept forever';
    END IF;
    RETURN format('data points older than %s are deleted each time ad.apply_retention() runs', keep);
END
$fn$;
COMMENT ON FUNCTION ad.set_retention(interval) IS
    'Sets how long data points are kept (NULL: forever). With licensed TimescaleDB a retention policy drops old chunks; '
    'otherwise ad.apply_retention() deletes old rows.';
REVOKE ALL ON FUNCTION ad.set_retention(interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.apply_retention() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    keep interval;
    ts_schema name;
    removed bigint := 0;
BEGIN
    SELECT (value #>> '{}')::interval INTO keep FROM ad.settings WHERE key = 'retention';
    IF keep IS NULL OR EXISTS (SELECT FROM ad_internal.storage WHERE key = 'retention_policy_schema') THEN
        RETURN 0;  -- kept forever, or a TimescaleDB policy does it
    END IF;
    SELECT value INTO ts_schema FROM ad_internal.storage WHERE key = 'hypertable_schema';
    IF ts_schema IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %I.drop_chunks(%L::regclass, older_than => now() - %L::interval)',
                       ts_schema, 'ad.data_points', keep) INTO removed;
        RETURN removed;  -- chunks dropped
    END IF;
    DELETE FROM ad.data_points WHERE "timestamp" < now() - keep;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$fn$;
COMMENT ON FUNCTION ad.apply_retention() IS
    'Removes data points older than the retention setting when no TimescaleDB policy does it. '
    'Returns rows deleted (plain tables) or chunks dropped (hypertable without a licensed policy).';
REVOKE ALL ON FUNCTION ad.apply_retention() FROM PUBLIC;

-- ---- 130_roles.sql ----
-- Least-privilege group roles. Roles are cluster-wide, so installing the schema never creates them:
-- a DBA calls SELECT ad.create_roles() once, then grants them to logins
-- (CREATE ROLE alice LOGIN IN ROLE ad_operator). Both functions are idempotent.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad_internal.grant_role_privileges() RETURNS void
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    -- Each block runs only when its role exists, so this is safe to call from install and upgrade scripts.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') THEN
        GRANT USAGE ON SCHEMA ad TO ad_reader;
        GRANT SELECT ON ad.source_overview, ad.point_values, ad.anomaly_details, ad.alert_overview,
                        ad.anomaly_summary_hourly, ad.feedback_precision, ad.learned_patterns,
                        ad.status_transitions TO ad_reader;
    END IF;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_ingest') THEN
        GRANT USAGE ON SCHEMA ad TO ad_ingest;
        GRANT SELECT (id, name, type, status) ON ad.data_sources TO ad_ingest;
        -- Table-level on data_points, never column-level: TimescaleDB 2.28 propagates column grants on a compressed
        -- hypertable to its internal compressed table, which has no such columns, and the GRANT fails. Points
        -- arriving pre-scored are refused by trigger instead; re-sends use ON CONFLICT DO NOTHING, corrections
        -- ad.upsert_point().
        GRANT INSERT ON ad.data_points TO ad_ingest;
        GRANT EXECUTE ON FUNCTION ad.upsert_point(uuid, timestamptz, jsonb) TO ad_ingest;
    END IF;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_operator') THEN
        GRANT USAGE ON SCHEMA ad TO ad_operator;
        GRANT SELECT ON ad.data_sources, ad.data_points, ad.anomalies, ad.ml_models, ad.users, ad.channels,
                        ad.alert_rules, ad.alert_rule_channels, ad.alerts, ad.alert_deliveries, ad.delivery_attempts,
                        ad.feedback, ad.audit_log, ad.settings, ad.scoring_adjustments, ad.status_transitions,
                        ad.learned_patterns, ad.feedback_precision TO ad_operator;
        GRANT INSERT, UPDATE (name, type, config, status, description, updated_at) ON ad.data_sources TO ad_operator;
        GRANT UPDATE (status, notes) ON ad.anomalies, ad.alerts TO ad_operator;
        GRANT INSERT, UPDATE, DELETE ON ad.alert_rules, ad.alert_rule_channels, ad.channels TO ad_operator;
        GRANT EXECUTE ON FUNCTION ad.set_channel_secret(text, text) TO ad_operator;
        GRANT EXECUTE ON FUNCTION ad.add_rule_channel(text, text, text) TO ad_operator;
        -- The operator functions run with the operator's rights: the same column privileges, the same trigger.
        GRANT EXECUTE ON FUNCTION ad.change_status(text, uuid, text, text), ad.acknowledge_alert(uuid, text),
            ad.resolve_alert(uuid, text), ad.mark_false_positive(uuid, text), ad.confirm_anomaly(uuid, text),
            ad.undo_adjustment(bigint, text) TO ad_operator;
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') AND NOT pg_has_role('ad_operator', 'ad_reader', 'MEMBER') THEN
            GRANT ad_reader TO ad_operator;
        END IF;
    END IF;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_scientist') THEN
        GRANT USAGE ON SCHEMA ad TO ad_scientist;
        GRANT SELECT ON ad.data_sources, ad.data_points, ad.anomalies, ad.ml_models, ad.feedback TO ad_scientist;
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') AND NOT pg_has_role('ad_scientist', 'ad_reader', 'MEMBER') THEN
            GRANT ad_reader TO ad_scientist;
        END IF;
    END IF;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_worker') THEN
        GRANT USAGE ON SCHEMA ad, ad_internal TO ad_worker;
        GRANT SELECT ON ad_internal.schema_migrations, ad_internal.storage, ad_internal.channel_secrets TO ad_worker;
        GRANT SELECT ON ad.data_sources, ad.users, ad.channels, ad.alert_rules, ad.alert_rule_channels, ad.settings
              TO ad_worker;
        GRANT SELECT, UPDATE ON ad.data_points TO ad_worker;  -- table-level: see ad_ingest above
        GRANT SELECT, INSERT, UPDATE ON ad.anomalies, ad.alerts, ad.alert_deliveries, ad.ml_models TO ad_worker;
        GRANT SELECT, UPDATE (processed_at, result) ON ad.feedback TO ad_worker;
        GRANT SELECT, INSERT ON ad.scoring_adjustments TO ad_worker;
        GRANT SELECT ON ad.status_transitions TO ad_worker;
        GRANT SELECT, INSERT ON ad.delivery_attempts, ad.audit_log TO ad_worker;
        GRANT EXECUTE ON FUNCTION ad.apply_retention() TO ad_worker;
        GRANT EXECUTE ON FUNCTION
            ad_internal.raise_alerts(uuid[], uuid[], timestamptz[], uuid[], text[], text[], text[], text[]),
            ad_internal.claim_deliveries(int, interval),
            ad_internal.record_delivery(uuid, int, timestamptz, timestamptz, text, int, text, text, timestamptz),
            ad_internal.escalate_due(), ad_internal.renotify_due() TO ad_worker;
    END IF;
END
$fn$;
COMMENT ON FUNCTION ad_internal.grant_role_privileges() IS
    'Grants each existing ad_* role exactly the privileges of its job. Idempotent; install and upgrades call it.';
REVOKE ALL ON FUNCTION ad_internal.grant_role_privileges() FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.create_roles() RETURNS SETOF text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
            ('ad_ingest',    'Data engineers and loaders: insert data points, read source ids.'),
            ('ad_reader',    'BI tools: read the ad views, nothing else.'),
            ('ad_operator',  'Operators: read everything, acknowledge, resolve and judge anomalies, undo learning, manage rules and channels.'),
            ('ad_scientist', 'Data scientists: read data, anomalies, models and feedback.'),
            ('ad_worker',    'The adworker process: score points, write anomalies and alerts, read channel secrets.')
        ) AS v(name, what) LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
            EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, 'anomaly_detection: ' || r.what);
            RETURN NEXT format('created role %s', r.name);
        ELSE
            RETURN NEXT format('role %s exists', r.name);
        END IF;
    END LOOP;
    PERFORM ad_internal.grant_role_privileges();
    RETURN NEXT 'granted privileges';
END
$fn$;
COMMENT ON FUNCTION ad.create_roles() IS
    'Creates the group roles ad_ingest, ad_reader, ad_operator, ad_scientist and ad_worker if missing and grants '
    'their privileges in this database. Needs CREATEROLE. Idempotent. Grant them to logins: '
    'CREATE ROLE alice LOGIN IN ROLE ad_operator.';
REVOKE ALL ON FUNCTION ad.create_roles() FROM PUBLIC;

-- Roles may already exist (created for another database in this cluster): give them their privileges here too.
SELECT ad_internal.grant_role_privileges();

-- Appended to the extension's install script only (adworker migrate records its version itself).
-- Extension member tables are skipped by pg_dump unless registered, so every table people or the worker
-- fill is registered; the version row says which installer ran.
SET LOCAL search_path TO pg_catalog, pg_temp;

DO $do$
DECLARE
    rel regclass;
BEGIN
    -- One call per statement: each call rewrites the same pg_extension row.
    FOR rel IN SELECT c.oid::regclass
                 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('ad', 'ad_internal') AND c.relkind IN ('r', 'p', 'S')
                  -- Written by the install script itself: a restore runs it again, so dumping them would collide.
                  AND c.oid NOT IN ('ad_internal.schema_migrations'::regclass, 'ad_internal.storage'::regclass)
                ORDER BY c.oid LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
END
$do$;

INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('0.1.0', 'extension');
