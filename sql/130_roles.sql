-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Least-privilege group roles. Roles are cluster-wide, so installing the schema never creates them:
-- a DBA calls SELECT ad.create_roles() once, then grants them to logins
-- (CREATE ROLE alice LOGIN IN ROLE ad_operator). Both functions are idempotent.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad_internal.grant_role_privileges() RETURNS void
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
BEGIN
    -- Each block runs only when its role exists, so this is safe to call from install and upgrade scripts.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') THEN
        GRANT USAGE ON SCHEMA ad TO ad_reader;
        GRANT SELECT ON ad.source_overview, ad.point_values, ad.anomaly_details, ad.alert_overview,
                        ad.anomaly_summary_hourly, ad.feedback_precision, ad.learned_patterns,
                        ad.status_transitions TO ad_reader;
        GRANT SELECT ON ad.quarantine TO ad_reader;  -- points the worker set aside (sql/097_quarantine.sql)
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
        GRANT EXECUTE ON FUNCTION ad.set_channel_header_secret(text, text, text) TO ad_operator;
        GRANT EXECUTE ON FUNCTION ad.add_rule_channel(text, text, text) TO ad_operator;
        -- The operator functions run with the operator's rights: the same column privileges, the same trigger.
        GRANT EXECUTE ON FUNCTION ad.change_status(text, uuid, text, text), ad.acknowledge_alert(uuid, text),
            ad.resolve_alert(uuid, text), ad.mark_false_positive(uuid, text), ad.confirm_anomaly(uuid, text),
            ad.undo_adjustment(bigint, text) TO ad_operator;
        -- Quarantine (sql/097_quarantine.sql): read it, re-queue through the audited function only.
        GRANT SELECT ON ad.quarantined_points TO ad_operator;
        GRANT EXECUTE ON FUNCTION ad.requeue_quarantined(text, timestamptz, timestamptz) TO ad_operator;
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
        GRANT SELECT ON ad_internal.outbound_allowlist, ad_internal.channel_secret_headers TO ad_worker;
        GRANT SELECT ON ad.data_sources, ad.users, ad.channels, ad.alert_rules, ad.alert_rule_channels, ad.settings
              TO ad_worker;
        GRANT SELECT, UPDATE ON ad.data_points TO ad_worker;  -- table-level: see ad_ingest above
        GRANT SELECT, INSERT, UPDATE ON ad.anomalies, ad.alerts, ad.alert_deliveries, ad.ml_models TO ad_worker;
        GRANT SELECT, UPDATE (processed_at, result) ON ad.feedback TO ad_worker;
        GRANT SELECT, INSERT ON ad.scoring_adjustments TO ad_worker;
        GRANT SELECT ON ad.status_transitions TO ad_worker;
        GRANT SELECT, INSERT ON ad.delivery_attempts, ad.audit_log TO ad_worker;
        GRANT EXECUTE ON FUNCTION ad.apply_retention() TO ad_worker;
        -- Quarantine (sql/097_quarantine.sql): the worker sets poison points aside; it never deletes the record.
        GRANT SELECT, INSERT, UPDATE ON ad.quarantined_points TO ad_worker;
        GRANT EXECUTE ON FUNCTION
            ad_internal.raise_alerts(uuid[], uuid[], timestamptz[], uuid[], text[], text[], text[], text[]),
            ad_internal.sustain_alerts(uuid[], uuid[], timestamptz[], timestamptz[], timestamptz[], uuid[], text[],
                                       text[], text[], text[], boolean[]),
            ad_internal.claim_deliveries(int, interval, text[], int),
            ad_internal.record_delivery(uuid, int, timestamptz, timestamptz, text, int, text, text, timestamptz),
            ad_internal.escalate_due(), ad_internal.renotify_due() TO ad_worker;
    END IF;

    -- ---------------------------------------------------------------------------------------------------------
    -- Issue 18, least privilege tightened (why: sql/097_least_privilege.sql). One block after the grants above,
    -- so it also takes back what an earlier release granted; REVOKE before the column GRANTs, because revoking a
    -- table privilege revokes the column privileges too.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_worker') THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ad.audit_log FROM ad_worker;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ad.alerts FROM ad_worker;
        -- Re-scoring a corrected point rewrites the worker's own columns; status and notes are people's.
        REVOKE UPDATE ON ad.anomalies FROM ad_worker;
        GRANT UPDATE (data_point_id, metric, severity, score, explanation, detected_at) ON ad.anomalies TO ad_worker;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_operator') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON ad.alert_rules, ad.alert_rule_channels, ad.channels FROM ad_operator;
        GRANT UPDATE (name, description, enabled, conditions, group_window, renotify_interval, escalate_after)
              ON ad.alert_rules TO ad_operator;
        GRANT UPDATE (name, type, target, headers, config, active) ON ad.channels TO ad_operator;
        GRANT EXECUTE ON FUNCTION ad.delete_alert_rule(text), ad.remove_rule_channel(text, text, text),
              ad.delete_channel(text) TO ad_operator;
    END IF;

    -- ---------------------------------------------------------------------------------------------------------
    -- Issue 19, models from SQL (sql/100_models.sql). Data scientists train, label, promote and roll back; the
    -- worker runs training jobs and drift checks through functions only; everyone reads the registry views.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') THEN
        GRANT SELECT ON ad.model_registry, ad.model_drift TO ad_reader;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_scientist') THEN
        GRANT SELECT ON ad.labelled_incidents, ad.drift_reports, ad.model_registry, ad.model_drift TO ad_scientist;
        GRANT INSERT (source_id, starts_at, ends_at, note), DELETE ON ad.labelled_incidents TO ad_scientist;
        GRANT EXECUTE ON FUNCTION
            ad.train_model(text, text, timestamptz, timestamptz, jsonb, text, double precision, bigint, timestamptz),
            ad.promote_model(uuid), ad.deprecate_model(uuid), ad.cancel_training(uuid),
            ad.label_incident(text, timestamptz, timestamptz, text) TO ad_scientist;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_operator') THEN
        -- Operators know when incidents happened; they label them, but do not train or promote.
        GRANT SELECT ON ad.labelled_incidents, ad.drift_reports TO ad_operator;
        GRANT INSERT (source_id, starts_at, ends_at, note), DELETE ON ad.labelled_incidents TO ad_operator;
        GRANT EXECUTE ON FUNCTION ad.label_incident(text, timestamptz, timestamptz, text) TO ad_operator;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_worker') THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ad.ml_models FROM ad_worker;
        GRANT UPDATE (model_id) ON ad.anomalies TO ad_worker;  -- re-scoring may change which model decided
        GRANT SELECT ON ad.labelled_incidents, ad.drift_reports TO ad_worker;
        GRANT EXECUTE ON FUNCTION
            ad_internal.claim_training(text, interval, integer),
            ad_internal.training_progress(uuid, text, text, text, interval),
            ad_internal.finish_training(uuid, text, bytea, jsonb, jsonb),
            ad_internal.fail_training(uuid, text, text),
            ad_internal.record_mlflow(uuid, jsonb),
            ad_internal.models_due_for_drift(), ad_internal.begin_drift_check(uuid),
            ad_internal.record_drift(uuid, timestamptz, timestamptz, bigint, jsonb, double precision,
                                     double precision, double precision, double precision) TO ad_worker;
    END IF;

    -- ---------------------------------------------------------------------------------------------------------
    -- Issue 20, the HTTP API and console (sql/057_api_identity.sql). ad_api authenticates tokens and may become
    -- the roles its tokens act as; it has no data privileges of its own (NOINHERIT, set by ad.create_roles).
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_api') THEN
        GRANT USAGE ON SCHEMA ad, ad_internal TO ad_api;
        GRANT EXECUTE ON FUNCTION ad_internal.api_authenticate(text) TO ad_api;
        FOR r IN SELECT x.rolname FROM pg_roles x
                  WHERE x.rolname IN ('ad_reader', 'ad_ingest', 'ad_operator', 'ad_scientist')
                    AND NOT pg_has_role('ad_api', x.rolname, 'MEMBER') LOOP
            EXECUTE format('GRANT %I TO ad_api', r.rolname);
        END LOOP;
    END IF;

    -- ---------------------------------------------------------------------------------------------------------
    -- Issue 21, db_poll sources (sql/105_polling.sql). The owner configures them (ad.add_poll_source, granted to
    -- nobody); the worker polls through its three functions; everyone who reads the views sees ad.poll_status.
    -- Nobody but the worker's claim reads a DSN.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') THEN
        GRANT SELECT ON ad.poll_status TO ad_reader;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_worker') THEN
        GRANT EXECUTE ON FUNCTION ad_internal.claim_poll(), ad_internal.next_poll_in(),
            ad_internal.finish_poll(uuid, text, boolean, timestamptz[], jsonb[], integer),
            ad_internal.fail_poll(uuid, text, double precision) TO ad_worker;
        GRANT SELECT ON ad.poll_status TO ad_worker;
    END IF;

    -- ---------------------------------------------------------------------------------------------------------
    -- Issue 21, dashboards (sql/115_dashboard_views.sql): the views Grafana's panels read, for BI tools like the rest.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_reader') THEN
        GRANT SELECT ON ad.anomaly_hourly, ad.open_alerts, ad.source_health, ad.delivery_history, ad.channel_health
              TO ad_reader;
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
            ('ad_scientist', 'Data scientists: read data, anomalies, models and feedback; train, label, promote and roll back models.'),
            ('ad_worker',    'The adworker process: score points, write anomalies and alerts, read channel secrets.'),
            ('ad_api',       'The login of adworker''s HTTP API and console: holds no data privileges (NOINHERIT); '
                             'each request sets role to its bearer token''s role (ad.issue_api_token).')
        ) AS v(name, what) LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
            -- NOINHERIT: ad_api is a member of the roles its tokens act as, so it may SET ROLE to them, but a login
            -- in ad_api does not get their privileges without doing so.
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name) || CASE WHEN r.name = 'ad_api' THEN ' NOINHERIT' ELSE '' END;
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
    'Creates the group roles ad_ingest, ad_reader, ad_operator, ad_scientist, ad_worker and ad_api if missing and grants '
    'their privileges in this database. Needs CREATEROLE. Idempotent. Grant them to logins: '
    'CREATE ROLE alice LOGIN IN ROLE ad_operator.';
REVOKE ALL ON FUNCTION ad.create_roles() FROM PUBLIC;

-- Roles may already exist (created for another database in this cluster): give them their privileges here too.
SELECT ad_internal.grant_role_privileges();
