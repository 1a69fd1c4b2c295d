-- Each group role can do its job and nothing more. Needs SELECT ad.create_roles() to have run (scripts/test does).
BEGIN;
SELECT * FROM no_plan();
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;

INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'tap-src');
INSERT INTO ad.data_points (id, source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', '2026-01-01', '{"x": 1}');
INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1', '2026-01-01',
        '00000000-0000-0000-0000-0000000000a1', 'x', 'test', 'high', 0.9);
INSERT INTO ad.alert_rules (id, name) VALUES ('00000000-0000-0000-0000-0000000000d1', 'tap-rule');
INSERT INTO ad.alerts (id, rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000d1',
        '00000000-0000-0000-0000-0000000000c1', '2026-01-01', '00000000-0000-0000-0000-0000000000a1', 'x', 'high',
        't', 'm');
INSERT INTO ad.channels (id, name, type, target) VALUES ('00000000-0000-0000-0000-0000000000f1', 'tap-hook', 'webhook', 'http://127.0.0.1:1/');
SELECT ad.set_channel_secret('tap-hook', 's3cret');
INSERT INTO ad.alert_deliveries (alert_id, channel_id) VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000f1');
INSERT INTO ad.feedback (id, anomaly_id, anomaly_timestamp, feedback_type)
VALUES ('00000000-0000-0000-0000-000000000011', '00000000-0000-0000-0000-0000000000c1', '2026-01-01', 'false_positive');

-- Status changes by people are attributed: this session's login is a person.
INSERT INTO ad.users (id, name, db_role) VALUES ('00000000-0000-0000-0000-000000000021', 'Tap Operator', session_user);
INSERT INTO ad.scoring_adjustments (source_id, metric, kind, measure, direction, deviation, score, effective_after, reason)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'x', 'tolerate', 'value', 'above', 4.4, 0.6, 4.4, 'tap');

SELECT is((SELECT count(*) FROM pg_roles WHERE rolname IN ('ad_ingest', 'ad_reader', 'ad_operator', 'ad_scientist', 'ad_worker')),
          5::bigint, 'the five group roles exist');
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname IN ('ad_ingest', 'ad_reader', 'ad_operator', 'ad_scientist', 'ad_worker')
            AND NOT rolcanlogin), 5::bigint, 'group roles cannot log in themselves');

-- ad_ingest: insert points and read source ids; nothing else.
SET LOCAL ROLE ad_ingest;
SELECT lives_ok($$SELECT id, name FROM ad.data_sources$$, 'ingest reads source ids and names');
SELECT lives_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-02', '{"x": 2}')$$,
                'ingest inserts points');
SELECT lives_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-02', '{"x": 2}') ON CONFLICT DO NOTHING$$,
                'ingest re-sends idempotently');
SELECT is(ad.upsert_point('00000000-0000-0000-0000-0000000000a1', '2026-01-02', '{"x": 3}'), 'updated',
          'ingest corrects values with ad.upsert_point()');
SELECT throws_ok($$SELECT ad.upsert_point('00000000-0000-0000-0000-0000000000ff', '2026-01-02', '{"x": 3}')$$, '23503',
                 NULL, 'ad.upsert_point() refuses an unknown source too');
SELECT throws_ok($$SELECT values FROM ad.data_points$$, '42501', NULL, 'ingest cannot read values back');
SELECT throws_ok($$UPDATE ad.data_points SET values = '{"x": 0}'$$, '42501', NULL, 'ingest cannot update points directly');
SELECT throws_ok($$SELECT anomaly_score FROM ad.data_points$$, '42501', NULL, 'ingest cannot read scores');
SELECT throws_ok($$UPDATE ad.data_points SET anomaly_score = 0$$, '42501', NULL, 'ingest cannot set scores');
SELECT throws_ok($$DELETE FROM ad.data_points$$, '42501', NULL, 'ingest cannot delete points');
SELECT throws_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values, anomaly_score) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-03', '{"x": 2}', 0)$$,
                 '42501', 'ad.data_points: points arrive unscored; features and anomaly_score are the worker''s (source 00000000-0000-0000-0000-0000000000a1, time 2026-01-03 00:00:00+00)',
                 'ingest cannot insert pre-scored points');
SELECT throws_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-04', jsonb_build_object(repeat('m', 201), 1))$$,
                 '54000', NULL, 'ingest gets the limit''s own message (not a permission error) for a name over the limit');
