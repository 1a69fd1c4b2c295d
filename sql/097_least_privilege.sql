-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Least privilege, tightened (issue 18). Two things roles must not be able to do, and how they are kept from it:
--
-- * The worker writes no audit row and no alert column itself. Audit rows come only from SECURITY DEFINER triggers
--   (alert_changed, status_feedback, adjustment_changed), which attribute them to session_user. Alerts are
--   opened, grouped, escalated, re-notified and marked sent only through the five functions below, which run as
--   the schema owner; ad_internal.grant_role_privileges() (sql/130_roles.sql) takes the worker's INSERT/UPDATE on ad.alerts and
--   INSERT on ad.audit_log away. So the worker's login cannot insert an audit row in an operator's name nor rewrite
--   an alert's title, notes or who acknowledged it.
-- * Operators cannot take a table lock that stops scoring. LOCK TABLE in any mode above ROW EXCLUSIVE needs
--   table-level UPDATE, DELETE or TRUNCATE; operators get column-level UPDATE instead on the tables the scoring
--   transaction reads (alert_rules, alert_rule_channels, channels), and delete rows through the functions below.
--   The strongest lock they can take there is ROW EXCLUSIVE, which conflicts with nothing scoring takes.
SET LOCAL search_path TO pg_catalog, pg_temp;

-- CREATE OR REPLACE in sql/095_alerting.sql makes these SECURITY INVOKER again on every update; this file runs
-- after it and makes them run as their owner. Each takes only values (never SQL) and is granted to ad_worker alone.
ALTER FUNCTION ad_internal.raise_alerts(uuid[], uuid[], timestamptz[], uuid[], text[], text[], text[], text[])
    SECURITY DEFINER;
ALTER FUNCTION ad_internal.sustain_alerts(uuid[], uuid[], timestamptz[], timestamptz[], timestamptz[], uuid[],
                                         text[], text[], text[], text[], boolean[])
    SECURITY DEFINER;
ALTER FUNCTION ad_internal.record_delivery(uuid, int, timestamptz, timestamptz, text, int, text, text, timestamptz)
    SECURITY DEFINER;
ALTER FUNCTION ad_internal.escalate_due() SECURITY DEFINER;
ALTER FUNCTION ad_internal.renotify_due() SECURITY DEFINER;  -- FOR UPDATE OF ad.alerts needs UPDATE on it

CREATE OR REPLACE FUNCTION ad.delete_alert_rule(rule text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    -- RESTRICT on ad.alerts.rule_id still holds: a rule that raised alerts cannot be deleted (disable it).
    DELETE FROM ad.alert_rules r WHERE r.name = rule;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.delete_alert_rule: unknown rule "%"', rule USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION ad.delete_alert_rule(text) IS
    'Deletes an alert rule by name (operators have no DELETE on ad.alert_rules, so they cannot lock it). A rule '
    'that raised alerts cannot be deleted: set enabled = false instead.';
REVOKE ALL ON FUNCTION ad.delete_alert_rule(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.remove_rule_channel(rule text, channel text, purpose text DEFAULT 'notify')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    DELETE FROM ad.alert_rule_channels rc
     USING ad.alert_rules r, ad.channels c
     WHERE rc.rule_id = r.id AND rc.channel_id = c.id
       AND r.name = remove_rule_channel.rule AND c.name = remove_rule_channel.channel
       AND rc.purpose = remove_rule_channel.purpose;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION ad.remove_rule_channel(text, text, text) IS
    'Stops sending a rule''s alerts to a channel (both by name, purpose notify or escalate); the opposite of '
    'ad.add_rule_channel(). Returns whether there was such a link.';
REVOKE ALL ON FUNCTION ad.remove_rule_channel(text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.delete_channel(channel text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    -- RESTRICT on rule links and on delivery history still holds: deactivate a channel in use (active = false).
    DELETE FROM ad.channels c WHERE c.name = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.delete_channel: unknown channel "%"', channel USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION ad.delete_channel(text) IS
    'Deletes a channel by name (operators have no DELETE on ad.channels, so they cannot lock it). A channel that '
    'rules use or that has delivery history cannot be deleted: set active = false instead.';
REVOKE ALL ON FUNCTION ad.delete_channel(text) FROM PUBLIC;
