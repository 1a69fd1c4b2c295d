-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Alerting: rule and channel validation, raising and grouping alerts, the delivery outbox, escalation,
-- re-notification and the audit trail of alert states. The worker evaluates rule conditions in Swift
-- (ADCore.AlertRule); these functions only ever receive rule text as jsonb values, never as SQL.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad_internal.severity_rank(severity text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
RETURN array_position(ARRAY['low', 'medium', 'high', 'critical'], severity);
COMMENT ON FUNCTION ad_internal.severity_rank(text) IS 'low 1, medium 2, high 3, critical 4 (NULL otherwise).';

-- ---------------------------------------------------------------------------------------------------------
-- Rule conditions: the grammar (README, "Alert rules") checked at INSERT and UPDATE.

CREATE OR REPLACE FUNCTION ad.rule_problem(conditions jsonb) RETURNS text
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

CREATE OR REPLACE FUNCTION ad_internal.check_alert_rule() RETURNS trigger
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

CREATE OR REPLACE TRIGGER check_alert_rule BEFORE INSERT OR UPDATE ON ad.alert_rules
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_alert_rule();
COMMENT ON TRIGGER check_alert_rule ON ad.alert_rules IS 'Validates rule conditions; stamps updated_at.';

-- ---------------------------------------------------------------------------------------------------------
-- Channels: targets, headers and settings checked at INSERT and UPDATE.

CREATE OR REPLACE FUNCTION ad.channel_problem(type text, target text, headers jsonb, config jsonb) RETURNS text
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
        IF config ? 'username' AND coalesce(config ->> 'tls', 'starttls') = 'none' THEN
            RETURN 'config.tls: "none" with a username would send the SMTP password in clear; use "starttls" or "implicit"';
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
            -- Every operator reads ad.channels: a credential here is no secret. The secret store takes it.
            IF lower(k) ~ '(auth|token|secret|passw|api-?key|apikey|x-key|session|cookie|credential|signature|private)'
               OR (v #>> '{}') ~* '^\s*(bearer|basic|token|digest|apikey|key)\s' THEN
                RETURN format('headers.%s: looks like a credential, and headers are readable by every operator; keep it '
                              'write-only instead: SELECT ad.set_channel_header_secret(''<channel>'', %L, ''<value>'')',
                              k, k);
            END IF;
        END LOOP;
        IF type = 'slack' AND target ~* '^https?://hooks\.slack(-gov)?\.com/.' THEN
            RETURN 'target: a Slack webhook URL is a secret, and the target is readable by every operator; set target '
                   'to https://hooks.slack.com and the URL write-only: SELECT ad.set_channel_secret(''<channel>'', '
                   '''<webhook URL>'')';
        END IF;
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
            -- At most 60 s (adworker's DeliveryLimits.maxChannelTimeout): the delivery lease must outlast every send.
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 0.1 AND 60 THEN
                RETURN format('config.timeout_seconds: must be a number from 0.1 to 60 (the whole send: connect, '
                              'request and answer), got %s', v);
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

CREATE OR REPLACE FUNCTION ad_internal.check_channel() RETURNS trigger
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

CREATE OR REPLACE TRIGGER check_channel BEFORE INSERT OR UPDATE ON ad.channels
    FOR EACH ROW EXECUTE FUNCTION ad_internal.check_channel();
COMMENT ON TRIGGER check_channel ON ad.channels IS 'Validates type, target, headers and config; stamps updated_at.';

CREATE OR REPLACE FUNCTION ad.add_rule_channel(rule text, channel text, purpose text DEFAULT 'notify') RETURNS void
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

CREATE OR REPLACE FUNCTION ad_internal.raise_alerts(rule_ids uuid[], anomaly_ids uuid[], anomaly_times timestamptz[],
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
           -- r.at - gw would be out of range within gw of 4714-11-24 BC, where nothing can be older than it anyway.
           AND CASE WHEN gw < interval '290000 years' AND timestamptz '4714-11-24 00:00:00+00 BC' + gw < r.at
                    THEN al.last_seen_at < r.at - gw ELSE false END;
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

-- A fault that lasts: after its anomaly the series rests (points score 0) and the streams get used to it, but the
-- value may stay far from normal for hours. The worker sends each run of such points here (its first and last
-- times, the worst tier its deviation reached on its own, the series' latest anomaly); an open alert of the rule
-- whose last sign is within the grouping window of the run's start goes on: last_seen_at moves to the run's end,
-- severity rises to the worst seen, and a rise retitles it and queues a re-notification to the rule's notify
-- channels (not when acknowledged). occurrences counts anomalies only and is left alone. When no alert of the rule
-- is open and this anomaly has had none from it, and the anomaly is within the grouping window of the run (the same
-- fault), one opens (may_open: the rule asks for no min_occurrences), so a rule that wants `high` hears of a fault
-- that began `low` and grew. Nothing re-opens an alert of an anomaly that someone resolved: no alert opens when one
-- of the rule on the series, in any status, was last seen at or after the anomaly (it opened or grouped it).
CREATE OR REPLACE FUNCTION ad_internal.sustain_alerts(rule_ids uuid[], anomaly_ids uuid[], anomaly_times timestamptz[],
                                           first_times timestamptz[], last_times timestamptz[], source_ids uuid[],
                                           metrics text[], severities text[], titles text[], messages text[],
                                           may_open boolean[])
RETURNS TABLE (alert_id uuid, opened boolean)
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    gw interval;
    since timestamptz;
    open_id uuid;
    was text;
    how text;
    lengths int[] := ARRAY[cardinality(rule_ids), cardinality(anomaly_ids), cardinality(anomaly_times),
                           cardinality(first_times), cardinality(last_times), cardinality(source_ids),
                           cardinality(metrics), cardinality(severities), cardinality(titles), cardinality(messages),
                           cardinality(may_open)];
BEGIN
    -- It runs as its owner (sql/097_least_privilege.sql), so it trusts nothing it is given: one length for all
    -- arrays, known severities, finite times in order, and each run's anomaly on the run's series.
    IF array_position(lengths, NULL) IS NOT NULL OR (SELECT min(x) <> max(x) FROM unnest(lengths) x) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('sustain_alerts: the 11 arrays must be given and have one length, not %s', lengths);
    END IF;
    -- Fixed order, the same as raise_alerts, so one call takes its row locks in one order (the worker takes every
    -- series' lock the batch needs first, in one sorted statement: ScoringCycle.alert).
    FOR r IN SELECT * FROM unnest(rule_ids, anomaly_ids, anomaly_times, first_times, last_times, source_ids, metrics,
                                  severities, titles, messages, may_open)
                     AS u(rule_id, anomaly_id, anomaly_at, first_at, last_at, source_id, metric, severity, title,
                          message, may_open)
             ORDER BY u.rule_id, u.source_id, u.metric, u.first_at LOOP
        IF r.rule_id IS NULL OR r.anomaly_id IS NULL OR r.source_id IS NULL OR r.metric IS NULL
           OR r.may_open IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = 'sustain_alerts: rule, anomaly, source, metric and may_open must not be null';
        END IF;
        IF ad_internal.severity_rank(r.severity) IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('sustain_alerts: unknown severity %L (low, medium, high or critical)', r.severity);
        END IF;
        IF NOT (isfinite(r.anomaly_at) AND isfinite(r.first_at) AND isfinite(r.last_at)) OR r.first_at > r.last_at
        THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('sustain_alerts: times must be finite with first <= last, not anomaly %s, run %s to %s',
                                 r.anomaly_at, r.first_at, r.last_at);
        END IF;
        IF NOT EXISTS (SELECT FROM ad.anomalies an
                        WHERE an.id = r.anomaly_id AND an.point_timestamp = r.anomaly_at
                          AND an.source_id = r.source_id AND an.metric = r.metric) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('sustain_alerts: no anomaly %s at %s on source %s, metric %L', r.anomaly_id,
                                 r.anomaly_at, r.source_id, r.metric);
        END IF;
        SELECT ar.group_window INTO gw FROM ad.alert_rules ar WHERE ar.id = r.rule_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('sustain_alerts: no alert rule %s', r.rule_id);
        END IF;
        -- first_at - gw would be out of range within gw of 4714-11-24 BC, where nothing can be older anyway.
        since := CASE WHEN gw < interval '290000 years' AND timestamptz '4714-11-24 00:00:00+00 BC' + gw < r.first_at
                      THEN r.first_at - gw ELSE '-infinity' END;
        SELECT al.id, al.severity, al.status INTO open_id, was, how
          FROM ad.alerts al
         WHERE al.rule_id = r.rule_id AND al.source_id = r.source_id AND al.metric = r.metric
           AND al.status IN ('pending', 'sent', 'acknowledged', 'escalated')
           AND al.last_seen_at >= since
           FOR UPDATE;
        IF FOUND THEN
            -- A rise in severity retitles the alert and tells its notify channels again (unless someone has
            -- acknowledged it, or a send to them is still queued and not yet claimed, which will carry the alert as
            -- it is now): a fault that grew from low to critical is news. A send in flight (claimed, its attempt not
            -- recorded, its lease running: claim_deliveries' test) carries the alert as it was, so it covers nothing.
            UPDATE ad.alerts al
               SET last_seen_at = greatest(al.last_seen_at, r.last_at),
                   severity     = CASE WHEN ad_internal.severity_rank(r.severity) > ad_internal.severity_rank(was)
                                       THEN r.severity ELSE al.severity END,
                   title        = CASE WHEN ad_internal.severity_rank(r.severity) > ad_internal.severity_rank(was)
                                       THEN r.title ELSE al.title END,
                   updated_at   = now()
             WHERE al.id = open_id;
            IF ad_internal.severity_rank(r.severity) > ad_internal.severity_rank(was) AND how <> 'acknowledged' THEN
                INSERT INTO ad.alert_deliveries (alert_id, channel_id, kind)
                SELECT open_id, rc.channel_id, 'renotify'
                  FROM ad.alert_rule_channels rc
                  JOIN ad.channels c ON c.id = rc.channel_id AND c.active
                 WHERE rc.rule_id = r.rule_id AND rc.purpose = 'notify'
                   AND NOT EXISTS (SELECT FROM ad.alert_deliveries d
                                    WHERE d.alert_id = open_id AND d.channel_id = rc.channel_id
                                      AND d.kind IN ('trigger', 'renotify') AND d.status = 'pending'
                                      AND NOT (d.attempts > 0 AND d.next_attempt_at > now()
                                               AND NOT EXISTS (SELECT FROM ad.delivery_attempts a
                                                                WHERE a.delivery_id = d.id
                                                                  AND a.attempt = d.attempts)));
                PERFORM pg_notify('ad_deliveries', '');
            END IF;
            alert_id := open_id; opened := false;
            RETURN NEXT;
            CONTINUE;
        END IF;
        CONTINUE WHEN NOT r.may_open OR r.anomaly_at < since;
        -- Once per anomaly: not when an alert of the rule on this series (in any status) already saw it, whether the
        -- anomaly opened it or was grouped into it; so a resolve is not undone by the fault that goes on.
        CONTINUE WHEN EXISTS (SELECT FROM ad.alerts al
                               WHERE al.rule_id = r.rule_id AND al.source_id = r.source_id AND al.metric = r.metric
                                 AND al.last_seen_at >= r.anomaly_at);
        -- An open alert older than the window is over, as raise_alerts closes it.
        UPDATE ad.alerts al
           SET status = 'resolved', resolved_at = now(),
               notes = concat_ws(E'\n', al.notes,
                                 format('Resolved by adworker: a lasting fault was seen more than the grouping '
                                        'window (%s) after the last sign of this one.', gw))
         WHERE al.rule_id = r.rule_id AND al.source_id = r.source_id AND al.metric = r.metric
           AND al.status IN ('pending', 'sent', 'acknowledged', 'escalated') AND al.last_seen_at < since;
        RETURN QUERY
        INSERT INTO ad.alerts AS al (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title,
                                     message, first_seen_at, last_seen_at)
        VALUES (r.rule_id, r.anomaly_id, r.anomaly_at, r.source_id, r.metric, r.severity, r.title, r.message,
                r.anomaly_at, r.last_at)
        -- Another worker opened it since the look above (it committed after this statement's snapshot): this run
        -- still counts, as it would have on the open alert: last seen and the worse severity (and its title).
        ON CONFLICT (rule_id, source_id, metric) WHERE status IN ('pending', 'sent', 'acknowledged', 'escalated')
        DO UPDATE SET last_seen_at = greatest(al.last_seen_at, EXCLUDED.last_seen_at),
                      severity     = CASE WHEN ad_internal.severity_rank(EXCLUDED.severity)
                                               > ad_internal.severity_rank(al.severity)
                                          THEN EXCLUDED.severity ELSE al.severity END,
                      title        = CASE WHEN ad_internal.severity_rank(EXCLUDED.severity)
                                               > ad_internal.severity_rank(al.severity)
                                          THEN EXCLUDED.title ELSE al.title END,
                      updated_at   = now()
        RETURNING al.id, (al.xmax = 0);
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ad_internal.sustain_alerts(uuid[], uuid[], timestamptz[], timestamptz[], timestamptz[], uuid[],
                                               text[], text[], text[], text[], boolean[]) IS
    'A fault that lasts after its anomaly: keeps the open alert of each (rule, source, metric) going (last seen, '
    'worst severity, a re-notification when it rises; not occurrences), or opens one for a rule the anomaly did not reach at first (may_open), '
    'never again for an anomaly that already had one. Returns each alert touched and whether it was opened.';
REVOKE ALL ON FUNCTION ad_internal.sustain_alerts(uuid[], uuid[], timestamptz[], timestamptz[], timestamptz[], uuid[],
                                                  text[], text[], text[], text[], boolean[])
    FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------------
-- Every alert state change: the audit trail, and the deliveries it implies.

CREATE OR REPLACE FUNCTION ad_internal.alert_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    uid uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    uid := ad.current_person();  -- the login's person, or an API request's (sql/057_api_identity.sql)
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
        -- Tell the channels that may have been told it fired, and understand the news: those whose trigger or
        -- escalation was sent, and those where one was attempted (it may be in flight now, or an attempt we
        -- recorded as failed may have arrived). claim_deliveries holds the news back while the trigger is in
        -- flight, so it never overtakes it. Then drop queued re-notifications and escalations (and, once
        -- resolved, triggers not sent).
        INSERT INTO ad.alert_deliveries (alert_id, channel_id, kind)
        SELECT DISTINCT NEW.id, d.channel_id, CASE NEW.status WHEN 'acknowledged' THEN 'acknowledge' ELSE 'resolve' END
          FROM ad.alert_deliveries d
          JOIN ad.channels c ON c.id = d.channel_id
         WHERE d.alert_id = NEW.id AND d.kind IN ('trigger', 'escalate')
           AND (d.status = 'sent' OR (d.status = 'pending' AND d.attempts > 0))
           AND CASE NEW.status
                   WHEN 'acknowledged' THEN c.type IN ('pagerduty', 'webhook')
                   ELSE c.type IN ('pagerduty', 'webhook', 'alertmanager', 'slack')
               END;
        UPDATE ad.alert_deliveries d SET status = 'cancelled', last_error = 'alert ' || NEW.status
         WHERE d.alert_id = NEW.id AND d.status = 'pending'
           AND (d.kind IN ('renotify', 'escalate') OR (NEW.status = 'resolved' AND d.kind IN ('trigger', 'acknowledge')));
    END IF;
    PERFORM pg_notify('ad_deliveries', '');
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.alert_changed() IS
    'Writes every alert state change to ad.audit_log (who, when, old, new) and queues the deliveries it implies: '
    'triggers on opening, escalations, and acknowledge/resolve for the channels that understand them.';
REVOKE ALL ON FUNCTION ad_internal.alert_changed() FROM PUBLIC;

CREATE OR REPLACE TRIGGER alert_changed AFTER INSERT OR UPDATE OF status ON ad.alerts
    FOR EACH ROW EXECUTE FUNCTION ad_internal.alert_changed();
COMMENT ON TRIGGER alert_changed ON ad.alerts IS 'Audit trail and deliveries for alert state changes.';

-- ---------------------------------------------------------------------------------------------------------
-- The delivery loop's side: claim due deliveries under a lease, record outcomes, escalate, re-notify.

CREATE OR REPLACE FUNCTION ad_internal.claim_deliveries(max_rows int, lease interval,
                                                        busy_channels text[] DEFAULT '{}',
                                                        per_channel int DEFAULT 1000000)
RETURNS TABLE (delivery_id uuid, kind text, attempt int, alert jsonb, channel_name text, channel_type text,
               target text, headers jsonb, config jsonb, secret text, secret_headers jsonb)
LANGUAGE sql
SET search_path TO pg_catalog, pg_temp
AS $fn$
    -- A channel whose sends this worker already has in flight (busy_channels) is skipped, and no channel gets more
    -- than per_channel of one claim: a stalled receiver holds its own slots, never every slot. The candidates are
    -- the oldest due rows (a bounded look, so a backlog costs the same per claim).
    WITH candidates AS (
        SELECT d.id, d.next_attempt_at, d.channel_id
          FROM ad.alert_deliveries d
          JOIN ad.channels c ON c.id = d.channel_id AND c.active
         WHERE d.status = 'pending' AND d.next_attempt_at <= now()
           AND c.name <> ALL (coalesce(busy_channels, '{}'))
           -- News of an acknowledge or resolve waits while a trigger or escalation to the same channel is in
           -- flight (claimed, its attempt not recorded, its lease running), so it never arrives first.
           AND NOT (d.kind IN ('acknowledge', 'resolve') AND EXISTS (
                   SELECT FROM ad.alert_deliveries t
                    WHERE t.alert_id = d.alert_id AND t.channel_id = d.channel_id AND t.kind IN ('trigger', 'escalate')
                      AND t.status IN ('pending', 'cancelled') AND t.attempts > 0 AND t.next_attempt_at > now()
                      AND NOT EXISTS (SELECT FROM ad.delivery_attempts a
                                       WHERE a.delivery_id = t.id AND a.attempt = t.attempts)))
         ORDER BY d.next_attempt_at, d.id
         LIMIT greatest(max_rows, 1) * 8
    ), ranked AS (
        SELECT cand.id, cand.next_attempt_at,
               row_number() OVER (PARTITION BY cand.channel_id ORDER BY cand.next_attempt_at, cand.id) AS n
          FROM candidates cand
    ), due AS (
        SELECT d.id
          FROM ad.alert_deliveries d
          JOIN ranked r ON r.id = d.id AND r.n <= per_channel
         WHERE d.status = 'pending' AND d.next_attempt_at <= now()
         ORDER BY r.next_attempt_at, d.id
         LIMIT max_rows
           FOR UPDATE OF d SKIP LOCKED
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
           c.name, c.type, c.target, c.headers, c.config, cs.secret,
           coalesce((SELECT jsonb_object_agg(h.name, h.value) FROM ad_internal.channel_secret_headers h
                      WHERE h.channel_id = c.id), '{}')
      FROM claimed cl
      JOIN ad.alerts al ON al.id = cl.alert_id
      JOIN ad.alert_rules r ON r.id = al.rule_id
      JOIN ad.data_sources s ON s.id = al.source_id
      JOIN ad.channels c ON c.id = cl.channel_id
      LEFT JOIN ad.anomalies an ON an.id = al.anomaly_id AND an.point_timestamp = al.anomaly_timestamp
      LEFT JOIN ad_internal.channel_secrets cs ON cs.channel_id = c.id
     ORDER BY cl.id
$fn$;
COMMENT ON FUNCTION ad_internal.claim_deliveries(int, interval, text[], int) IS
    'Claims up to max_rows due deliveries (SKIP LOCKED), none of busy_channels and at most per_channel of one '
    'channel, counts the attempt and leases them: if the worker does not record an outcome within the lease, they '
    'are due again. Returns what sending needs, secrets included.';
REVOKE ALL ON FUNCTION ad_internal.claim_deliveries(int, interval, text[], int) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.record_delivery(delivery uuid, attempt int, started timestamptz, finished timestamptz,
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
     WHERE ad_d.id = delivery AND ad_d.attempts = attempt
       -- A trigger cancelled while in flight (its alert resolved meanwhile) that arrived is recorded as sent.
       AND (ad_d.status = 'pending' OR (ad_d.status = 'cancelled' AND outcome = 'sent'))
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

CREATE OR REPLACE FUNCTION ad_internal.escalate_due() RETURNS int
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

CREATE OR REPLACE FUNCTION ad_internal.renotify_due() RETURNS int
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
