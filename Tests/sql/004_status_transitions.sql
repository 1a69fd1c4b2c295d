-- Every status change of alerts and anomalies, allowed and forbidden, for an operator (a mapped person) and for the
-- worker (not mapped): exactly the ad.status_transitions rows pass, for exactly their actor. Needs ad.create_roles().
BEGIN;
SELECT * FROM no_plan();
SET LOCAL client_min_messages = warning;

INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'tap-src');
INSERT INTO ad.alert_rules (id, name) VALUES ('00000000-0000-0000-0000-0000000000d1', 'tap-rule');
INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score)
VALUES ('00000000-0000-0000-0000-0000000000c1', gen_random_uuid(), '2026-01-01', '00000000-0000-0000-0000-0000000000a1',
        'x', 'robust', 'high', 0.9);

-- One row per (actor, entity, from, to), created directly in the from status (INSERT is not a transition).
CREATE TEMP TABLE cases AS
SELECT a.actor, e.entity, f.s AS from_status, t.s AS to_status, gen_random_uuid() AS id
  FROM (VALUES ('person'), ('worker')) a(actor)
 CROSS JOIN (VALUES ('alert', ARRAY['pending', 'sent', 'acknowledged', 'escalated', 'resolved', 'failed']),
                    ('anomaly', ARRAY['detected', 'acknowledged', 'confirmed', 'resolved', 'false_positive'])) e(entity, states)
 CROSS JOIN LATERAL unnest(e.states) f(s)
 CROSS JOIN LATERAL unnest(e.states) t(s)
 WHERE f.s <> t.s;
GRANT SELECT ON cases TO PUBLIC;
-- A detector each: an anomaly is unique per point (source, time) and detector.
INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score, status)
SELECT c.id, gen_random_uuid(), '2026-01-01', '00000000-0000-0000-0000-0000000000a1', 'x', 'case ' || c.id, 'high', 0.9,
       c.from_status
  FROM cases c WHERE c.entity = 'anomaly';
-- A distinct metric each, so open alerts do not collide in the one-open-alert-per-group index.
INSERT INTO ad.alerts (id, rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message, status)
SELECT c.id, '00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000c1', '2026-01-01',
       '00000000-0000-0000-0000-0000000000a1', c.actor || ':' || c.from_status || '>' || c.to_status, 'high', 't', 'm', c.from_status
  FROM cases c WHERE c.entity = 'alert';

SELECT is((SELECT count(*) FROM ad.status_transitions), 31::bigint, 'the state machines have 31 transitions');

-- An operator, mapped to a person.
INSERT INTO ad.users (id, name, db_role) VALUES ('00000000-0000-0000-0000-000000000021', 'Tap Operator', session_user);
SET LOCAL ROLE ad_operator;
SELECT CASE WHEN EXISTS (SELECT FROM ad.status_transitions t WHERE t.entity = c.entity AND t.from_status = c.from_status
                                                             AND t.to_status = c.to_status AND t.actor = 'person')
            THEN lives_ok(format('UPDATE ad.%s SET status = %L WHERE id = %L', CASE c.entity WHEN 'alert' THEN 'alerts' ELSE 'anomalies' END,
                                 c.to_status, c.id),
                          format('operator: %s %s -> %s is allowed', c.entity, c.from_status, c.to_status))
            ELSE throws_ok(format('UPDATE ad.%s SET status = %L WHERE id = %L', CASE c.entity WHEN 'alert' THEN 'alerts' ELSE 'anomalies' END,
                                  c.to_status, c.id), '23514', NULL,
                           format('operator: %s %s -> %s is refused', c.entity, c.from_status, c.to_status))
       END
  FROM cases c WHERE c.actor = 'person' ORDER BY c.entity, c.from_status, c.to_status;
RESET ROLE;

SELECT is((SELECT count(*) FROM ad.alerts al JOIN cases c ON c.id = al.id
            WHERE c.actor = 'person' AND al.status = c.to_status
              AND al.acknowledged_by IS DISTINCT FROM CASE WHEN c.to_status = 'acknowledged' THEN '00000000-0000-0000-0000-000000000021'::uuid END),
          0::bigint, 'every acknowledgement names the person, and nothing else does');
SELECT is((SELECT count(*) FROM ad.anomalies a JOIN cases c ON c.id = a.id
            WHERE c.actor = 'person' AND a.status = c.to_status
              AND (a.status_changed_by IS DISTINCT FROM '00000000-0000-0000-0000-000000000021' OR a.status_changed_at IS NULL)),
          0::bigint, 'every anomaly judgement names the person and the time');
