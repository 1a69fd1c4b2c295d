-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Views the Grafana dashboards (docker/grafana/dashboards/) read as ad_reader, so a panel's SQL only filters, groups
-- and orders: what "open", "unscored" or "failing" means is written here once, beside the other BI views
-- (sql/110_views.sql), and a BI tool other than Grafana gets the same answers.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE VIEW ad.anomaly_hourly AS
SELECT h.bucket,
       h.source_id,
       s.name AS source_name,
       h.severity,
       h.anomalies,
       h.max_score,
       h.avg_score
  FROM ad.anomaly_summary_hourly h
  JOIN ad.data_sources s ON s.id = h.source_id;
COMMENT ON VIEW ad.anomaly_hourly IS
    'ad.anomaly_summary_hourly with the source''s name: anomalies per hour (UTC buckets), source and severity.';
COMMENT ON COLUMN ad.anomaly_hourly.bucket IS 'Start of the hour (UTC buckets).';
COMMENT ON COLUMN ad.anomaly_hourly.source_id IS 'The source.';
COMMENT ON COLUMN ad.anomaly_hourly.source_name IS 'Its name.';
COMMENT ON COLUMN ad.anomaly_hourly.severity IS 'Severity.';
COMMENT ON COLUMN ad.anomaly_hourly.anomalies IS 'Anomalies in the hour.';
COMMENT ON COLUMN ad.anomaly_hourly.max_score IS 'Highest score in the hour.';
COMMENT ON COLUMN ad.anomaly_hourly.avg_score IS 'Mean score in the hour.';

CREATE OR REPLACE VIEW ad.open_alerts AS
SELECT o.alert_id,
       o.status,
       o.severity,
       o.title,
       o.rule_name,
       o.source_name,
       o.metric,
       o.occurrences,
       o.first_seen_at,
       o.last_seen_at,
       o.created_at,
       o.acknowledged_at,
       o.acknowledged_by,
       o.escalated_at,
       extract(epoch FROM now() - o.created_at)::double precision AS open_seconds
  FROM ad.alert_overview o
 WHERE o.status IN ('pending', 'sent', 'acknowledged', 'escalated');
COMMENT ON VIEW ad.open_alerts IS
    'Alerts not yet resolved (pending, sent, acknowledged or escalated; the same set ad.source_overview counts), '
    'with how long each has been open.';
COMMENT ON COLUMN ad.open_alerts.alert_id IS 'The alert.';
COMMENT ON COLUMN ad.open_alerts.status IS 'pending, sent, acknowledged or escalated.';
COMMENT ON COLUMN ad.open_alerts.severity IS 'Severity.';
COMMENT ON COLUMN ad.open_alerts.title IS 'Its title.';
COMMENT ON COLUMN ad.open_alerts.rule_name IS 'The rule that raised it.';
COMMENT ON COLUMN ad.open_alerts.source_name IS 'The source.';
COMMENT ON COLUMN ad.open_alerts.metric IS 'The metric.';
COMMENT ON COLUMN ad.open_alerts.occurrences IS 'Anomalies grouped into it.';
COMMENT ON COLUMN ad.open_alerts.first_seen_at IS 'First anomaly.';
COMMENT ON COLUMN ad.open_alerts.last_seen_at IS 'Latest anomaly.';
COMMENT ON COLUMN ad.open_alerts.created_at IS 'When it was raised.';
COMMENT ON COLUMN ad.open_alerts.acknowledged_at IS 'When it was acknowledged, if it was.';
COMMENT ON COLUMN ad.open_alerts.acknowledged_by IS 'Who acknowledged it.';
COMMENT ON COLUMN ad.open_alerts.escalated_at IS 'When it was escalated, if it was.';
COMMENT ON COLUMN ad.open_alerts.open_seconds IS 'Seconds since it was raised.';

