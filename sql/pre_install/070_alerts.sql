-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
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
