-- ad_internal.sustain_alerts (sql/095_alerting.sql): a lasting fault keeps its open alert going, raises its severity
-- and, when it rises, retitles it and tells the rule's notify channels again; opens an alert for a rule the first
-- anomaly did not reach, once per anomaly. Run as the worker. Needs SELECT ad.create_roles() (scripts/test does).
BEGIN;
SELECT * FROM no_plan();
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;

INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000009a1', 'tap-fault');
INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score)
VALUES ('00000000-0000-0000-0000-0000000009c1', gen_random_uuid(), '2026-01-01 10:00', '00000000-0000-0000-0000-0000000009a1',
        'depth', 'robust', 'low', 0.5);
INSERT INTO ad.alert_rules (id, name, conditions) VALUES
    ('00000000-0000-0000-0000-0000000009d1', 'tap-every', '{}'),
    ('00000000-0000-0000-0000-0000000009d2', 'tap-severe', '{"min_severity": "high"}');
INSERT INTO ad.channels (id, name, type, target)
VALUES ('00000000-0000-0000-0000-0000000009e1', 'tap-hook', 'webhook', 'https://hooks.example.com/tap');
SELECT ad.add_rule_channel('tap-every', 'tap-hook');

SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.raise_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
              ARRAY['00000000-0000-0000-0000-0000000009c1']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
              ARRAY['00000000-0000-0000-0000-0000000009a1']::uuid[], ARRAY['depth'], ARRAY['low'], ARRAY['[LOW] t'],
              ARRAY['m'])), 1::bigint, 'the anomaly opens a low alert');
RESET ROLE;
-- Its trigger went out.
UPDATE ad.alert_deliveries SET status = 'sent', attempts = 1 WHERE kind = 'trigger';

SET LOCAL ROLE ad_worker;
-- A run of points 20 to 50 minutes after it, critical by their distance from normal: both rules.
SELECT is((SELECT string_agg(s.opened::text, ', ' ORDER BY s.opened)
             FROM ad_internal.sustain_alerts(
                      ARRAY['00000000-0000-0000-0000-0000000009d1', '00000000-0000-0000-0000-0000000009d2']::uuid[],
                      ARRAY['00000000-0000-0000-0000-0000000009c1', '00000000-0000-0000-0000-0000000009c1']::uuid[],
                      ARRAY['2026-01-01 10:00', '2026-01-01 10:00']::timestamptz[],
                      ARRAY['2026-01-01 10:20', '2026-01-01 10:20']::timestamptz[],
                      ARRAY['2026-01-01 10:50', '2026-01-01 10:50']::timestamptz[],
                      ARRAY['00000000-0000-0000-0000-0000000009a1', '00000000-0000-0000-0000-0000000009a1']::uuid[],
                      ARRAY['depth', 'depth'], ARRAY['critical', 'critical'], ARRAY['[CRITICAL] t', '[CRITICAL] t'],
                      ARRAY['m', 'm'], ARRAY[true, true]) s),
          'false, true', 'the open alert goes on; the rule that wants high opens one');
RESET ROLE;
SELECT is((SELECT string_agg(r.name || ' ' || al.severity || ' ' || al.title || ' ' || al.occurrences || ' '
                             || to_char(al.first_seen_at, 'HH24:MI') || '-' || to_char(al.last_seen_at, 'HH24:MI'),
                             ', ' ORDER BY r.name)
             FROM ad.alerts al JOIN ad.alert_rules r ON r.id = al.rule_id
            WHERE al.source_id = '00000000-0000-0000-0000-0000000009a1'),
          'tap-every critical [CRITICAL] t 1 10:00-10:50, tap-severe critical [CRITICAL] t 1 10:00-10:50',
          'severity rises, the title follows, last seen moves to the run''s end, occurrences counts anomalies');
SELECT is((SELECT string_agg(d.kind || ' ' || d.status, ', ' ORDER BY d.kind DESC)
             FROM ad.alert_deliveries d JOIN ad.alerts al ON al.id = d.alert_id
            WHERE al.rule_id = '00000000-0000-0000-0000-0000000009d1'),
          'trigger sent, renotify pending', 'the rise is sent to the rule''s channel again');

-- The same again: no rise, nothing queued; and once someone resolved the opened one, the fault does not reopen it.
UPDATE ad.alerts SET status = 'resolved' WHERE rule_id = '00000000-0000-0000-0000-0000000009d2';
SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.sustain_alerts(
                      ARRAY['00000000-0000-0000-0000-0000000009d1', '00000000-0000-0000-0000-0000000009d2']::uuid[],
                      ARRAY['00000000-0000-0000-0000-0000000009c1', '00000000-0000-0000-0000-0000000009c1']::uuid[],
                      ARRAY['2026-01-01 10:00', '2026-01-01 10:00']::timestamptz[],
                      ARRAY['2026-01-01 11:00', '2026-01-01 11:00']::timestamptz[],
                      ARRAY['2026-01-01 11:10', '2026-01-01 11:10']::timestamptz[],
                      ARRAY['00000000-0000-0000-0000-0000000009a1', '00000000-0000-0000-0000-0000000009a1']::uuid[],
                      ARRAY['depth', 'depth'], ARRAY['critical', 'critical'], ARRAY['[CRITICAL] u', '[CRITICAL] u'],
                      ARRAY['m', 'm'], ARRAY[true, true])), 1::bigint, 'only the open alert goes on');