SELECT throws_ok($$SELECT ad.upsert_point('00000000-0000-0000-0000-0000000000a1', '2026-01-02', '{"x\n": 3}')$$,
                 '22023', NULL, 'ad.upsert_point() applies the limits at the door too');
SELECT is((SELECT value FROM ad.point_limits() WHERE name = 'max_metrics_per_row'), '1000', 'ingest reads the limits');
SELECT throws_ok($$SELECT ad.set_point_limit('max_metrics_per_row', '5')$$, '42501', NULL, 'ingest cannot change a limit');
SELECT throws_ok($$SELECT config FROM ad.data_sources$$, '42501', NULL, 'ingest cannot read source config');
SELECT throws_ok($$INSERT INTO ad.data_sources (name) VALUES ('x')$$, '42501', NULL, 'ingest cannot register sources');
SELECT throws_ok($$SELECT * FROM ad.anomalies$$, '42501', NULL, 'ingest cannot read anomalies');
SELECT throws_ok($$SELECT * FROM ad.alerts$$, '42501', NULL, 'ingest cannot read alerts');
SELECT throws_ok($$SELECT * FROM ad.anomaly_details$$, '42501', NULL, 'ingest cannot read the BI views');
SELECT throws_ok($$CREATE TABLE ad.mine (x int)$$, '42501', NULL, 'ingest cannot create objects in ad');
RESET ROLE;

-- ad_reader: the views, nothing else.
SET LOCAL ROLE ad_reader;
SELECT lives_ok($$SELECT * FROM ad.source_overview$$, 'reader reads ad.source_overview');
SELECT lives_ok($$SELECT * FROM ad.point_values$$, 'reader reads ad.point_values');
SELECT lives_ok($$SELECT * FROM ad.anomaly_details$$, 'reader reads ad.anomaly_details');
SELECT lives_ok($$SELECT * FROM ad.alert_overview$$, 'reader reads ad.alert_overview');
SELECT lives_ok($$SELECT * FROM ad.anomaly_summary_hourly$$, 'reader reads ad.anomaly_summary_hourly');
SELECT lives_ok($$SELECT * FROM ad.feedback_precision$$, 'reader reads ad.feedback_precision');
SELECT lives_ok($$SELECT * FROM ad.learned_patterns$$, 'reader reads ad.learned_patterns');
SELECT lives_ok($$SELECT * FROM ad.status_transitions$$, 'reader reads ad.status_transitions');
SELECT lives_ok($$SELECT * FROM ad.anomaly_hourly$$, 'reader reads ad.anomaly_hourly');
SELECT lives_ok($$SELECT * FROM ad.open_alerts$$, 'reader reads ad.open_alerts');
SELECT lives_ok($$SELECT * FROM ad.source_health$$, 'reader reads ad.source_health');
SELECT lives_ok($$SELECT * FROM ad.delivery_history$$, 'reader reads ad.delivery_history');
SELECT lives_ok($$SELECT * FROM ad.channel_health$$, 'reader reads ad.channel_health');
SELECT throws_ok($$SELECT * FROM ad.scoring_adjustments$$, '42501', NULL, 'reader cannot read adjustments directly');
SELECT throws_ok($$SELECT ad.acknowledge_alert('00000000-0000-0000-0000-0000000000e1')$$, '42501', NULL,
                 'reader cannot acknowledge through the function');
SELECT is((SELECT count(*) FROM ad.anomaly_details), 1::bigint, 'reader sees the anomaly through the view');
SELECT throws_ok($$SELECT * FROM ad.data_points$$, '42501', NULL, 'reader cannot read base tables');
SELECT throws_ok($$SELECT * FROM ad.alerts$$, '42501', NULL, 'reader cannot read alerts directly');
SELECT throws_ok($$SELECT * FROM ad.channels$$, '42501', NULL, 'reader cannot read channels');
SELECT throws_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-04', '{"x": 2}')$$,
                 '42501', NULL, 'reader cannot insert points');
SELECT throws_ok($$UPDATE ad.alerts SET status = 'acknowledged'$$, '42501', NULL, 'reader cannot acknowledge');
RESET ROLE;

-- ad_operator: read everything in ad, acknowledge and resolve, manage rules, channels and sources.
SET LOCAL ROLE ad_operator;
SELECT lives_ok($$SELECT * FROM ad.alerts$$, 'operator reads alerts');
SELECT lives_ok($$SELECT * FROM ad.audit_log$$, 'operator reads the audit log');
SELECT lives_ok($$SELECT * FROM ad.alert_overview$$, 'operator reads the views');
SELECT lives_ok($$UPDATE ad.alerts SET status = 'acknowledged', notes = 'looking' WHERE id = '00000000-0000-0000-0000-0000000000e1'$$,
                'operator acknowledges an alert');
