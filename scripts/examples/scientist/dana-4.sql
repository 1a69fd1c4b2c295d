SELECT ad.promote_model(id) FROM ad.model_registry WHERE name = 'pca pump-7' AND version = 2;
SELECT ad.promote_model(id) FROM ad.model_registry WHERE name = 'pca pump-7' AND version = 1;  -- roll back
SELECT name, version, status, promoted_at IS NOT NULL AS was_promoted FROM ad.model_registry
 WHERE name = 'pca pump-7' ORDER BY version;