RESET ROLE;
SELECT is((SELECT count(*) FROM ad.alert_deliveries WHERE kind = 'renotify'), 1::bigint, 'no rise, no news');
SELECT is((SELECT count(*) FROM ad.alerts WHERE rule_id = '00000000-0000-0000-0000-0000000009d2'), 1::bigint,
          'a resolved alert is not reopened by the same anomaly''s fault');
SELECT is((SELECT to_char(last_seen_at, 'HH24:MI') || ' ' || title FROM ad.alerts
            WHERE rule_id = '00000000-0000-0000-0000-0000000009d1'), '11:10 [CRITICAL] t', 'the title stays without a rise');

-- A run that starts more than the grouping window (an hour) after the alert's last sign is another fault's.
SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.sustain_alerts(
                      ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                      ARRAY['00000000-0000-0000-0000-0000000009c1']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                      ARRAY['2026-01-01 13:00']::timestamptz[], ARRAY['2026-01-01 13:05']::timestamptz[],
                      ARRAY['00000000-0000-0000-0000-0000000009a1']::uuid[], ARRAY['depth'], ARRAY['critical'],
                      ARRAY['[CRITICAL] v'], ARRAY['m'], ARRAY[true])), 0::bigint, 'a sign too late keeps nothing going');
RESET ROLE;

-- An anomaly grouped into an alert that someone then resolved: its fault going on opens nothing (the alert was
-- opened by the first anomaly, so "had this anomaly an alert?" must look at what the alerts saw, not who opened them).
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000009a2', 'tap-grouped');
INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score)
VALUES ('00000000-0000-0000-0000-0000000009c2', gen_random_uuid(), '2026-01-01 10:00',
        '00000000-0000-0000-0000-0000000009a2', 'depth', 'robust', 'low', 0.5),
       ('00000000-0000-0000-0000-0000000009c3', gen_random_uuid(), '2026-01-01 10:30',
        '00000000-0000-0000-0000-0000000009a2', 'depth', 'robust', 'low', 0.5);
SET LOCAL ROLE ad_worker;
SELECT is((SELECT string_agg(opened::text, ', ' ORDER BY opened DESC) FROM ad_internal.raise_alerts(
              ARRAY['00000000-0000-0000-0000-0000000009d1', '00000000-0000-0000-0000-0000000009d1']::uuid[],
              ARRAY['00000000-0000-0000-0000-0000000009c2', '00000000-0000-0000-0000-0000000009c3']::uuid[],
              ARRAY['2026-01-01 10:00', '2026-01-01 10:30']::timestamptz[],
              ARRAY['00000000-0000-0000-0000-0000000009a2', '00000000-0000-0000-0000-0000000009a2']::uuid[],
              ARRAY['depth', 'depth'], ARRAY['low', 'low'], ARRAY['[LOW] g', '[LOW] g'], ARRAY['m', 'm'])),
          'true, false', 'the second anomaly is grouped into the first one''s alert');
RESET ROLE;
UPDATE ad.alerts SET status = 'resolved' WHERE source_id = '00000000-0000-0000-0000-0000000009a2';
SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.sustain_alerts(
                      ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                      ARRAY['00000000-0000-0000-0000-0000000009c3']::uuid[], ARRAY['2026-01-01 10:30']::timestamptz[],
                      ARRAY['2026-01-01 10:40']::timestamptz[], ARRAY['2026-01-01 10:50']::timestamptz[],
                      ARRAY['00000000-0000-0000-0000-0000000009a2']::uuid[], ARRAY['depth'], ARRAY['critical'],
                      ARRAY['[CRITICAL] g'], ARRAY['m'], ARRAY[true])), 0::bigint,
          'the grouped anomaly''s fault does not bring the resolved alert back');
RESET ROLE;
SELECT is((SELECT count(*) FROM ad.alerts WHERE source_id = '00000000-0000-0000-0000-0000000009a2'), 1::bigint,
          'one alert, resolved, and nothing new sent');

