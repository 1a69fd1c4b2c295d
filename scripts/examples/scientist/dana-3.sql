SELECT a.point_timestamp, a.metric, a.severity, round(a.score::numeric, 3) AS score, m.name || ' v' || m.version AS model,
       a.explanation ->> 'reason' AS reason
  FROM ad.anomalies a JOIN ad.ml_models m ON m.id = a.model_id
 WHERE a.point_timestamp >= '2026-11-06' ORDER BY a.point_timestamp LIMIT 3;
SELECT ad.train_model('pca', 'pump-7', '2026-11-01', '2026-11-06', '{"input_window": 5, "variance": 0.99}') AS v2 \gset