SELECT lives_ok($$UPDATE ad.anomalies SET status = 'false_positive', notes = 'deploy' WHERE id = '00000000-0000-0000-0000-0000000000c1'$$,
                'operator marks an anomaly');
SELECT lives_ok($$SELECT ad.confirm_anomaly('00000000-0000-0000-0000-0000000000c1', 'it was real after all')$$,
                'operator confirms an anomaly through the function');
SELECT lives_ok($$SELECT ad.resolve_alert('00000000-0000-0000-0000-0000000000e1', 'fixed')$$,
                'operator resolves an alert through the function');
SELECT lives_ok($$SELECT * FROM ad.scoring_adjustments$$, 'operator reads adjustments');
SELECT lives_ok($$SELECT * FROM ad.feedback_precision$$, 'operator reads precision');
SELECT is(ad.undo_adjustment((SELECT min(id) FROM ad.scoring_adjustments), 'tap'), 'undone', 'operator undoes an adjustment');
SELECT throws_ok($$UPDATE ad.scoring_adjustments SET undone_at = now()$$, '42501', NULL,
                 'operator changes adjustments only through ad.undo_adjustment()');
SELECT throws_ok($$INSERT INTO ad.scoring_adjustments (source_id, metric, kind, measure, direction, deviation, score, reason) VALUES ('00000000-0000-0000-0000-0000000000a1', 'x', 'tolerate', 'value', 'above', 99, 0.9, 'x')$$,
                 '42501', NULL, 'operator cannot invent adjustments');
SELECT throws_ok($$INSERT INTO ad.feedback (anomaly_id, anomaly_timestamp, feedback_type) VALUES ('00000000-0000-0000-0000-0000000000c1', '2026-01-01', 'false_positive')$$,
                 '42501', NULL, 'operator gives feedback only by changing a status');
SELECT throws_ok($$UPDATE ad.feedback SET processed_at = now()$$, '42501', NULL, 'operator cannot mark feedback processed');
SELECT throws_ok($$UPDATE ad.anomalies SET status_changed_by = NULL$$, '42501', NULL, 'operator cannot forge who judged an anomaly');
SELECT throws_ok($$UPDATE ad.alerts SET resolved_at = now()$$, '42501', NULL, 'operator cannot backdate a resolution');
SELECT lives_ok($$INSERT INTO ad.alert_rules (name, conditions) VALUES ('op-rule', '{}')$$, 'operator creates rules');
SELECT lives_ok($$INSERT INTO ad.channels (name, type, target) VALUES ('op-hook', 'webhook', 'http://127.0.0.1:2/')$$,
                'operator registers channels');
SELECT lives_ok($$SELECT ad.set_channel_secret('op-hook', 'k')$$, 'operator sets a channel secret');
SELECT lives_ok($$INSERT INTO ad.data_sources (name) VALUES ('op-src')$$, 'operator registers sources');
SELECT lives_ok($$UPDATE ad.data_sources SET config = '{"window": 30}' WHERE name = 'op-src'$$, 'operator tunes sources');
SELECT throws_ok($$UPDATE ad.alerts SET severity = 'low'$$, '42501', NULL, 'operator cannot rewrite an alert''s severity');
SELECT throws_ok($$UPDATE ad.alerts SET acknowledged_by = NULL$$, '42501', NULL, 'operator cannot forge who acknowledged');
SELECT throws_ok($$UPDATE ad.anomalies SET score = 0$$, '42501', NULL, 'operator cannot change scores');
SELECT throws_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-05', '{"x": 2}')$$,
                 '42501', NULL, 'operator cannot insert points');
SELECT throws_ok($$DELETE FROM ad.data_points$$, '42501', NULL, 'operator cannot delete points');
SELECT throws_ok($$DELETE FROM ad.data_sources$$, '42501', NULL, 'operator cannot delete sources');
SELECT throws_ok($$SELECT * FROM ad_internal.channel_secrets$$, '42501', NULL, 'operator cannot read channel secrets');
SELECT lives_ok($$SELECT ad.set_channel_header_secret('op-hook', 'Authorization', 'Bearer k')$$,
                'operator sets a secret header');
