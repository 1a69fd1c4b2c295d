-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Operators in psql: the alert and anomaly state machines, who did it, the audit trail, and the feedback queue.
-- A plain UPDATE of status (and notes) is the API; the functions below are the same UPDATE for scripts. Every
-- status change passes one trigger that checks the transition and records the person.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE VIEW ad.status_transitions AS
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
CREATE OR REPLACE FUNCTION ad_internal.check_status_change() RETURNS trigger
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
    SELECT * INTO person FROM ad.users u WHERE u.id = ad.current_person();  -- login or API token (057)
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
        RAISE EXCEPTION 'ad.%: % is %, so nobody can be recorded as having set % % to %', tbl,
                        CASE WHEN ad.current_actor() = session_user::text THEN format('role "%s"', session_user)
                             ELSE ad.current_actor() END, CASE WHEN person.id IS NULL THEN 'not mapped to a person'
                                           ELSE format('mapped to %s, who is no longer active', person.name) END,
                        ent, NEW.id, NEW.status
            USING ERRCODE = 'invalid_authorization_specification',
                  HINT = CASE WHEN ad.current_actor() <> session_user::text
                              THEN 'Issue the token to a person: ad.issue_api_token(name, db_role, person => ''their email'').'
                              WHEN person.id IS NULL
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

CREATE OR REPLACE TRIGGER check_status_change BEFORE UPDATE OF status ON ad.alerts
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_status_change('alert');
COMMENT ON TRIGGER check_status_change ON ad.alerts IS
    'The alert state machine; fills acknowledged_at/by and resolved_at/by.';
CREATE OR REPLACE TRIGGER check_status_change BEFORE UPDATE OF status ON ad.anomalies
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_status_change('anomaly');
COMMENT ON TRIGGER check_status_change ON ad.anomalies IS
    'The anomaly state machine; fills status_changed_at/by.';

-- A person's change becomes feedback (the queue the worker's feedback loop consumes) and wakes that loop.
CREATE OR REPLACE FUNCTION ad_internal.status_feedback() RETURNS trigger
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

CREATE OR REPLACE TRIGGER status_feedback AFTER UPDATE OF status ON ad.anomalies
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION ad_internal.status_feedback('anomaly');
COMMENT ON TRIGGER status_feedback ON ad.anomalies IS 'Audit trail and feedback for anomaly status changes.';
-- Alerts are audited by alert_changed; only a person's acknowledge or resolve is feedback.
CREATE OR REPLACE TRIGGER status_feedback AFTER UPDATE OF status ON ad.alerts
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       AND ((NEW.status = 'acknowledged' AND NEW.acknowledged_by IS NOT NULL)
                            OR (NEW.status = 'resolved' AND NEW.resolved_by IS NOT NULL)))
    EXECUTE FUNCTION ad_internal.status_feedback('alert');
COMMENT ON TRIGGER status_feedback ON ad.alerts IS 'A person''s acknowledge or resolve, queued as feedback.';

-- ---------------------------------------------------------------------------------------------------------
-- The same as functions, for scripts and tools. They run with the caller's rights: the same UPDATE, the same
-- privileges, the same trigger.

CREATE OR REPLACE FUNCTION ad.change_status(entity text, id uuid, status text, notes text DEFAULT NULL) RETURNS text
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

CREATE OR REPLACE FUNCTION ad.acknowledge_alert(alert uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('alert', alert, 'acknowledged', notes);
COMMENT ON FUNCTION ad.acknowledge_alert(uuid, text) IS
    'Acknowledges an alert (PagerDuty and webhooks are told); the same as UPDATE ad.alerts SET status = ''acknowledged''.';

CREATE OR REPLACE FUNCTION ad.resolve_alert(alert uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('alert', alert, 'resolved', notes);
COMMENT ON FUNCTION ad.resolve_alert(uuid, text) IS
    'Resolves an alert (PagerDuty, webhooks, Alertmanager and Slack are told); the same as UPDATE ad.alerts SET status = ''resolved''.';

CREATE OR REPLACE FUNCTION ad.mark_false_positive(anomaly uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('anomaly', anomaly, 'false_positive', notes);
COMMENT ON FUNCTION ad.mark_false_positive(uuid, text) IS
    'Marks an anomaly a false positive: similar points on its series alert less (see ad.scoring_adjustments).';

CREATE OR REPLACE FUNCTION ad.confirm_anomaly(anomaly uuid, notes text DEFAULT NULL) RETURNS text
LANGUAGE sql SET search_path TO pg_catalog, pg_temp
RETURN ad.change_status('anomaly', anomaly, 'confirmed', notes);
COMMENT ON FUNCTION ad.confirm_anomaly(uuid, text) IS
    'Confirms an anomaly as a true positive: learning will not make its series less sensitive than its score.';

REVOKE ALL ON FUNCTION ad.change_status(text, uuid, text, text), ad.acknowledge_alert(uuid, text),
    ad.resolve_alert(uuid, text), ad.mark_false_positive(uuid, text), ad.confirm_anomaly(uuid, text) FROM PUBLIC;
