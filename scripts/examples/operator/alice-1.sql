\pset footer off
SELECT alert_id, status, severity, title FROM ad.alert_overview WHERE status <> 'resolved';
SELECT alert_id AS alert, anomaly_id AS anomaly FROM ad.alert_overview WHERE status <> 'resolved' \gset
UPDATE ad.alerts SET status = 'acknowledged', notes = 'looking' WHERE id = :'alert';
UPDATE ad.alerts SET status = 'pending' WHERE id = :'alert';
UPDATE ad.alerts SET severity = 'low' WHERE id = :'alert';
SELECT pg_sleep(1.5);  -- the worker tells the webhook
SELECT kind, status FROM ad.alert_deliveries WHERE alert_id = :'alert' ORDER BY created_at;
SELECT ad.mark_false_positive(:'anomaly', 'nightly batch job, not an incident');
SELECT ad.resolve_alert(:'alert', 'batch job');
SELECT pg_sleep(1.5);  -- the feedback loop learns, the webhook hears of the resolve
SELECT kind, status FROM ad.alert_deliveries WHERE alert_id = :'alert' ORDER BY created_at;
SELECT feedback_type, notes, processed_at IS NOT NULL AS processed, result->>'effect' AS effect FROM ad.feedback ORDER BY created_at;
SELECT id, kind, measure, direction, round(deviation::numeric, 2) AS deviation, reason FROM ad.scoring_adjustments;
SELECT source_name, metric, measure, direction, round(effective_tolerance::numeric, 2) AS tolerance, always_alert_from FROM ad.learned_patterns;