SELECT throws_ok($$SELECT * FROM ad_internal.outbound_allowlist$$, '42501', NULL, 'operator cannot read the outbound allowlist');
SELECT throws_ok($$SELECT * FROM ad_internal.channel_secret_headers$$, '42501', NULL, 'operator cannot read secret headers');
SELECT throws_ok($$INSERT INTO ad_internal.outbound_allowlist (network) VALUES ('0.0.0.0/0')$$, '42501', NULL,
                 'operator cannot allow inward destinations');
SELECT lives_ok($$UPDATE ad.channels SET target = 'http://127.0.0.1:3/' WHERE name = 'op-hook'$$,
                'operator moves a channel (its secrets go: checked as the worker)');
SELECT throws_ok($$INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score) VALUES (gen_random_uuid(), now(), '00000000-0000-0000-0000-0000000000a1', 'x', 't', 'low', 0.5)$$,
                 '42501', NULL, 'operator cannot invent anomalies');
SELECT throws_ok($$INSERT INTO ad.audit_log (action, entity, entity_id) VALUES ('x', 'y', 'z')$$, '42501', NULL,
                 'operator cannot write the audit log');
SELECT throws_ok($$SELECT ad.create_roles()$$, '42501', NULL, 'operator cannot create roles');
SELECT throws_ok($$DELETE FROM ad.alerts$$, '42501', NULL, 'operator cannot delete alerts');
SELECT throws_ok($$SELECT ad.delete_alert_rule('tap-rule')$$, '23503', NULL,
                 'operator cannot delete alerts by deleting their rule (disable it instead)');
SELECT throws_ok($$SELECT ad.delete_channel('tap-hook')$$, '23503', NULL,
                 'operator cannot delete delivery history by deleting its channel (deactivate it instead)');
-- Issue 18: operators edit and delete rules and channels, but cannot lock a table the scoring transaction reads.
SELECT lives_ok($$UPDATE ad.alert_rules SET conditions = '{"min_severity": "high"}', group_window = '2 hours' WHERE name = 'op-rule'$$,
                'operator edits rules');
SELECT lives_ok($$UPDATE ad.channels SET active = false, config = '{"timeout_seconds": 5}' WHERE name = 'op-hook'$$,
                'operator edits channels');
SELECT lives_ok($$SELECT ad.add_rule_channel('op-rule', 'op-hook')$$, 'operator links a channel to a rule');
SELECT is(ad.remove_rule_channel('op-rule', 'op-hook'), true, 'operator unlinks it through ad.remove_rule_channel()');
SELECT lives_ok($$SELECT ad.delete_alert_rule('op-rule')$$, 'operator deletes an unused rule through the function');
SELECT lives_ok($$SELECT ad.delete_channel('op-hook')$$, 'operator deletes an unused channel through the function');
SELECT throws_ok($$SELECT ad.delete_alert_rule('no-such-rule')$$, 'P0002', NULL, 'deleting an unknown rule says so');
SELECT throws_ok($$DELETE FROM ad.alert_rules WHERE name = 'tap-rule'$$, '42501', NULL,
                 'operator has no DELETE on rules (it would allow LOCK TABLE)');
SELECT throws_ok($$UPDATE ad.alert_rules SET id = gen_random_uuid()$$, '42501', NULL, 'operator cannot change a rule''s id');
SELECT throws_ok($$LOCK TABLE ad.alert_rules IN ACCESS EXCLUSIVE MODE$$, '42501', NULL,
                 'operator cannot LOCK TABLE ad.alert_rules (it stopped every batch)');
SELECT throws_ok($$LOCK TABLE ad.alert_rules IN SHARE MODE$$, '42501', NULL, 'nor in SHARE mode');
SELECT throws_ok($$LOCK TABLE ad.alert_rule_channels IN EXCLUSIVE MODE$$, '42501', NULL,
                 'operator cannot lock ad.alert_rule_channels');
SELECT throws_ok($$LOCK TABLE ad.channels IN ACCESS EXCLUSIVE MODE$$, '42501', NULL, 'operator cannot lock ad.channels');
SELECT throws_ok($$LOCK TABLE ad.data_sources IN ACCESS EXCLUSIVE MODE$$, '42501', NULL,
                 'operator cannot lock ad.data_sources');
SELECT throws_ok($$LOCK TABLE ad.alerts IN EXCLUSIVE MODE$$, '42501', NULL, 'operator cannot lock ad.alerts');
SELECT throws_ok($$LOCK TABLE ad.anomalies IN EXCLUSIVE MODE$$, '42501', NULL, 'operator cannot lock ad.anomalies');
SELECT throws_ok($$LOCK TABLE ad.data_points IN EXCLUSIVE MODE$$, '42501', NULL, 'operator cannot lock ad.data_points');
SELECT lives_ok($$LOCK TABLE ad.alert_rules IN ROW EXCLUSIVE MODE$$,
                'ROW EXCLUSIVE (what INSERT takes) is the most an operator gets: it blocks nothing scoring takes');