-- A trigger in flight (claimed, no attempt recorded, its lease running) carries the alert as it was when claimed:
-- it does not cover a rise that comes meanwhile, which is queued as a re-notification.
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000009a3', 'tap-in-flight');
INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score)
VALUES ('00000000-0000-0000-0000-0000000009c4', gen_random_uuid(), '2026-01-01 10:00',
        '00000000-0000-0000-0000-0000000009a3', 'depth', 'robust', 'low', 0.5);
SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.raise_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
              ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
              ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['low'], ARRAY['[LOW] f'],
              ARRAY['m'])), 1::bigint, 'an alert opens, its trigger queued');
RESET ROLE;
UPDATE ad.alert_deliveries d SET attempts = 1, next_attempt_at = now() + interval '1 minute'
  FROM ad.alerts al WHERE al.id = d.alert_id AND al.source_id = '00000000-0000-0000-0000-0000000009a3';
SET LOCAL ROLE ad_worker;
SELECT is((SELECT count(*) FROM ad_internal.sustain_alerts(
                      ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                      ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                      ARRAY['2026-01-01 10:10']::timestamptz[], ARRAY['2026-01-01 10:20']::timestamptz[],
                      ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['critical'],
                      ARRAY['[CRITICAL] f'], ARRAY['m'], ARRAY[true])), 1::bigint, 'the fault rises while its trigger is in flight');
RESET ROLE;
SELECT is((SELECT string_agg(d.kind || ' ' || d.status, ', ' ORDER BY d.kind DESC)
             FROM ad.alert_deliveries d JOIN ad.alerts al ON al.id = d.alert_id
            WHERE al.source_id = '00000000-0000-0000-0000-0000000009a3'),
          'trigger pending, renotify pending', 'the rise is queued beside the trigger in flight');

-- Hostile input (it runs as its owner): each is refused with invalid_parameter_value, and changes nothing.
SET LOCAL ROLE ad_worker;
SELECT throws_ok($$SELECT * FROM ad_internal.sustain_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1', '00000000-0000-0000-0000-0000000009d2']::uuid[],
                  ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                  ARRAY['2026-01-01 10:10']::timestamptz[], ARRAY['2026-01-01 10:20']::timestamptz[],
                  ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['critical'], ARRAY['t'], ARRAY['m'],
                  ARRAY[true])$$,
          '22023', NULL, 'arrays of different lengths are refused');
SELECT throws_ok($$SELECT * FROM ad_internal.sustain_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                  ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                  ARRAY['2026-01-01 10:10']::timestamptz[], ARRAY['2026-01-01 10:20']::timestamptz[],
                  ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['severe'], ARRAY['t'], ARRAY['m'],
                  ARRAY[true])$$,
          '22023', NULL, 'an unknown severity is refused');
SELECT throws_ok($$SELECT * FROM ad_internal.sustain_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                  ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                  ARRAY['2026-01-01 10:30']::timestamptz[], ARRAY['2026-01-01 10:20']::timestamptz[],
                  ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['critical'], ARRAY['t'], ARRAY['m'],
                  ARRAY[true])$$,
          '22023', NULL, 'a run that ends before it starts is refused');
SELECT throws_ok($$SELECT * FROM ad_internal.sustain_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                  ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                  ARRAY['2026-01-01 10:10']::timestamptz[], ARRAY['infinity']::timestamptz[],
                  ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['critical'], ARRAY['t'], ARRAY['m'],
                  ARRAY[true])$$,
          '22023', NULL, 'an infinite time is refused');
SELECT throws_ok($$SELECT * FROM ad_internal.sustain_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                  ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 10:00']::timestamptz[],
                  ARRAY['2026-01-01 10:10']::timestamptz[], ARRAY['2026-01-01 10:20']::timestamptz[],
                  ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['other'], ARRAY['critical'], ARRAY['t'], ARRAY['m'],
                  ARRAY[true])$$,
          '22023', NULL, 'an anomaly that is not on the run''s series is refused');
SELECT throws_ok($$SELECT * FROM ad_internal.sustain_alerts(ARRAY['00000000-0000-0000-0000-0000000009d1']::uuid[],
                  ARRAY['00000000-0000-0000-0000-0000000009c4']::uuid[], ARRAY['2026-01-01 09:00']::timestamptz[],
                  ARRAY['2026-01-01 10:10']::timestamptz[], ARRAY['2026-01-01 10:20']::timestamptz[],
                  ARRAY['00000000-0000-0000-0000-0000000009a3']::uuid[], ARRAY['depth'], ARRAY['critical'], ARRAY['t'], ARRAY['m'],
                  ARRAY[true])$$,
          '22023', NULL, 'an anomaly at another time is refused');
RESET ROLE;
SELECT is((SELECT string_agg(al.severity || ' ' || to_char(al.last_seen_at, 'HH24:MI'), ', ') FROM ad.alerts al
            WHERE al.source_id = '00000000-0000-0000-0000-0000000009a3'), 'critical 10:20', 'nothing changed');

SELECT * FROM finish();
ROLLBACK;
