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
       al.notes
  FROM ad.alerts al
  JOIN ad.alert_rules r ON r.id = al.rule_id
  JOIN ad.data_sources s ON s.id = al.source_id
  LEFT JOIN ad.users ack ON ack.id = al.acknowledged_by
  LEFT JOIN ad.users res ON res.id = al.resolved_by;
COMMENT ON VIEW ad.alert_overview IS 'Alerts with rule, source and people by name. Never shows channel secrets.';
