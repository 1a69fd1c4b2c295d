SELECT ad.label_incident('pump-7', '2026-11-05 09:00', '2026-11-05 09:30', 'seal leak, replaced by maintenance');
SELECT name, kind, default_value, minimum, maximum FROM ad.model_hyperparameters() WHERE algorithm = 'pca';
SELECT ad.train_model('pca', 'pump-7', '2026-11-01', '2026-11-06', '{"input_window": 5}') AS pca \gset
SELECT ad.train_model('isolation_forest', 'pump-7', '2026-11-01', '2026-11-06') AS forest \gset
SELECT ad.train_model('pca', 'pump-7', '2026-11-01', '2026-11-06', '{"trees": 50}');