SELECT throws_ok($$SELECT ad.set_retention('1 day')$$, '42501', NULL, 'operator cannot change retention');
RESET ROLE;

-- ad_scientist: read data, anomalies, models, feedback; change nothing.
SET LOCAL ROLE ad_scientist;
SELECT lives_ok($$SELECT values, features, anomaly_score FROM ad.data_points$$, 'scientist reads points and features');
SELECT lives_ok($$SELECT * FROM ad.feedback$$, 'scientist reads feedback');
SELECT lives_ok($$SELECT * FROM ad.ml_models$$, 'scientist reads models');
SELECT lives_ok($$SELECT * FROM ad.anomaly_summary_hourly$$, 'scientist reads the views');
SELECT throws_ok($$UPDATE ad.ml_models SET status = 'production'$$, '42501', NULL, 'scientist cannot promote by hand');
SELECT throws_ok($$UPDATE ad.anomalies SET status = 'resolved'$$, '42501', NULL, 'scientist cannot resolve anomalies');
SELECT throws_ok($$SELECT * FROM ad.alerts$$, '42501', NULL, 'scientist cannot read alerts');
SELECT throws_ok($$SELECT * FROM ad_internal.channel_secrets$$, '42501', NULL, 'scientist cannot read channel secrets');
RESET ROLE;

-- ad_worker: score, write anomalies, alerts and deliveries, consume feedback, read secrets.
SET LOCAL ROLE ad_worker;
SELECT lives_ok($$UPDATE ad.data_points SET anomaly_score = 0.1, features = '{}' WHERE id = '00000000-0000-0000-0000-0000000000b1'$$,
                'worker scores points');
SELECT lives_ok($$INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score) VALUES ('00000000-0000-0000-0000-0000000000b1', '2026-01-01', '00000000-0000-0000-0000-0000000000a1', 'x', 'robust', 'low', 0.5)$$,
                'worker writes anomalies');
-- Issue 18: alerts move only through the worker's functions; the columns people own are out of its reach.
SELECT throws_ok($$UPDATE ad.alerts SET title = 'all is well'$$, '42501', NULL, 'worker cannot rewrite alert titles');
SELECT throws_ok($$UPDATE ad.alerts SET notes = 'x', acknowledged_by = NULL$$, '42501', NULL,
                 'worker cannot write alert notes or who acknowledged');
SELECT throws_ok($$UPDATE ad.alerts SET status = 'sent'$$, '42501', NULL, 'worker cannot change an alert''s status directly');
SELECT throws_ok($$INSERT INTO ad.alerts (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message) VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000c1', '2026-01-01', '00000000-0000-0000-0000-0000000000a1', 'x', 'low', 't', 'm')$$,
                 '42501', NULL, 'worker opens alerts only through ad_internal.raise_alerts()');
SELECT is((SELECT count(*) FROM ad_internal.raise_alerts(ARRAY['00000000-0000-0000-0000-0000000000d1']::uuid[], ARRAY['00000000-0000-0000-0000-0000000000c1']::uuid[], ARRAY['2026-01-01']::timestamptz[], ARRAY['00000000-0000-0000-0000-0000000000a1']::uuid[], ARRAY['x'], ARRAY['high'], ARRAY['t2'], ARRAY['m2'])),
          1::bigint, 'worker raises alerts through ad_internal.raise_alerts()');
SELECT lives_ok($$SELECT ad_internal.escalate_due()$$, 'worker escalates through ad_internal.escalate_due()');
SELECT lives_ok($$SELECT ad_internal.renotify_due()$$, 'worker re-notifies through ad_internal.renotify_due()');
SELECT lives_ok($$SELECT * FROM ad_internal.claim_deliveries(10, '1 minute')$$, 'worker claims deliveries');
SELECT is(ad_internal.record_delivery((SELECT d.id FROM ad.alert_deliveries d ORDER BY d.created_at LIMIT 1), 1, now(), now(), 'sent', 200, NULL, NULL, NULL) IS NOT NULL,
          true, 'worker records a delivery (and marks its alert sent) through ad_internal.record_delivery()');