CREATE OR REPLACE VIEW ad.source_health AS
SELECT s.id AS source_id,
       s.name AS source_name,
       s.type,
       s.status,
       last_point."timestamp" AS last_point_at,
       extract(epoch FROM now() - last_point."timestamp")::double precision AS last_point_age_seconds,
       (SELECT count(*) FROM ad.data_points p
         WHERE p.source_id = s.id AND p."timestamp" > now() - interval '1 hour') AS points_1h,
       backlog.unscored AS unscored_points,
       backlog.oldest AS oldest_unscored_at,
       extract(epoch FROM now() - backlog.oldest)::double precision AS unscored_age_seconds,
       (SELECT count(*) FROM ad.quarantined_points q
         WHERE q.source_id = s.id AND q.requeued_at IS NULL) AS quarantined_points,
       (SELECT count(*) FROM ad.anomalies a
         WHERE a.source_id = s.id AND a.point_timestamp > now() - interval '24 hours') AS anomalies_24h,
       (SELECT count(*) FROM ad.alerts al
         WHERE al.source_id = s.id AND al.status IN ('pending', 'sent', 'acknowledged', 'escalated')) AS open_alerts
  FROM ad.data_sources s
  LEFT JOIN LATERAL (SELECT p."timestamp" FROM ad.data_points p
                      WHERE p.source_id = s.id ORDER BY p."timestamp" DESC LIMIT 1) last_point ON true
  CROSS JOIN LATERAL (SELECT count(*) AS unscored, min(p."timestamp") AS oldest FROM ad.data_points p
                       WHERE p.source_id = s.id AND p.anomaly_score IS NULL
                         -- As ad_unscored_points counts them: quarantined points wait for a person, not the worker.
                         AND NOT EXISTS (SELECT FROM ad.quarantined_points q
                                          WHERE q.source_id = p.source_id AND q.point_timestamp = p."timestamp"
                                            AND q.requeued_at IS NULL)) backlog;
COMMENT ON VIEW ad.source_health IS
    'One row per source: is data arriving (latest point, its age, points in the last hour), is the worker keeping up '
    '(unscored points and the oldest one''s age), points quarantined, anomalies in 24 hours and open alerts.';
COMMENT ON COLUMN ad.source_health.source_id IS 'The source.';
COMMENT ON COLUMN ad.source_health.source_name IS 'Its name.';
COMMENT ON COLUMN ad.source_health.type IS 'How rows arrive: sql, api, kafka or db_poll.';
COMMENT ON COLUMN ad.source_health.status IS 'active, paused or disabled.';
COMMENT ON COLUMN ad.source_health.last_point_at IS 'Time of its latest point.';
COMMENT ON COLUMN ad.source_health.last_point_age_seconds IS 'Seconds since that time (NULL: no point yet).';
COMMENT ON COLUMN ad.source_health.points_1h IS 'Points with a time in the last hour.';
COMMENT ON COLUMN ad.source_health.unscored_points IS
    'Points the worker has not scored yet (its queue; quarantined points apart, counted in quarantined_points). '
    'A paused or disabled source''s points wait here too.';
COMMENT ON COLUMN ad.source_health.oldest_unscored_at IS 'Time of the oldest unscored point.';
COMMENT ON COLUMN ad.source_health.unscored_age_seconds IS 'Seconds since that time (NULL: nothing waits).';
COMMENT ON COLUMN ad.source_health.quarantined_points IS 'Points set aside and not re-queued (ad.quarantine).';
COMMENT ON COLUMN ad.source_health.anomalies_24h IS 'Anomalies on points of the last 24 hours.';
COMMENT ON COLUMN ad.source_health.open_alerts IS 'Alerts pending, sent, acknowledged or escalated.';

CREATE OR REPLACE VIEW ad.delivery_history AS
SELECT t.id AS attempt_id,
       t.started_at,
       t.finished_at,
       extract(epoch FROM t.finished_at - t.started_at)::double precision AS duration_seconds,
       t.outcome,
       t.attempt,
       t.http_status,
       d.kind,
       d.status AS delivery_status,
       c.name AS channel_name,
       c.type AS channel_type,
       al.id AS alert_id,
       al.severity,
       r.name AS rule_name,
       s.name AS source_name,
       CASE WHEN t.outcome = 'sent' THEN extract(epoch FROM t.finished_at - al.created_at)::double precision
       END AS latency_seconds
  FROM ad.delivery_attempts t
  JOIN ad.alert_deliveries d ON d.id = t.delivery_id
  JOIN ad.channels c ON c.id = d.channel_id
  JOIN ad.alerts al ON al.id = d.alert_id
  JOIN ad.alert_rules r ON r.id = al.rule_id
  JOIN ad.data_sources s ON s.id = al.source_id;
COMMENT ON VIEW ad.delivery_history IS
    'Every attempt to deliver an alert to a channel: when, outcome, HTTP status, channel by name and type, the alert''s '
    'rule and source. Never the channel''s target, secrets or error text (they may carry URLs and addresses).';
