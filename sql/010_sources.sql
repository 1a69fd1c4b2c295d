-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- data_points carries no foreign key (see 020_points.sql); deleting a source deletes its points here.
CREATE OR REPLACE FUNCTION ad_internal.source_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER  -- as the owner, like a foreign key's own checks and actions
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    DELETE FROM ad.data_points p WHERE p.source_id = OLD.id;
    RETURN OLD;
END
$fn$;
COMMENT ON FUNCTION ad_internal.source_deleted() IS 'Deletes the points of a deleted source.';

CREATE OR REPLACE FUNCTION ad_internal.fixed_source_id() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'ad.data_sources: id cannot change (source "%")', OLD.name USING ERRCODE = 'feature_not_supported';
END
$fn$;
COMMENT ON FUNCTION ad_internal.fixed_source_id() IS 'Refuses to change a source id that points refer to.';

CREATE OR REPLACE TRIGGER fixed_source_id BEFORE UPDATE OF id ON ad.data_sources
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION ad_internal.fixed_source_id();
COMMENT ON TRIGGER fixed_source_id ON ad.data_sources IS 'Source ids are permanent.';

-- The same rules as the worker's SourceConfig.parse (a test feeds one table of cases to both).
CREATE OR REPLACE FUNCTION ad.config_problem(config jsonb) RETURNS text
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

CREATE OR REPLACE FUNCTION ad_internal.check_source_config() RETURNS trigger
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

CREATE OR REPLACE TRIGGER check_source_config BEFORE INSERT OR UPDATE OF config ON ad.data_sources
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_source_config();
COMMENT ON TRIGGER check_source_config ON ad.data_sources IS 'Validates per-source detection config.';