SELECT throws_ok($$UPDATE ad.anomalies SET status = 'resolved'$$, '42501', NULL, 'worker cannot judge anomalies');
SELECT throws_ok($$UPDATE ad.anomalies SET notes = 'x'$$, '42501', NULL, 'worker cannot write anomaly notes');
SELECT lives_ok($$INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score) VALUES ('00000000-0000-0000-0000-0000000000b1', '2026-01-01', '00000000-0000-0000-0000-0000000000a1', 'x', 'robust', 'medium', 0.6) ON CONFLICT (source_id, point_timestamp, detector) DO UPDATE SET data_point_id = EXCLUDED.data_point_id, severity = EXCLUDED.severity, score = EXCLUDED.score$$,
                'worker re-scores a corrected point (its own columns)');
SELECT lives_ok($$INSERT INTO ad.scoring_adjustments (source_id, metric, kind, measure, direction, deviation, score, reason) VALUES ('00000000-0000-0000-0000-0000000000a1', 'x', 'keep', 'value', 'above', 3.6, 0.55, 'tap')$$,
                'worker records what feedback taught it');
SELECT throws_ok($$UPDATE ad.scoring_adjustments SET undone_at = now()$$, '42501', NULL, 'worker cannot undo adjustments');
SELECT lives_ok($$INSERT INTO ad.alert_deliveries (alert_id, channel_id) VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000f1')$$,
                'worker queues deliveries');
SELECT is((SELECT secret FROM ad_internal.channel_secrets WHERE channel_id = '00000000-0000-0000-0000-0000000000f1'), 's3cret',
          'worker reads channel secrets');
SELECT lives_ok($$UPDATE ad.feedback SET processed_at = now(), result = '{}'$$, 'worker marks feedback processed');
SELECT throws_ok($$INSERT INTO ad.audit_log (user_id, action, entity, entity_id) VALUES ('00000000-0000-0000-0000-000000000021', 'status_change', 'alert', 'x')$$,
                 '42501', NULL, 'worker cannot write audit rows (in an operator''s name or any)');
SELECT lives_ok($$SELECT ad.apply_retention()$$, 'worker applies retention');
-- The worker's UPDATE on data_points is table-level (TimescaleDB refuses column grants on a compressed
-- hypertable; README, design notes): a changed observation is re-queued, never silently kept with an old score.
UPDATE ad.data_points SET values = '{"x": 9}' WHERE id = '00000000-0000-0000-0000-0000000000b1';
SELECT is((SELECT anomaly_score FROM ad.data_points WHERE id = '00000000-0000-0000-0000-0000000000b1'), NULL,
          'a worker that changed an observation would only re-queue it');
SELECT throws_ok($$DELETE FROM ad.data_points$$, '42501', NULL, 'worker cannot delete points');
SELECT throws_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-06', '{"x": 2}')$$,
                 '42501', NULL, 'worker cannot insert points');
SELECT throws_ok($$UPDATE ad.data_sources SET config = '{}'$$, '42501', NULL, 'worker cannot change sources');
SELECT throws_ok($$INSERT INTO ad.alert_rules (name) VALUES ('w')$$, '42501', NULL, 'worker cannot create rules');
SELECT throws_ok($$SELECT ad.set_channel_secret('tap-hook', 'x')$$, '42501', NULL, 'worker cannot set secrets');
SELECT throws_ok($$SELECT ad.set_channel_header_secret('tap-hook', 'X-Api-Key', 'x')$$, '42501', NULL,
                 'worker cannot set secret headers');
SELECT is((SELECT count(*)::int FROM ad_internal.channel_secrets s JOIN ad.channels c ON c.id = s.channel_id
            WHERE c.name = 'op-hook')
          + (SELECT count(*)::int FROM ad_internal.channel_secret_headers h JOIN ad.channels c ON c.id = h.channel_id
              WHERE c.name = 'op-hook'), 0, 'a channel an operator moved lost its secrets');
SELECT lives_ok($$SELECT * FROM ad_internal.outbound_allowlist$$, 'worker reads the outbound allowlist');
SELECT throws_ok($$INSERT INTO ad_internal.outbound_allowlist (network) VALUES ('0.0.0.0/0')$$, '42501', NULL,
                 'worker cannot allow inward destinations');
SELECT throws_ok($$DELETE FROM ad.audit_log$$, '42501', NULL, 'worker cannot delete the audit log');
RESET ROLE;

-- Last, so everything above ran on the grants made at install time.
SELECT lives_ok($$SELECT * FROM ad.create_roles()$$, 'ad.create_roles() runs again without harm');
SELECT * FROM finish();
ROLLBACK;
