SELECT name, version, status, round(precision::numeric, 3) AS precision, round(recall::numeric, 3) AS recall,
       round(f1::numeric, 3) AS f1, round(roc_auc::numeric, 3) AS roc_auc, compared_with,
       round(production_f1::numeric, 3) AS production_f1
  FROM ad.model_registry WHERE source_name = 'pump-7' ORDER BY name, version;
SELECT ad.promote_model(id) FROM ad.model_registry WHERE name = 'pca pump-7' AND version = 1;