SELECT is((SELECT count(*) FROM ad.feedback f JOIN cases c ON c.id = f.anomaly_id WHERE c.actor = 'person'),
          (SELECT count(*) FROM cases c JOIN ad.status_transitions t USING (entity, from_status, to_status)
            WHERE c.actor = 'person' AND t.actor = 'person' AND c.entity = 'anomaly'),
          'every allowed anomaly change by a person queued one feedback row');

-- The worker: not mapped, so only worker transitions pass; a person's transition asks for a mapping.
UPDATE ad.users SET db_role = NULL WHERE id = '00000000-0000-0000-0000-000000000021';
-- ad_worker itself has no UPDATE on ad.alerts or ad.anomalies' status (issue 18, 001_roles_privilege_matrix.sql):
-- it changes statuses only inside its SECURITY DEFINER functions, where, as here, the state machine sees an
-- unmapped session_user. So this session, unmapped now, plays the worker.
SELECT CASE WHEN EXISTS (SELECT FROM ad.status_transitions t WHERE t.entity = c.entity AND t.from_status = c.from_status
                                                             AND t.to_status = c.to_status AND t.actor = 'worker')
            THEN lives_ok(format('UPDATE ad.%s SET status = %L WHERE id = %L', CASE c.entity WHEN 'alert' THEN 'alerts' ELSE 'anomalies' END,
                                 c.to_status, c.id),
                          format('worker: %s %s -> %s is allowed', c.entity, c.from_status, c.to_status))
            WHEN EXISTS (SELECT FROM ad.status_transitions t WHERE t.entity = c.entity AND t.from_status = c.from_status
                                                             AND t.to_status = c.to_status)
            THEN throws_ok(format('UPDATE ad.%s SET status = %L WHERE id = %L', CASE c.entity WHEN 'alert' THEN 'alerts' ELSE 'anomalies' END,
                                  c.to_status, c.id), '28000', NULL,
                           format('worker: %s %s -> %s needs a person', c.entity, c.from_status, c.to_status))
            ELSE throws_ok(format('UPDATE ad.%s SET status = %L WHERE id = %L', CASE c.entity WHEN 'alert' THEN 'alerts' ELSE 'anomalies' END,
                                  c.to_status, c.id), '23514', NULL,
                           format('worker: %s %s -> %s is refused', c.entity, c.from_status, c.to_status))
       END
  FROM cases c WHERE c.actor = 'worker' ORDER BY c.entity, c.from_status, c.to_status;
RESET ROLE;
SELECT is((SELECT count(*) FROM ad.alerts al JOIN cases c ON c.id = al.id
            WHERE c.actor = 'worker' AND al.status = 'resolved' AND al.resolved_by IS NULL AND al.resolved_at IS NOT NULL),
          4::bigint, 'the worker''s resolutions are attributed to nobody, and stamped');
SELECT is((SELECT count(*) FROM ad.feedback f JOIN cases c ON c.id = f.alert_id WHERE c.actor = 'worker'), 0::bigint,
          'the worker''s changes are not feedback');

-- The messages name what is allowed, and how to map a login.
SET LOCAL ROLE ad_operator;
SELECT throws_ok($$UPDATE ad.alerts SET status = 'pending' WHERE metric = 'person:sent>acknowledged'$$, '23514',
                 'ad.alerts: alert ' || (SELECT id FROM cases WHERE actor = 'person' AND entity = 'alert' AND from_status = 'sent' AND to_status = 'acknowledged')
                 || ' cannot go from acknowledged to pending; from acknowledged it may go to: resolved',
                 'an invalid transition names the allowed ones');
SELECT throws_ok($$UPDATE ad.anomalies SET status = 'detected' WHERE id = (SELECT id FROM cases WHERE actor = 'person' AND entity = 'anomaly' AND from_status = 'detected' AND to_status = 'false_positive')$$,
                 '23514', NULL, 'a judged anomaly never goes back to detected');
RESET ROLE;
SELECT throws_like($$UPDATE ad.anomalies SET status = 'confirmed' WHERE id = '00000000-0000-0000-0000-0000000000c1'$$,
                   '%role "postgres" is not mapped to a person%', 'an unmapped login is told it is unmapped');
SELECT * FROM finish();
ROLLBACK;
