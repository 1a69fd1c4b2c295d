\pset footer off
SELECT to_char(point_timestamp, 'HH24:MI') AS at, severity, round(score::numeric, 4) AS score, status,
       explanation #>> '{pattern,measure}' AS measure, round((explanation #>> '{pattern,deviation}')::numeric, 1) AS deviation
  FROM ad.anomaly_details ORDER BY point_timestamp;
SELECT ad.confirm_anomaly(anomaly_id, 'real: database failover') FROM ad.anomaly_details WHERE to_char(point_timestamp, 'HH24:MI') IN ('17:30', '22:30');
SELECT to_char(p."timestamp", 'HH24:MI') AS bump, round(p.anomaly_score::numeric, 4) AS score,
       p.features #>> '{latency_ms,x}' AS latency_ms, a.id IS NOT NULL AS anomaly
  FROM ad.data_points p LEFT JOIN ad.anomalies a ON a.data_point_id = p.id
 WHERE p.anomaly_score >= 0.45 AND p."timestamp" > '2026-01-01 05:20Z' AND to_char(p."timestamp", 'HH24:MI') NOT IN ('17:30', '22:30')
 ORDER BY p."timestamp";
SELECT l.db_role, u.name, l.action, l.entity, l.old_value->>'status' AS old, coalesce(l.new_value->>'status', l.new_value->>'kind') AS new
  FROM ad.audit_log l LEFT JOIN ad.users u ON u.id = l.user_id WHERE l.entity <> 'data_source' ORDER BY l.id;
SELECT source_name, detector, day, anomalies, confirmed, rejected, unjudged, precision, cumulative_precision FROM ad.feedback_precision;
SELECT ad.undo_adjustment(min(id), 'the batch job moved; watch it again') FROM ad.scoring_adjustments WHERE kind = 'tolerate';
SELECT count(*) AS standing_tolerances FROM ad.learned_patterns;
