SELECT name, version, checked_at::date, recent_points, round(max_psi::numeric, 2) AS max_psi, threshold, drifted,
       (SELECT name || ' v' || version FROM ad.ml_models WHERE id = retrain_model_id) AS retraining
  FROM ad.model_drift WHERE recent_points > 0 ORDER BY report;
SELECT f ->> 'feature' AS feature, round((f ->> 'psi')::numeric, 2) AS psi, round((f ->> 'ks')::numeric, 2) AS ks
  FROM ad.model_drift, jsonb_array_elements(features) f WHERE recent_points > 0 ORDER BY report, feature;
SELECT name, version, status, train_from::date, train_to::date, retrain_of IS NOT NULL AS retraining
  FROM ad.model_registry WHERE name = 'pca pump-7' ORDER BY version;
