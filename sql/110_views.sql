-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Views: the stable surface BI tools read.
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
