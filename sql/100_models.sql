-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Models from SQL: a data scientist asks for training (ad.train_model), the worker claims the job, trains,
-- evaluates and registers the model (ad_internal.claim_training ... finish_training); ad.promote_model makes it the
-- source's production model; the drift monitor (ad_internal.record_drift) asks for retraining. Tables:
-- sql/pre_install/030_models.sql and 035_model_data.sql.
SET LOCAL search_path TO pg_catalog, pg_temp;

-- The documented hyperparameters of each trainable algorithm. The worker's Swift catalogue
-- (ADCore/Models, ModelAlgorithm.hyperparameters) is the same list; a test compares the two.
CREATE OR REPLACE FUNCTION ad.model_hyperparameters()
RETURNS TABLE (algorithm text, name text, kind text, default_value double precision, minimum double precision,
               maximum double precision, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
AS $fn$
    VALUES
    -- @hyperparameters-begin (the Swift catalogue, ADCore/Models ModelAlgorithm.hyperparameters; a test compares)
    ('autoencoder', 'input_window', 'integer', 20, 1, 1000, 'Each metric''s input is the mean of its last input_window values, the current one last (1: the value itself). Noisy sensors and sustained faults need it: 20 is SKAB''s recipe.'),
    ('autoencoder', 'score_window', 'integer', 1, 1, 1000, 'A point''s raw score is the mean of the last score_window rows'' raw scores (1: its own). A point needs input_window + score_window - 1 consecutive complete rows.'),
    ('autoencoder', 'calibration_fraction', 'number', 0.25, 0.05, 0.5, 'The last fraction of the training rows, in time order, is held out: the model is fitted on the rows before and its scores are calibrated on these.'),
    ('autoencoder', 'tail_fraction', 'number', 0.2, 0.01, 0.5, 'Calibration: an exponential tail is fitted to the top fraction of the held-out raw scores (at least 2 of them); beyond them, tail probabilities come from it.'),
    ('autoencoder', 'robust_scaling', 'boolean', 0, 0, 1, 'Standardise each metric by its training median and MAD x 1.4826 (1) instead of its mean and sample standard deviation (0, the default).'),
    ('autoencoder', 'hidden', 'integer', 0, 0, 256, 'Units of the two hidden tanh layers (inputs -> hidden -> code -> hidden -> inputs); 0: as many as the metrics (at least 2).'),
    ('autoencoder', 'code', 'integer', 0, 0, 64, 'Units of the tanh bottleneck layer, best below the number of metrics; 0: half the metrics, rounded up.'),
    ('autoencoder', 'epochs', 'integer', 60, 1, 500, 'Passes over the training rows (at most max_rows of them).'),
    ('autoencoder', 'batch_size', 'integer', 32, 1, 1024, 'Rows per Adam step (mini-batch), shuffled each epoch.'),
    ('autoencoder', 'learning_rate', 'number', 0.003, 0.00001, 0.1, 'Adam''s step size (beta1 0.9, beta2 0.999, epsilon 1e-8).'),
    ('autoencoder', 'l2', 'number', 0.0001, 0, 0.1, 'L2 weight decay added to the mean squared error''s gradient (weights, not biases).'),
    ('autoencoder', 'max_rows', 'integer', 10000, 100, 100000, 'Training uses at most this many rows, drawn at random (seeded) from the training part: with epochs it bounds training time to about epochs x max_rows x 6 x weights operations.'),
    ('isolation_forest', 'input_window', 'integer', 20, 1, 1000, 'Each metric''s input is the mean of its last input_window values, the current one last (1: the value itself). Noisy sensors and sustained faults need it: 20 is SKAB''s recipe.'),
    ('isolation_forest', 'score_window', 'integer', 1, 1, 1000, 'A point''s raw score is the mean of the last score_window rows'' raw scores (1: its own). A point needs input_window + score_window - 1 consecutive complete rows.'),
    ('isolation_forest', 'calibration_fraction', 'number', 0.25, 0.05, 0.5, 'The last fraction of the training rows, in time order, is held out: the model is fitted on the rows before and its scores are calibrated on these.'),
    ('isolation_forest', 'tail_fraction', 'number', 0.2, 0.01, 0.5, 'Calibration: an exponential tail is fitted to the top fraction of the held-out raw scores (at least 2 of them); beyond them, tail probabilities come from it.'),
    ('isolation_forest', 'robust_scaling', 'boolean', 0, 0, 1, 'Standardise each metric by its training median and MAD x 1.4826 (1) instead of its mean and sample standard deviation (0, the default).'),
    ('isolation_forest', 'trees', 'integer', 100, 1, 1000, 'Isolation trees in the forest (scikit-learn''s n_estimators).'),
    ('isolation_forest', 'sample_size', 'integer', 256, 2, 4096, 'Rows drawn without replacement to grow each tree, at most the training rows (scikit-learn''s max_samples); trees are ceil(log2(sample_size)) deep.'),
    ('pca', 'input_window', 'integer', 20, 1, 1000, 'Each metric''s input is the mean of its last input_window values, the current one last (1: the value itself). Noisy sensors and sustained faults need it: 20 is SKAB''s recipe.'),
    ('pca', 'score_window', 'integer', 1, 1, 1000, 'A point''s raw score is the mean of the last score_window rows'' raw scores (1: its own). A point needs input_window + score_window - 1 consecutive complete rows.'),
    ('pca', 'calibration_fraction', 'number', 0.25, 0.05, 0.5, 'The last fraction of the training rows, in time order, is held out: the model is fitted on the rows before and its scores are calibrated on these.'),
    ('pca', 'tail_fraction', 'number', 0.2, 0.01, 0.5, 'Calibration: an exponential tail is fitted to the top fraction of the held-out raw scores (at least 2 of them); beyond them, tail probabilities come from it.'),
    ('pca', 'robust_scaling', 'boolean', 0, 0, 1, 'Standardise each metric by its training median and MAD x 1.4826 (1) instead of its mean and sample standard deviation (0, the default).'),
    ('pca', 'variance', 'number', 0.95, 0.01, 1, 'Keep the fewest principal components whose variances sum to this fraction of the standardised training variance (ignored when components is set).'),
    ('pca', 'components', 'integer', 0, 0, 256, 'Keep exactly this many principal components (at most the metrics); 0: chosen by variance.')
    -- @hyperparameters-end
$fn$;
COMMENT ON FUNCTION ad.model_hyperparameters() IS
    'The hyperparameters ad.train_model accepts, per algorithm: kind (integer or number), default, inclusive bounds '
    'and what each does.';

-- Settings of the model life cycle (ad.settings keys; an absent key means the default).
CREATE OR REPLACE FUNCTION ad_internal.model_setting(key text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(
        (SELECT s.value FROM ad.settings s WHERE s.key = model_setting.key),
        CASE model_setting.key
            WHEN 'drift_psi_threshold' THEN '0.25'::jsonb
            WHEN 'drift_check_every' THEN '"1 hour"'::jsonb
            WHEN 'drift_recent_window' THEN '"1 day"'::jsonb
            WHEN 'auto_promote_retrained' THEN 'false'::jsonb
        END)
$fn$;
COMMENT ON FUNCTION ad_internal.model_setting(text) IS
    'A model life-cycle setting from ad.settings, or its default: drift_psi_threshold 0.25, drift_check_every '
    '1 hour, drift_recent_window 1 day, auto_promote_retrained false.';

CREATE OR REPLACE FUNCTION ad.set_model_setting(key text, value jsonb) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    description text;
BEGIN
    CASE set_model_setting.key
    WHEN 'drift_psi_threshold' THEN
        IF jsonb_typeof(value) IS DISTINCT FROM 'number' OR (value #>> '{}')::float8 <= 0 THEN
            RAISE EXCEPTION 'ad.set_model_setting: drift_psi_threshold must be a positive number, got %', value
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        description := 'Population stability index past which a production model counts as drifted.';
    WHEN 'drift_check_every', 'drift_recent_window' THEN
        BEGIN
            IF jsonb_typeof(value) IS DISTINCT FROM 'string' OR (value #>> '{}')::interval <= interval '0' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'ad.set_model_setting: % must be a positive interval as a string, for example "1 hour", got %',
                set_model_setting.key, value USING ERRCODE = 'invalid_parameter_value';
        END;
        description := CASE set_model_setting.key
            WHEN 'drift_check_every' THEN 'How often the drift monitor checks each production model.'
            ELSE 'The recent window the drift monitor compares with the training window.' END;
    WHEN 'auto_promote_retrained' THEN
        IF jsonb_typeof(value) IS DISTINCT FROM 'boolean' THEN
            RAISE EXCEPTION 'ad.set_model_setting: auto_promote_retrained must be true or false, got %', value
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        description := 'Whether a model retrained because of drift is promoted without a person, when it is at '
                       'least as good as the production model on the same split.';
    ELSE
        RAISE EXCEPTION 'ad.set_model_setting: unknown key "%" (known: drift_psi_threshold, drift_check_every, '
                        'drift_recent_window, auto_promote_retrained)', set_model_setting.key
            USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    INSERT INTO ad.settings AS s (key, value, description)
    VALUES (set_model_setting.key, set_model_setting.value, description)
    ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE
        SET value = EXCLUDED.value, updated_at = now(), updated_by = current_user;
    RETURN format('%s = %s', set_model_setting.key, set_model_setting.value);
END
$fn$;
COMMENT ON FUNCTION ad.set_model_setting(text, jsonb) IS
    'Owner only: sets drift_psi_threshold (number), drift_check_every and drift_recent_window (interval strings) or '
    'auto_promote_retrained (boolean).';
REVOKE ALL ON FUNCTION ad.set_model_setting(text, jsonb) FROM PUBLIC;

-- ad_internal.caller_user_id(): sql/057_api_identity.sql (a login's person, or an API request's).

CREATE OR REPLACE FUNCTION ad.train_model(
    algorithm text,
    source text,
    train_from timestamptz,
    train_to timestamptz,
    hyperparameters jsonb DEFAULT '{}',
    name text DEFAULT NULL,
    test_fraction double precision DEFAULT 0.3,
    seed bigint DEFAULT 1,
    test_from timestamptz DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    source_uuid uuid;
    source_name text;
    model_name text;
    next_version integer;
    effective jsonb := '{}';
    spec record;
    given jsonb;
    key text;
    number double precision;
    model uuid;
BEGIN
    IF train_model.algorithm IS NULL
       OR NOT EXISTS (SELECT FROM ad.model_hyperparameters() h WHERE h.algorithm = train_model.algorithm) THEN
        RAISE EXCEPTION 'ad.train_model: algorithm "%" is not one of %', train_model.algorithm,
            (SELECT string_agg(DISTINCT h.algorithm, ', ') FROM ad.model_hyperparameters() h)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT s.id, s.name INTO source_uuid, source_name FROM ad.data_sources s WHERE s.name = train_model.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.train_model: source: no source named "%"', train_model.source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF train_model.train_from IS NULL OR NOT isfinite(train_model.train_from) THEN
        RAISE EXCEPTION 'ad.train_model: train_from must be a finite time, got %', train_model.train_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF train_model.train_to IS NULL OR NOT isfinite(train_model.train_to) THEN
        RAISE EXCEPTION 'ad.train_model: train_to must be a finite time, got %', train_model.train_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF train_model.train_to <= train_model.train_from THEN
        RAISE EXCEPTION 'ad.train_model: train_to (%) must be after train_from (%)',
            train_model.train_to, train_model.train_from USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF train_model.test_fraction IS NULL OR NOT (train_model.test_fraction > 0 AND train_model.test_fraction <= 0.99) THEN
        RAISE EXCEPTION 'ad.train_model: test_fraction must be in (0, 0.99], got %', train_model.test_fraction
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF train_model.test_from IS NOT NULL
       AND NOT (train_model.test_from > train_model.train_from AND train_model.test_from < train_model.train_to) THEN
        RAISE EXCEPTION 'ad.train_model: test_from (%) must lie inside (train_from, train_to)', train_model.test_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF train_model.seed IS NULL OR train_model.seed < 0 THEN
        RAISE EXCEPTION 'ad.train_model: seed must be a non-negative integer, got %', train_model.seed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    given := coalesce(train_model.hyperparameters, '{}');
    IF jsonb_typeof(given) <> 'object' THEN
        RAISE EXCEPTION 'ad.train_model: hyperparameters must be a JSON object, got %', given
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR key IN SELECT jsonb_object_keys(given) LOOP
        IF NOT EXISTS (SELECT FROM ad.model_hyperparameters() h
                        WHERE h.algorithm = train_model.algorithm AND h.name = key) THEN
            RAISE EXCEPTION 'ad.train_model: hyperparameters.%: % has no such hyperparameter (it has: %)',
                key, train_model.algorithm,
                (SELECT string_agg(h.name, ', ' ORDER BY h.name) FROM ad.model_hyperparameters() h
                  WHERE h.algorithm = train_model.algorithm)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    FOR spec IN SELECT h.* FROM ad.model_hyperparameters() h WHERE h.algorithm = train_model.algorithm LOOP
        IF given ? spec.name AND spec.kind = 'boolean' AND jsonb_typeof(given -> spec.name) = 'boolean' THEN
            number := CASE WHEN (given ->> spec.name)::boolean THEN 1 ELSE 0 END;
        ELSIF given ? spec.name THEN
            IF jsonb_typeof(given -> spec.name) <> 'number' THEN
                RAISE EXCEPTION 'ad.train_model: hyperparameters.% must be a number, got %', spec.name, given -> spec.name
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            number := (given ->> spec.name)::double precision;
            IF spec.kind = 'integer' AND number <> trunc(number) THEN
                RAISE EXCEPTION 'ad.train_model: hyperparameters.% must be an integer, got %', spec.name, given -> spec.name
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF spec.kind = 'boolean' AND number NOT IN (0, 1) THEN
                RAISE EXCEPTION 'ad.train_model: hyperparameters.% must be true or false (or 1 or 0), got %', spec.name,
                    given -> spec.name USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF number < spec.minimum OR number > spec.maximum THEN
                RAISE EXCEPTION 'ad.train_model: hyperparameters.% must be between % and %, got %',
                    spec.name, spec.minimum, spec.maximum, given -> spec.name
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        ELSE
            number := spec.default_value;
        END IF;
        effective := effective || jsonb_build_object(spec.name, to_jsonb(number));
    END LOOP;
    IF NOT EXISTS (SELECT FROM ad.data_points p
                    WHERE p.source_id = source_uuid
                      AND p."timestamp" >= train_model.train_from AND p."timestamp" < train_model.train_to) THEN
        RAISE EXCEPTION 'ad.train_model: source "%" has no points in [train_from, train_to) = [%, %)',
            source_name, train_model.train_from, train_model.train_to USING ERRCODE = 'invalid_parameter_value';
    END IF;
    model_name := coalesce(train_model.name, train_model.algorithm || ' ' || source_name);
    IF length(model_name) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'ad.train_model: name must have 1 to 200 characters, got %', length(model_name)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Versions of one name are numbered in order, and a name is one algorithm and source: one request at a time
    -- per name.
    PERFORM pg_advisory_xact_lock(hashtextextended('ad.ml_models:' || model_name, 0));
    IF EXISTS (SELECT FROM ad.ml_models m WHERE m.name = model_name
                  AND (m.algorithm <> train_model.algorithm OR m.source_id IS DISTINCT FROM source_uuid)) THEN
        RAISE EXCEPTION 'ad.train_model: name: "%" already names models of another algorithm or source', model_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT coalesce(max(m.version), 0) + 1 INTO next_version FROM ad.ml_models m WHERE m.name = model_name;
    INSERT INTO ad.ml_models (name, version, algorithm, source_id, status, parameters, created_by, progress)
    VALUES (model_name, next_version, train_model.algorithm, source_uuid, 'training',
            jsonb_build_object('hyperparameters', effective, 'train_from', train_model.train_from,
                               'train_to', train_model.train_to, 'test_fraction', train_model.test_fraction,
                               'seed', train_model.seed)
            || CASE WHEN train_model.test_from IS NULL THEN '{}'::jsonb
                    ELSE jsonb_build_object('test_from', train_model.test_from) END,
            left(ad.current_actor(), 63), 'waiting for a worker')
    RETURNING id INTO model;
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, new_value)
    VALUES (ad_internal.caller_user_id(), 'train_requested', 'model', model::text,
            jsonb_build_object('name', model_name, 'version', next_version, 'algorithm', train_model.algorithm,
                               'source', source_name));
    PERFORM pg_notify('ad_training', '');
    RETURN model;
END
$fn$;
COMMENT ON FUNCTION ad.train_model(text, text, timestamptz, timestamptz, jsonb, text, double precision, bigint,
    timestamptz) IS
    'Asks the worker to train a model of algorithm (see ad.model_hyperparameters()) on the source''s points with '
    '"timestamp" in [train_from, train_to): the last test_fraction of them (or those from test_from on) is held '
    'out to evaluate, and '
    'labelled incidents are left out of what it fits. Returns the model id at once; follow it in ad.model_registry '
    '(status training, evaluating, then registered, or failed with the reason). name defaults to '
    '"<algorithm> <source>"; each request is the next version of that name. Audited.';
REVOKE ALL ON FUNCTION ad.train_model(text, text, timestamptz, timestamptz, jsonb, text, double precision, bigint,
    timestamptz) FROM PUBLIC;

-- Promotion, shared by ad.promote_model (people) and auto-promotion of a retrained model (the worker).
CREATE OR REPLACE FUNCTION ad_internal.promote(model uuid, action text) RETURNS text
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    m ad.ml_models;
    previous ad.ml_models;
    source_name text;
BEGIN
    SELECT * INTO m FROM ad.ml_models WHERE id = promote.model;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.promote_model: no model with id %', promote.model USING ERRCODE = 'no_data_found';
    END IF;
    IF m.source_id IS NULL THEN
        RAISE EXCEPTION 'ad.promote_model: % is the built-in streaming scorer, always in production', m.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One promotion at a time per source: the unique index would refuse the second, with a less clear error.
    PERFORM pg_advisory_xact_lock(hashtextextended('ad.promote:' || m.source_id::text, 0));
    SELECT * INTO m FROM ad.ml_models WHERE id = promote.model FOR UPDATE;
    SELECT s.name INTO source_name FROM ad.data_sources s WHERE s.id = m.source_id;
    IF m.status = 'production' THEN
        RETURN format('%s v%s is already the production model of %s', m.name, m.version, source_name);
    END IF;
    IF m.status NOT IN ('registered', 'deprecated') OR m.artifact IS NULL THEN
        RAISE EXCEPTION 'ad.promote_model: % v% is %: only a registered or deprecated model can be promoted',
            m.name, m.version, m.status USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ad.ml_models p SET status = 'deprecated'
     WHERE p.source_id = m.source_id AND p.status = 'production'
    RETURNING * INTO previous;
    UPDATE ad.ml_models p SET status = 'production', promoted_at = now() WHERE p.id = m.id;
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (ad_internal.caller_user_id(), promote.action, 'model', m.id::text,
            jsonb_build_object('status', m.status),
            jsonb_build_object('status', 'production', 'replaced', previous.id));
    IF previous.id IS NOT NULL THEN
        INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
        VALUES (ad_internal.caller_user_id(), 'deprecate', 'model', previous.id::text,
                jsonb_build_object('status', 'production'),
                jsonb_build_object('status', 'deprecated', 'replaced_by', m.id));
    END IF;
    PERFORM pg_notify('ad_models', '');
    RETURN format('%s v%s is now the production model of %s%s', m.name, m.version, source_name,
                  CASE WHEN previous.id IS NULL THEN ''
                       ELSE format(' (it replaced %s v%s, now deprecated)', previous.name, previous.version) END);
END
$fn$;
COMMENT ON FUNCTION ad_internal.promote(uuid, text) IS
    'Makes a registered or deprecated model its source''s production model, deprecating the previous one; audits '
    'it under action; notifies ad_models so workers switch at once.';
REVOKE ALL ON FUNCTION ad_internal.promote(uuid, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.promote_model(model uuid) RETURNS text
LANGUAGE sql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
RETURN ad_internal.promote(model, 'promote');
COMMENT ON FUNCTION ad.promote_model(uuid) IS
    'Makes a registered model its source''s production model (one per source; the previous one is deprecated). '
    'Rolling back is promoting an older, deprecated version. Running workers switch within seconds. Audited.';
REVOKE ALL ON FUNCTION ad.promote_model(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.deprecate_model(model uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    m ad.ml_models;
BEGIN
    SELECT * INTO m FROM ad.ml_models WHERE id = deprecate_model.model FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.deprecate_model: no model with id %', deprecate_model.model USING ERRCODE = 'no_data_found';
    END IF;
    IF m.source_id IS NULL THEN
        RAISE EXCEPTION 'ad.deprecate_model: % is the built-in streaming scorer, always in production', m.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF m.status NOT IN ('registered', 'production') THEN
        RAISE EXCEPTION 'ad.deprecate_model: % v% is %: only a registered or production model can be deprecated',
            m.name, m.version, m.status USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ad.ml_models p SET status = 'deprecated' WHERE p.id = m.id;
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (ad_internal.caller_user_id(), 'deprecate', 'model', m.id::text,
            jsonb_build_object('status', m.status), jsonb_build_object('status', 'deprecated'));
    PERFORM pg_notify('ad_models', '');
    RETURN format('%s v%s is deprecated', m.name, m.version);
END
$fn$;
COMMENT ON FUNCTION ad.deprecate_model(uuid) IS
    'Retires a model: a production one stops scoring (its source keeps the streaming scorer). Audited.';
REVOKE ALL ON FUNCTION ad.deprecate_model(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.cancel_training(model uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    m ad.ml_models;
BEGIN
    UPDATE ad.ml_models j
       SET status = 'failed', lease_until = NULL, progress = 'cancelled',
           error = format('cancelled by %s', ad.current_actor())
     WHERE j.id = cancel_training.model AND j.status IN ('training', 'evaluating')
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.cancel_training: no training job % is waiting or running', cancel_training.model
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ad.audit_log (user_id, action, entity, entity_id, old_value, new_value)
    VALUES (ad_internal.caller_user_id(), 'cancel_training', 'model', m.id::text, NULL,
            jsonb_build_object('status', 'failed'));
    RETURN format('%s v%s is cancelled; a worker training it stops within its next heartbeat', m.name, m.version);
END
$fn$;
COMMENT ON FUNCTION ad.cancel_training(uuid) IS
    'Cancels a training job that waits or runs: it fails with "cancelled by <login>", and the worker holding it '
    'drops it at its next heartbeat (about a second). Audited.';
REVOKE ALL ON FUNCTION ad.cancel_training(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.label_incident(
    source text, starts_at timestamptz, ends_at timestamptz, note text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    source_uuid uuid;
    label bigint;
BEGIN
    SELECT s.id INTO source_uuid FROM ad.data_sources s WHERE s.name = label_incident.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.label_incident: source: no source named "%"', label_incident.source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF label_incident.starts_at IS NULL OR label_incident.ends_at IS NULL
       OR label_incident.ends_at <= label_incident.starts_at THEN
        RAISE EXCEPTION 'ad.label_incident: ends_at (%) must be after starts_at (%)',
            label_incident.ends_at, label_incident.starts_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ad.labelled_incidents (source_id, starts_at, ends_at, note)
    VALUES (source_uuid, label_incident.starts_at, label_incident.ends_at, label_incident.note)
    RETURNING id INTO label;
    RETURN label;
END
$fn$;
COMMENT ON FUNCTION ad.label_incident(text, timestamptz, timestamptz, text) IS
    'Records an incident window [starts_at, ends_at) on a source (ad.labelled_incidents): its points count as '
    'anomalous when models are evaluated and are left out of training. Returns the label''s id.';
REVOKE ALL ON FUNCTION ad.label_incident(text, timestamptz, timestamptz, text) FROM PUBLIC;

-- The worker's side of a training job: claim with a lease, report progress (renewing the lease), finish or fail.
CREATE OR REPLACE FUNCTION ad_internal.claim_training(worker text, lease interval, max_attempts integer DEFAULT 3)
RETURNS TABLE (id uuid, name text, version integer, algorithm text, source_id uuid, parameters jsonb,
               attempts integer, retrain_of uuid)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    m ad.ml_models;
BEGIN
    LOOP
        SELECT * INTO m FROM ad.ml_models j
         WHERE j.status IN ('training', 'evaluating') AND (j.lease_until IS NULL OR j.lease_until < now())
         ORDER BY j.created_at
         LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF m.attempts >= claim_training.max_attempts THEN
            UPDATE ad.ml_models j
               SET status = 'failed', lease_until = NULL, progress = 'failed',
                   error = format('training stopped %s times without finishing (the worker holding it, last %s, '
                                  'was stopped or lost its connection)', m.attempts, m.claimed_by)
             WHERE j.id = m.id;
            CONTINUE;
        END IF;
        UPDATE ad.ml_models j
           SET status = 'training', claimed_by = claim_training.worker, lease_until = now() + claim_training.lease,
               attempts = j.attempts + 1, started_at = coalesce(j.started_at, now()),
               progress = format('claimed by %s (attempt %s)', claim_training.worker, j.attempts + 1)
         WHERE j.id = m.id;
        RETURN QUERY SELECT m.id, m.name, m.version, m.algorithm, m.source_id, m.parameters, m.attempts + 1,
                            m.retrain_of;
        RETURN;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ad_internal.claim_training(text, interval, integer) IS
    'Claims the oldest training job nobody holds (SKIP LOCKED; a job whose lease ran out is taken over), for lease. '
    'A job claimed max_attempts times without finishing is failed with the reason instead.';
REVOKE ALL ON FUNCTION ad_internal.claim_training(text, interval, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.training_progress(
    model uuid, worker text, status text, progress text, lease interval
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    IF training_progress.status NOT IN ('training', 'evaluating') THEN
        RAISE EXCEPTION 'training_progress: status must be training or evaluating, got %', training_progress.status;
    END IF;
    UPDATE ad.ml_models j
       SET status = training_progress.status, progress = left(training_progress.progress, 500),
           lease_until = now() + training_progress.lease
     WHERE j.id = training_progress.model AND j.claimed_by = training_progress.worker
       AND j.status IN ('training', 'evaluating');
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION ad_internal.training_progress(uuid, text, text, text, interval) IS
    'The worker holding a training job reports what it is doing and renews its lease; false when it no longer '
    'holds the job (another worker took it over), so it stops.';
REVOKE ALL ON FUNCTION ad_internal.training_progress(uuid, text, text, text, interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.finish_training(
    model uuid, worker text, artifact bytea, metrics jsonb, parameters jsonb
) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    m ad.ml_models;
    production ad.ml_models;
    outcome text := 'registered';
BEGIN
    UPDATE ad.ml_models j
       SET status = 'registered', artifact = finish_training.artifact, metrics = finish_training.metrics,
           parameters = j.parameters || finish_training.parameters, trained_at = now(), lease_until = NULL,
           progress = 'registered', error = NULL
     WHERE j.id = finish_training.model AND j.claimed_by = finish_training.worker
       AND j.status IN ('training', 'evaluating')
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    INSERT INTO ad.audit_log (action, entity, entity_id, new_value)
    VALUES ('trained', 'model', m.id::text,
            jsonb_build_object('status', 'registered', 'evaluation', m.metrics -> 'evaluation'));
    -- A model retrained because its predecessor drifted is promoted without a person only when the owner allows
    -- it and it is at least as good on the same split.
    IF m.retrain_of IS NOT NULL AND ad_internal.model_setting('auto_promote_retrained') = 'true'::jsonb THEN
        SELECT * INTO production FROM ad.ml_models p WHERE p.id = m.retrain_of AND p.status = 'production';
        IF FOUND AND (m.metrics #>> '{evaluation,f1}')::float8 > 0
           AND (m.metrics #>> '{evaluation,f1}')::float8
               >= coalesce((m.metrics #>> '{production_on_split,f1}')::float8, 0) THEN
            PERFORM ad_internal.promote(m.id, 'auto_promote');
            outcome := 'promoted';
        END IF;
    END IF;
    PERFORM pg_notify('ad_models', '');
    RETURN outcome;
END
$fn$;
COMMENT ON FUNCTION ad_internal.finish_training(uuid, text, bytea, jsonb, jsonb) IS
    'Stores a trained model''s artifact and metrics and registers it (auto-promoting a drift retraining when '
    'allowed and at least as good). Returns registered, promoted, or lost when the worker no longer holds the job.';
REVOKE ALL ON FUNCTION ad_internal.finish_training(uuid, text, bytea, jsonb, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.fail_training(model uuid, worker text, error text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    UPDATE ad.ml_models j
       SET status = 'failed', error = left(fail_training.error, 2000), lease_until = NULL, progress = 'failed'
     WHERE j.id = fail_training.model AND j.claimed_by = fail_training.worker
       AND j.status IN ('training', 'evaluating');
    IF FOUND THEN
        INSERT INTO ad.audit_log (action, entity, entity_id, new_value)
        VALUES ('training_failed', 'model', fail_training.model::text,
                jsonb_build_object('status', 'failed', 'error', left(fail_training.error, 2000)));
    END IF;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION ad_internal.fail_training(uuid, text, text) IS
    'Records that a training job failed, with the reason a data scientist reads in ad.model_registry.';
REVOKE ALL ON FUNCTION ad_internal.fail_training(uuid, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.record_mlflow(model uuid, mlflow jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$ UPDATE ad.ml_models j SET mlflow = record_mlflow.mlflow WHERE j.id = record_mlflow.model $fn$;
COMMENT ON FUNCTION ad_internal.record_mlflow(uuid, jsonb) IS
    'Records where a model''s training run was logged in MLflow.';
REVOKE ALL ON FUNCTION ad_internal.record_mlflow(uuid, jsonb) FROM PUBLIC;

-- The drift monitor's side.
CREATE OR REPLACE FUNCTION ad_internal.models_due_for_drift()
RETURNS TABLE (id uuid, source_id uuid, parameters jsonb, metrics jsonb, recent_window interval)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT m.id, m.source_id, m.parameters, m.metrics,
           (ad_internal.model_setting('drift_recent_window') #>> '{}')::interval
      FROM ad.ml_models m
     WHERE m.status = 'production' AND m.source_id IS NOT NULL AND m.artifact IS NOT NULL
       AND NOT EXISTS (
           SELECT FROM ad.drift_reports r
            WHERE r.model_id = m.id
              AND r.checked_at > now() - (ad_internal.model_setting('drift_check_every') #>> '{}')::interval)
$fn$;
COMMENT ON FUNCTION ad_internal.models_due_for_drift() IS
    'Production models whose last drift check is older than drift_check_every, with the recent window to compare.';
REVOKE ALL ON FUNCTION ad_internal.models_due_for_drift() FROM PUBLIC;

-- One worker checks a model at a time: the check runs in a transaction that holds this lock, and a model another
-- worker has just checked is no longer due.
CREATE OR REPLACE FUNCTION ad_internal.begin_drift_check(model uuid) RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT pg_try_advisory_xact_lock(hashtextextended('ad.drift:' || begin_drift_check.model::text, 0))
       AND EXISTS (SELECT FROM ad_internal.models_due_for_drift() d WHERE d.id = begin_drift_check.model)
$fn$;
COMMENT ON FUNCTION ad_internal.begin_drift_check(uuid) IS
    'Takes the transaction''s lock on checking a model for drift; false when another worker holds it or the model is '
    'no longer due (just checked).';
REVOKE ALL ON FUNCTION ad_internal.begin_drift_check(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.record_drift(
    model uuid, recent_from timestamptz, recent_to timestamptz, recent_points bigint, features jsonb,
    max_psi double precision, max_ks double precision, anomaly_rate double precision,
    reference_anomaly_rate double precision
) RETURNS TABLE (report bigint, drifted boolean, retrain_model_id uuid)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    m ad.ml_models;
    threshold double precision := (ad_internal.model_setting('drift_psi_threshold') #>> '{}')::float8;
    is_drifted boolean := coalesce(record_drift.max_psi > threshold, false);
    retrain uuid;
    next_version integer;
    span interval;
    report_id bigint;
BEGIN
    SELECT * INTO m FROM ad.ml_models j WHERE j.id = record_drift.model;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF is_drifted THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('ad.ml_models:' || m.name, 0));
    END IF;
    -- One retraining at a time: none while one is under way, or registered and waiting for a person since this
    -- model was last promoted (checked under the name's lock, so two checks cannot both ask).
    IF is_drifted AND NOT EXISTS (
           SELECT FROM ad.ml_models j
            WHERE j.retrain_of = m.id
              AND (j.status IN ('training', 'evaluating')
                   OR j.status = 'registered' AND j.created_at >= coalesce(m.promoted_at, m.created_at))) THEN
        SELECT coalesce(max(j.version), 0) + 1 INTO next_version FROM ad.ml_models j WHERE j.name = m.name;
        span := (m.parameters ->> 'train_to')::timestamptz - (m.parameters ->> 'train_from')::timestamptz;
        INSERT INTO ad.ml_models (name, version, algorithm, source_id, status, parameters, created_by, progress,
                                  retrain_of)
        VALUES (m.name, next_version, m.algorithm, m.source_id, 'training',
                -- The same window length ending now; a fixed test_from would lie outside it: the fraction splits.
                (m.parameters - 'test_from') || jsonb_build_object('train_from', record_drift.recent_to - span,
                                                                   'train_to', record_drift.recent_to),
                session_user, 'waiting for a worker (retraining: drift)', m.id)
        RETURNING id INTO retrain;
        INSERT INTO ad.audit_log (action, entity, entity_id, new_value)
        VALUES ('retrain_requested', 'model', retrain::text,
                jsonb_build_object('retrain_of', m.id, 'max_psi', record_drift.max_psi, 'threshold', threshold));
        PERFORM pg_notify('ad_training', '');
    END IF;
    INSERT INTO ad.drift_reports (model_id, recent_from, recent_to, recent_points, features, max_psi, max_ks,
                                  anomaly_rate, reference_anomaly_rate, threshold, drifted, retrain_model_id)
    VALUES (m.id, record_drift.recent_from, record_drift.recent_to, record_drift.recent_points,
            record_drift.features, record_drift.max_psi, record_drift.max_ks, record_drift.anomaly_rate,
            record_drift.reference_anomaly_rate, threshold, is_drifted, retrain)
    RETURNING id INTO report_id;
    RETURN QUERY SELECT report_id, is_drifted, retrain;
END
$fn$;
COMMENT ON FUNCTION ad_internal.record_drift(uuid, timestamptz, timestamptz, bigint, jsonb, double precision,
    double precision, double precision, double precision) IS
    'Stores a drift check; past drift_psi_threshold it asks for retraining (the same algorithm, hyperparameters '
    'and window length, ending at recent_to) unless one is already under way.';
REVOKE ALL ON FUNCTION ad_internal.record_drift(uuid, timestamptz, timestamptz, bigint, jsonb, double precision,
    double precision, double precision, double precision) FROM PUBLIC;

-- Keep the built-in streaming scorer's row: anomalies default to it.
CREATE OR REPLACE FUNCTION ad_internal.keep_streaming_model() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    IF OLD.id = '00000000-0000-4000-8000-000000000001'::uuid
       AND (TG_OP = 'DELETE' OR NEW.status <> 'production' OR NEW.id <> OLD.id) THEN
        RAISE EXCEPTION 'the built-in streaming scorer''s model row stays in production (every anomaly it finds '
                        'refers to it)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
COMMENT ON FUNCTION ad_internal.keep_streaming_model() IS
    'Refuses deleting or retiring the built-in streaming scorer''s ad.ml_models row.';
CREATE OR REPLACE TRIGGER ml_models_keep_streaming BEFORE UPDATE OR DELETE ON ad.ml_models
    FOR EACH ROW EXECUTE FUNCTION ad_internal.keep_streaming_model();
COMMENT ON TRIGGER ml_models_keep_streaming ON ad.ml_models IS
    'Keeps the built-in streaming scorer''s row in production.';

CREATE OR REPLACE VIEW ad.model_registry AS
SELECT m.id,
       m.name,
       m.version,
       m.algorithm,
       s.name AS source_name,
       m.status,
       m.progress,
       m.error,
       (m.parameters ->> 'train_from')::timestamptz AS train_from,
       (m.parameters ->> 'train_to')::timestamptz AS train_to,
       m.parameters -> 'hyperparameters' AS hyperparameters,
       (m.metrics #>> '{evaluation,precision}')::float8 AS precision,
       (m.metrics #>> '{evaluation,recall}')::float8 AS recall,
       (m.metrics #>> '{evaluation,f1}')::float8 AS f1,
       (m.metrics #>> '{evaluation,roc_auc}')::float8 AS roc_auc,
       (m.metrics #>> '{production_on_split,f1}')::float8 AS production_f1,
       (m.metrics #>> '{production_on_split,roc_auc}')::float8 AS production_roc_auc,
       m.metrics #>> '{production_on_split,model}' AS compared_with,
       m.created_by,
       m.created_at,
       m.started_at,
       m.trained_at,
       m.promoted_at,
       m.attempts,
       d.checked_at AS drift_checked_at,
       d.max_psi AS drift_max_psi,
       d.drifted,
       m.retrain_of,
       m.mlflow ->> 'run_id' AS mlflow_run_id
  FROM ad.ml_models m
  LEFT JOIN ad.data_sources s ON s.id = m.source_id
  LEFT JOIN LATERAL (
      SELECT r.checked_at, r.max_psi, r.drifted FROM ad.drift_reports r
       WHERE r.model_id = m.id ORDER BY r.checked_at DESC LIMIT 1) d ON true;
COMMENT ON VIEW ad.model_registry IS
    'Every model version: life cycle, training progress or failure, its evaluation on the held-out split '
    '(precision, recall, F1, ROC AUC at the source''s low threshold) beside the production model''s on the same '
    'split, and its latest drift check.';
COMMENT ON COLUMN ad.model_registry.id IS 'Model id (what ad.promote_model takes).';
COMMENT ON COLUMN ad.model_registry.name IS 'Model name.';
COMMENT ON COLUMN ad.model_registry.version IS 'Version within the name.';
COMMENT ON COLUMN ad.model_registry.algorithm IS 'isolation_forest, autoencoder, pca, or streaming (built in).';
COMMENT ON COLUMN ad.model_registry.source_name IS 'The source it scores (NULL: all sources, the built-in scorer).';
COMMENT ON COLUMN ad.model_registry.status IS 'training, evaluating, registered, production, deprecated or failed.';
COMMENT ON COLUMN ad.model_registry.progress IS 'What training is doing now.';
COMMENT ON COLUMN ad.model_registry.error IS 'Why training failed.';
COMMENT ON COLUMN ad.model_registry.train_from IS 'Start of the training window.';
COMMENT ON COLUMN ad.model_registry.train_to IS 'End of the training window (exclusive).';
COMMENT ON COLUMN ad.model_registry.hyperparameters IS 'Effective hyperparameters (defaults filled in).';
COMMENT ON COLUMN ad.model_registry.precision IS 'Precision on the held-out split.';
COMMENT ON COLUMN ad.model_registry.recall IS 'Recall on the held-out split.';
COMMENT ON COLUMN ad.model_registry.f1 IS 'F1 on the held-out split.';
COMMENT ON COLUMN ad.model_registry.roc_auc IS 'ROC AUC on the held-out split.';
COMMENT ON COLUMN ad.model_registry.production_f1 IS 'The production scoring''s F1 on the same split, when trained.';
COMMENT ON COLUMN ad.model_registry.production_roc_auc IS 'Its ROC AUC on the same split.';
COMMENT ON COLUMN ad.model_registry.compared_with IS 'What production_f1 measured: a model name and version, or streaming.';
COMMENT ON COLUMN ad.model_registry.created_by IS 'The login that asked for it.';
COMMENT ON COLUMN ad.model_registry.created_at IS 'When it was asked for.';
COMMENT ON COLUMN ad.model_registry.started_at IS 'When a worker started training it.';
COMMENT ON COLUMN ad.model_registry.trained_at IS 'When it was registered.';
COMMENT ON COLUMN ad.model_registry.promoted_at IS 'When it last became production.';
COMMENT ON COLUMN ad.model_registry.attempts IS 'How many times a worker claimed the job.';
COMMENT ON COLUMN ad.model_registry.drift_checked_at IS 'Its latest drift check.';
COMMENT ON COLUMN ad.model_registry.drift_max_psi IS 'The largest feature PSI at that check.';
COMMENT ON COLUMN ad.model_registry.drifted IS 'Whether that check found drift.';
COMMENT ON COLUMN ad.model_registry.retrain_of IS 'The drifted model this one retrains, if any.';
COMMENT ON COLUMN ad.model_registry.mlflow_run_id IS 'Its MLflow run, when MLflow tracking is on.';

CREATE OR REPLACE VIEW ad.model_drift AS
SELECT r.id AS report,
       m.id AS model_id,
       m.name,
       m.version,
       s.name AS source_name,
       r.checked_at,
       r.recent_from,
       r.recent_to,
       r.recent_points,
       r.max_psi,
       r.max_ks,
       r.threshold,
       r.drifted,
       r.anomaly_rate,
       r.reference_anomaly_rate,
       r.features,
       r.retrain_model_id
  FROM ad.drift_reports r
  JOIN ad.ml_models m ON m.id = r.model_id
  LEFT JOIN ad.data_sources s ON s.id = m.source_id;
COMMENT ON VIEW ad.model_drift IS
    'Drift checks of production models: PSI and KS per feature of recent inputs against the training window, the '
    'recent anomaly rate against the evaluation split''s, and the retraining a drifted check asked for.';
COMMENT ON COLUMN ad.model_drift.report IS 'Report number.';
COMMENT ON COLUMN ad.model_drift.model_id IS 'The model checked.';
COMMENT ON COLUMN ad.model_drift.name IS 'Its name.';
COMMENT ON COLUMN ad.model_drift.version IS 'Its version.';
COMMENT ON COLUMN ad.model_drift.source_name IS 'Its source.';
COMMENT ON COLUMN ad.model_drift.checked_at IS 'When the check ran.';
COMMENT ON COLUMN ad.model_drift.recent_from IS 'Start of the recent window.';
COMMENT ON COLUMN ad.model_drift.recent_to IS 'End of the recent window.';
COMMENT ON COLUMN ad.model_drift.recent_points IS 'Points in the recent window.';
COMMENT ON COLUMN ad.model_drift.max_psi IS 'Largest feature PSI.';
COMMENT ON COLUMN ad.model_drift.max_ks IS 'Largest feature KS statistic.';
COMMENT ON COLUMN ad.model_drift.threshold IS 'The PSI threshold in force.';
COMMENT ON COLUMN ad.model_drift.drifted IS 'Whether it counted as drift.';
COMMENT ON COLUMN ad.model_drift.anomaly_rate IS 'Recent share of points at or above low.';
COMMENT ON COLUMN ad.model_drift.reference_anomaly_rate IS 'That share on the evaluation split.';
COMMENT ON COLUMN ad.model_drift.features IS 'Per feature: psi, ks, ks_p_value.';
COMMENT ON COLUMN ad.model_drift.retrain_model_id IS 'The retraining it asked for, if any.';