COMMENT ON COLUMN ad.delivery_history.attempt_id IS 'The attempt.';
COMMENT ON COLUMN ad.delivery_history.started_at IS 'When it began.';
COMMENT ON COLUMN ad.delivery_history.finished_at IS 'When it ended.';
COMMENT ON COLUMN ad.delivery_history.duration_seconds IS 'How long it took.';
COMMENT ON COLUMN ad.delivery_history.outcome IS 'sent, retry (another attempt follows) or failed (given up).';
COMMENT ON COLUMN ad.delivery_history.attempt IS 'Attempt number within its delivery.';
COMMENT ON COLUMN ad.delivery_history.http_status IS 'The HTTP status answered, for HTTP channels.';
COMMENT ON COLUMN ad.delivery_history.kind IS 'trigger, renotify, escalate, acknowledge or resolve.';
COMMENT ON COLUMN ad.delivery_history.delivery_status IS 'The delivery''s state now: pending, sent, failed or cancelled.';
COMMENT ON COLUMN ad.delivery_history.channel_name IS 'The channel.';
COMMENT ON COLUMN ad.delivery_history.channel_type IS 'email, slack, pagerduty, webhook or alertmanager.';
COMMENT ON COLUMN ad.delivery_history.alert_id IS 'The alert delivered.';
COMMENT ON COLUMN ad.delivery_history.severity IS 'Its severity.';
COMMENT ON COLUMN ad.delivery_history.rule_name IS 'The rule that raised it.';
COMMENT ON COLUMN ad.delivery_history.source_name IS 'Its source.';
COMMENT ON COLUMN ad.delivery_history.latency_seconds IS 'For a sent attempt: seconds from the alert''s creation to sent.';

CREATE OR REPLACE VIEW ad.channel_health AS
SELECT c.name AS channel_name,
       c.type AS channel_type,
       c.active,
       day.sent AS sent_24h,
       day.retries AS retries_24h,
       day.failed AS failed_24h,
       (SELECT max(t.finished_at) FROM ad.delivery_attempts t JOIN ad.alert_deliveries d ON d.id = t.delivery_id
         WHERE d.channel_id = c.id AND t.outcome = 'sent') AS last_sent_at,
       (SELECT max(t.finished_at) FROM ad.delivery_attempts t JOIN ad.alert_deliveries d ON d.id = t.delivery_id
         WHERE d.channel_id = c.id AND t.outcome <> 'sent') AS last_failure_at,
       (SELECT count(*) FROM ad.alert_deliveries d WHERE d.channel_id = c.id AND d.status = 'pending') AS pending,
       coalesce(latest.outcome <> 'sent', false) AS failing
  FROM ad.channels c
  CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE t.outcome = 'sent') AS sent,
             count(*) FILTER (WHERE t.outcome = 'retry') AS retries,
             count(*) FILTER (WHERE t.outcome = 'failed') AS failed
        FROM ad.delivery_attempts t JOIN ad.alert_deliveries d ON d.id = t.delivery_id
       WHERE d.channel_id = c.id AND t.finished_at > now() - interval '24 hours') day
  LEFT JOIN LATERAL (
      SELECT t.outcome FROM ad.delivery_attempts t JOIN ad.alert_deliveries d ON d.id = t.delivery_id
       WHERE d.channel_id = c.id ORDER BY t.finished_at DESC, t.id DESC LIMIT 1) latest ON true;
COMMENT ON VIEW ad.channel_health IS
    'One row per channel: attempts sent, retried and failed in the last 24 hours, the latest success and failure, '
    'deliveries waiting, and whether it is failing (its latest attempt did not send). Never its target or secrets.';
COMMENT ON COLUMN ad.channel_health.channel_name IS 'The channel.';
COMMENT ON COLUMN ad.channel_health.channel_type IS 'email, slack, pagerduty, webhook or alertmanager.';
COMMENT ON COLUMN ad.channel_health.active IS 'Whether rules may send to it.';
COMMENT ON COLUMN ad.channel_health.sent_24h IS 'Attempts that sent, last 24 hours.';
COMMENT ON COLUMN ad.channel_health.retries_24h IS 'Attempts that failed and will be retried, last 24 hours.';
COMMENT ON COLUMN ad.channel_health.failed_24h IS 'Attempts after which the delivery gave up, last 24 hours.';
COMMENT ON COLUMN ad.channel_health.last_sent_at IS 'Its latest successful attempt.';
COMMENT ON COLUMN ad.channel_health.last_failure_at IS 'Its latest attempt that did not send.';
COMMENT ON COLUMN ad.channel_health.pending IS 'Deliveries to it waiting to be sent or retried.';
COMMENT ON COLUMN ad.channel_health.failing IS 'true when its latest attempt did not send.';
