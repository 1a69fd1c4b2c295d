-- Models from SQL (sql/100_models.sql): who may train, label, promote and read; what ad.train_model refuses and
-- says; one production model per source, rollback, the streaming scorer's row; the training job's lease; drift
-- asking for retraining and auto-promotion. Needs SELECT ad.create_roles() (scripts/test does).
BEGIN;
SELECT * FROM no_plan();
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;

INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'pump'),
                                              ('00000000-0000-0000-0000-0000000000a2', 'fan');
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT '00000000-0000-0000-0000-0000000000a1', timestamptz '2026-01-01' + i * interval '1 minute',
       jsonb_build_object('flow', i % 7, 'pressure', i % 5)
  FROM generate_series(0, 99) i;
INSERT INTO ad.users (name, db_role) VALUES ('Tap Scientist', session_user);

-- The built-in streaming scorer is a registered model, in production for all sources.
SELECT is((SELECT name || ' ' || status FROM ad.ml_models WHERE id = '00000000-0000-4000-8000-000000000001'),
          'streaming production', 'the streaming scorer is a model in production');
SELECT is((SELECT column_default FROM information_schema.columns
            WHERE table_schema = 'ad' AND table_name = 'anomalies' AND column_name = 'model_id'),
          '''00000000-0000-4000-8000-000000000001''::uuid', 'anomalies default to the streaming scorer''s model');
SELECT throws_ok($$DELETE FROM ad.ml_models WHERE name = 'streaming'$$, '22023', NULL,
                 'its row cannot be deleted');
SELECT throws_ok($$UPDATE ad.ml_models SET status = 'deprecated' WHERE name = 'streaming'$$, '22023', NULL,
                 'nor retired');

-- ad.train_model checks each argument and names it.
SET LOCAL ROLE ad_scientist;
SELECT throws_ok($$SELECT ad.train_model('forest', 'pump', '2026-01-01', '2026-01-02')$$, '22023',
                 'ad.train_model: algorithm "forest" is not one of autoencoder, isolation_forest, pca',
                 'an unknown algorithm is refused, naming the known ones');
SELECT throws_ok($$SELECT ad.train_model('pca', 'nope', '2026-01-01', '2026-01-02')$$, '22023',
                 'ad.train_model: source: no source named "nope"', 'an unknown source is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-02', '2026-01-01')$$, '22023',
                 'ad.train_model: train_to (2026-01-01 00:00:00+00) must be after train_from (2026-01-02 00:00:00+00)',
                 'an empty window is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '-infinity', '2026-01-02')$$, '22023', NULL,
                 'an infinite time is refused');
SELECT throws_ok($$SELECT ad.train_model('isolation_forest', 'pump', '2026-01-01', '2026-01-02', '{"trees": 5000}')$$,
                 '22023', 'ad.train_model: hyperparameters.trees must be between 1 and 1000, got 5000',
                 'a hyperparameter out of bounds is refused, naming it and its bounds');
SELECT throws_ok($$SELECT ad.train_model('isolation_forest', 'pump', '2026-01-01', '2026-01-02', '{"trees": 5.5}')$$,
                 '22023', 'ad.train_model: hyperparameters.trees must be an integer, got 5.5',
                 'a fractional integer is refused');
SELECT throws_ok($$SELECT ad.train_model('isolation_forest', 'pump', '2026-01-01', '2026-01-02', '{"trees": "9"}')$$,
                 '22023', 'ad.train_model: hyperparameters.trees must be a number, got "9"', 'a string is refused');
SELECT throws_ok($$SELECT ad.train_model('isolation_forest', 'pump', '2026-01-01', '2026-01-02', '{"tres": 9}')$$,
                 '22023', NULL, 'an unknown hyperparameter is refused');
SELECT throws_ok($$SELECT ad.train_model('isolation_forest', 'pump', '2026-01-01', '2026-01-02', '[1]')$$,
                 '22023', 'ad.train_model: hyperparameters must be a JSON object, got [1]', 'a non-object is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02', test_fraction => 0)$$,
                 '22023', 'ad.train_model: test_fraction must be in (0, 0.99], got 0', 'a test fraction of 0 is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02', test_from => '2026-01-03')$$,
                 '22023', 'ad.train_model: test_from (2026-01-03 00:00:00+00) must lie inside (train_from, train_to)',
                 'a test split outside the window is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02', seed => -1)$$,
                 '22023', 'ad.train_model: seed must be a non-negative integer, got -1', 'a negative seed is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'fan', '2026-01-01', '2026-01-02')$$, '22023',
                 'ad.train_model: source "fan" has no points in [train_from, train_to) = [2026-01-01 00:00:00+00, 2026-01-02 00:00:00+00)',
                 'a window without points is refused');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02', '{"robust_scaling": 2}')$$,
                 '22023', 'ad.train_model: hyperparameters.robust_scaling must be true or false (or 1 or 0), got 2',
                 'a boolean hyperparameter takes true, false, 1 or 0');
SELECT lives_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02', '{"variance": 0.9, "robust_scaling": true}')$$,
                'a data scientist asks for training');
SELECT is((SELECT status || ' v' || version || ' ' || name || ' by ' || created_by FROM ad.model_registry
            WHERE algorithm = 'pca'), 'training v1 pca pump by ' || session_user,
          'the request waits in the registry, named after its algorithm and source');
SELECT is((SELECT (parameters #>> '{hyperparameters,robust_scaling}') FROM ad.ml_models WHERE name = 'pca pump'),
          '1', 'true is stored as 1');
SELECT lives_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02')$$, 'and asks again');
SELECT is((SELECT max(version) FROM ad.ml_models WHERE name = 'pca pump'), 2, 'the next request is version 2');
SELECT throws_ok($$SELECT ad.train_model('isolation_forest', 'pump', '2026-01-01', '2026-01-02', name => 'pca pump')$$,
                 '22023', NULL, 'one name is one algorithm and source');
SELECT is((SELECT (parameters #>> '{hyperparameters,variance}')::float8 FROM ad.ml_models WHERE name = 'pca pump' AND version = 1),
          0.9::float8, 'the given hyperparameter is kept');
SELECT ok((SELECT parameters -> 'hyperparameters' ? 'input_window' FROM ad.ml_models WHERE name = 'pca pump' AND version = 1),
          'defaults are filled in');
SELECT lives_ok($$SELECT ad.label_incident('pump', '2026-01-01 01:00', '2026-01-01 01:10', 'valve stuck')$$,
                'a data scientist labels an incident');
SELECT throws_ok($$SELECT ad.label_incident('pump', '2026-01-01 01:10', '2026-01-01 01:00')$$, '22023', NULL,
                 'an incident must end after it starts');
SELECT throws_ok($$UPDATE ad.ml_models SET status = 'production'$$, '42501', NULL,
                 'a data scientist cannot write models directly');
SELECT throws_ok($$SELECT ad.set_model_setting('auto_promote_retrained', 'true')$$, '42501', NULL,
                 'nor change the model settings (owner only)');
RESET ROLE;
SELECT is((SELECT string_agg(action, ', ' ORDER BY id) FROM ad.audit_log WHERE entity = 'model'),
          'train_requested, train_requested', 'requests are audited');

-- Others may not train or promote.
SET LOCAL ROLE ad_operator;
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02')$$, '42501', NULL,
                 'an operator cannot train');
SELECT throws_ok($$SELECT ad.promote_model('00000000-0000-4000-8000-000000000001')$$, '42501', NULL,
                 'an operator cannot promote');
SELECT lives_ok($$SELECT ad.label_incident('pump', '2026-01-01 02:00', '2026-01-01 02:10')$$,
                'an operator labels incidents');
SELECT lives_ok($$SELECT * FROM ad.drift_reports$$, 'an operator reads drift reports');
RESET ROLE;
SET LOCAL ROLE ad_reader;
SELECT is((SELECT count(*) FROM ad.model_registry), 3::bigint, 'a reader reads the registry view');
SELECT lives_ok($$SELECT * FROM ad.model_drift$$, 'and the drift view');
SELECT throws_ok($$SELECT * FROM ad.ml_models$$, '42501', NULL, 'a reader cannot read the table');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02')$$, '42501', NULL,
                 'a reader cannot train');
RESET ROLE;
SET LOCAL ROLE ad_ingest;
SELECT throws_ok($$SELECT * FROM ad.model_registry$$, '42501', NULL, 'a loader cannot read the registry');
SELECT throws_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02')$$, '42501', NULL,
                 'a loader cannot train');
RESET ROLE;

-- The worker's side: claim with a lease, progress, finish; a lapsed lease is taken over; three claims and it fails.
SET LOCAL ROLE ad_worker;
SELECT throws_ok($$INSERT INTO ad.ml_models (name, algorithm) VALUES ('x', 'pca')$$, '42501', NULL,
                 'the worker cannot insert models directly');
SELECT is((SELECT version FROM ad_internal.claim_training('w1', '1 hour')), 1, 'w1 claims the oldest job');
SELECT is((SELECT version FROM ad_internal.claim_training('w2', '1 hour')), 2, 'w2 gets the next, not the held one');
SELECT is((SELECT count(*) FROM ad_internal.claim_training('w3', '1 hour')), 0::bigint, 'nothing is left for w3');
SELECT ok(ad_internal.training_progress((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1),
                                        'w1', 'evaluating', 'evaluating on 30 points', '1 hour'),
          'w1 reports progress');
SELECT ok(NOT ad_internal.training_progress((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1),
                                            'w2', 'training', 'mine?', '1 hour'),
          'w2 cannot report on w1''s job');
SELECT is(ad_internal.finish_training((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), 'w2',
                                      '\x01', '{}', '{}'), 'lost', 'nor finish it');
SELECT is(ad_internal.finish_training((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), 'w1',
                                      '\x01', '{"evaluation": {"f1": 0.8, "points": 30, "flagged_points": 3}}', '{"metrics": ["flow", "pressure"]}'),
          'registered', 'w1 registers its model');
RESET ROLE;
SELECT is((SELECT status || ' ' || progress || ' f1=' || f1 FROM ad.model_registry WHERE name = 'pca pump' AND version = 1),
          'registered registered f1=0.8', 'the registry shows it with its metrics');
UPDATE ad.ml_models SET lease_until = now() - interval '1 second' WHERE name = 'pca pump' AND version = 2;
SET LOCAL ROLE ad_worker;
SELECT is((SELECT attempts FROM ad_internal.claim_training('w3', '-1 second')), 2, 'a lapsed lease is taken over (attempt 2)');
SELECT is((SELECT attempts FROM ad_internal.claim_training('w3', '-1 second')), 3, 'and again (attempt 3)');
SELECT is((SELECT count(*) FROM ad_internal.claim_training('w3', '1 hour')), 0::bigint, 'the fourth time it is failed');
RESET ROLE;
SELECT matches((SELECT error FROM ad.ml_models WHERE name = 'pca pump' AND version = 2),
               '^training stopped 3 times without finishing', 'with the reason');

-- Promotion: one production model per source, audited; rollback promotes an older version.
SET LOCAL ROLE ad_scientist;
SELECT is(ad.promote_model((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1)),
          'pca pump v1 is now the production model of pump', 'a data scientist promotes a registered model');
SELECT throws_ok(format('SELECT ad.promote_model(%L)', (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 2)),
                 '22023', 'ad.promote_model: pca pump v2 is failed: only a registered or deprecated model can be promoted',
                 'a failed model cannot be promoted');
SELECT throws_ok($$SELECT ad.promote_model('00000000-0000-4000-8000-000000000001')$$, '22023', NULL,
                 'the streaming scorer is not promoted');
RESET ROLE;
INSERT INTO ad.ml_models (name, version, algorithm, source_id, status, artifact, parameters)
VALUES ('pca pump', 3, 'pca', '00000000-0000-0000-0000-0000000000a1', 'registered', '\x02',
        '{"train_from": "2026-01-01T00:00:00+00:00", "train_to": "2026-01-02T00:00:00+00:00"}');
SET LOCAL ROLE ad_scientist;
SELECT is(ad.promote_model((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 3)),
          'pca pump v3 is now the production model of pump (it replaced pca pump v1, now deprecated)',
          'promoting v3 deprecates v1');
SELECT is(ad.promote_model((SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1)),
          'pca pump v1 is now the production model of pump (it replaced pca pump v3, now deprecated)',
          'rollback: promoting v1 again');
SELECT is((SELECT count(*) FROM ad.ml_models WHERE source_id = '00000000-0000-0000-0000-0000000000a1' AND status = 'production'),
          1::bigint, 'one production model per source');
RESET ROLE;
SELECT is((SELECT string_agg(action || ':' || (new_value ->> 'status'), ', ' ORDER BY id) FROM ad.audit_log
            WHERE entity = 'model' AND action IN ('promote', 'deprecate')),
          'promote:production, promote:production, deprecate:deprecated, promote:production, deprecate:deprecated',
          'each promotion and deprecation is audited');

-- Drift: a report past the threshold asks for retraining once; auto-promotion only when the owner allows it.
SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.models_due_for_drift()), 1::bigint, 'the production model is due a check');
SELECT is((SELECT drifted::text || ' ' || (retrain_model_id IS NOT NULL)::text FROM ad_internal.record_drift(
              (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), '2026-01-02', '2026-01-03', 50,
              '[]', 0.1, 0.05, 0.01, 0.02)), 'false false', 'a small PSI is no drift');
SELECT is((SELECT count(*) FROM ad_internal.models_due_for_drift()), 0::bigint, 'and the model is not due again yet');
SELECT is((SELECT drifted::text || ' ' || (retrain_model_id IS NOT NULL)::text FROM ad_internal.record_drift(
              (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), '2026-01-02', '2026-01-03', 50,
              '[]', 0.9, 0.5, 0.2, 0.02)), 'true true', 'past the threshold it asks for retraining');
SELECT is((SELECT retrain_model_id IS NULL FROM ad_internal.record_drift(
              (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), '2026-01-02', '2026-01-03', 50,
              '[]', 0.9, 0.5, 0.2, 0.02)), true, 'once: not again while that retraining is under way');
RESET ROLE;
SELECT is((SELECT version || ' ' || (parameters ->> 'train_to') FROM ad.ml_models WHERE retrain_of IS NOT NULL),
          '4 2026-01-03T00:00:00+00:00', 'the retraining is the next version, its window ending at the check');
SELECT ad.set_model_setting('auto_promote_retrained', 'true');
SET LOCAL ROLE ad_worker;
SELECT is((SELECT version FROM ad_internal.claim_training('w1', '1 hour')), 4, 'the worker claims the retraining');
SELECT is(ad_internal.finish_training((SELECT id FROM ad.ml_models WHERE version = 4), 'w1', '\x04',
                                      '{"evaluation": {"f1": 0.7}, "production_on_split": {"f1": 0.75}}', '{}'),
          'registered', 'a worse retraining is only registered');
RESET ROLE;
SELECT is((SELECT status FROM ad.ml_models WHERE version = 1 AND name = 'pca pump'), 'production', 'v1 stays in production');
SET LOCAL ROLE ad_worker;
SELECT ok((SELECT retrain_model_id IS NULL FROM ad_internal.record_drift(
              (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), '2026-01-03', '2026-01-04', 50,
              '[]', 0.9, 0.5, 0.2, 0.02)), 'no new retraining while one waits, registered, for a person');
RESET ROLE;
SET LOCAL ROLE ad_scientist;
SELECT lives_ok(format('SELECT ad.deprecate_model(%L)', (SELECT id FROM ad.ml_models WHERE version = 4)),
                'the data scientist turns the worse retraining down');
RESET ROLE;
UPDATE ad.ml_models SET parameters = parameters || '{"test_from": "2026-01-01T12:00:00+00:00"}'
 WHERE name = 'pca pump' AND version = 1;
SET LOCAL ROLE ad_worker;
SELECT ok((SELECT retrain_model_id IS NOT NULL FROM ad_internal.record_drift(
              (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 1), '2026-01-03', '2026-01-04', 50,
              '[]', 0.9, 0.5, 0.2, 0.02)), 'then drift asks for another retraining');
SELECT ok((SELECT NOT parameters ? 'test_from' FROM ad.ml_models WHERE version = 5),
          'a test_from of the drifted model''s window is not carried into the new window');
SELECT is((SELECT version FROM ad_internal.claim_training('w1', '1 hour')), 5, 'the worker claims it');
SELECT is(ad_internal.finish_training((SELECT id FROM ad.ml_models WHERE version = 5), 'w1', '\x05',
                                      '{"evaluation": {"f1": 0.8}, "production_on_split": {"f1": 0.75}}', '{}'),
          'promoted', 'a retraining at least as good promotes itself when the owner allows it');
RESET ROLE;
SELECT is((SELECT string_agg(version || ' ' || status, ', ' ORDER BY version) FROM ad.ml_models WHERE name = 'pca pump'),
          '1 deprecated, 2 failed, 3 deprecated, 4 deprecated, 5 production', 'and the drifted model is deprecated');
-- A retraining whose F1 is 0 is never promoted by itself, even against a production F1 that is undefined.
SET LOCAL ROLE ad_worker;
SELECT ok((SELECT retrain_model_id IS NOT NULL FROM ad_internal.record_drift(
              (SELECT id FROM ad.ml_models WHERE name = 'pca pump' AND version = 5), '2026-01-04', '2026-01-05', 50,
              '[]', 0.9, 0.5, 0.2, 0.02)), 'v5 drifts too');
SELECT is((SELECT version FROM ad_internal.claim_training('w1', '1 hour')), 6, 'the worker claims v6');
SELECT is(ad_internal.finish_training((SELECT id FROM ad.ml_models WHERE version = 6), 'w1', '\x06',
                                      '{"evaluation": {"f1": 0}, "production_on_split": {"f1": null}}', '{}'),
          'registered', 'an F1 of 0 stays registered');
RESET ROLE;
-- One worker at a time checks a model for drift, and a model just checked is not due.
SET LOCAL ROLE ad_worker;
SELECT ok(NOT ad_internal.begin_drift_check((SELECT id FROM ad.ml_models WHERE version = 5)),
          'a model checked a moment ago is not due');
RESET ROLE;
-- Cancelling a job: the data scientist may, the worker then loses it.
SET LOCAL ROLE ad_scientist;
SELECT lives_ok($$SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-02')$$, 'one more request');
RESET ROLE;
SET LOCAL ROLE ad_worker;
SELECT is((SELECT version FROM ad_internal.claim_training('w9', '1 hour')), 7, 'w9 claims it');
RESET ROLE;
SET LOCAL ROLE ad_scientist;
SELECT matches(ad.cancel_training((SELECT id FROM ad.ml_models WHERE version = 7)), '^pca pump v7 is cancelled',
               'the data scientist cancels it');
SELECT throws_ok(format('SELECT ad.cancel_training(%L)', (SELECT id FROM ad.ml_models WHERE version = 7)), '22023',
                 NULL, 'a job that is not running cannot be cancelled');
RESET ROLE;
SET LOCAL ROLE ad_worker;
SELECT ok(NOT ad_internal.training_progress((SELECT id FROM ad.ml_models WHERE version = 7), 'w9', 'training', 'x',
                                            '1 hour'), 'the worker holding it is told it is no longer its');
RESET ROLE;
SELECT is((SELECT error FROM ad.ml_models WHERE version = 7), 'cancelled by ' || session_user, 'the reason names who');
SET LOCAL ROLE ad_operator;
SELECT throws_ok(format('SELECT ad.cancel_training(%L)', (SELECT id FROM ad.ml_models WHERE version = 6)), '42501',
                 NULL, 'an operator cannot cancel training');
RESET ROLE;
SELECT is((SELECT count(*) FROM ad.audit_log WHERE action = 'auto_promote'), 1::bigint, 'audited as auto_promote');
SELECT ad.set_model_setting('auto_promote_retrained', 'false');
SELECT throws_ok($$SELECT ad.set_model_setting('auto_promote_retrained', '"yes"')$$, '22023', NULL,
                 'settings are checked');
SELECT throws_ok($$SELECT ad.set_model_setting('drift_check_every', '"soon"')$$, '22023', NULL,
                 'an interval setting must be an interval');

SELECT * FROM finish();
ROLLBACK;
