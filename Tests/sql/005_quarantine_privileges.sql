-- The quarantine (sql/097_quarantine.sql): only the worker writes it, operators read it and re-queue through the
-- audited function, readers see the view, loaders nothing. Needs SELECT ad.create_roles() (scripts/test does).
BEGIN;
SELECT * FROM no_plan();
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;

INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'tap-src');
INSERT INTO ad.data_points (source_id, "timestamp", values)
VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-01', '{"x": 1}'),
       ('00000000-0000-0000-0000-0000000000a1', '2026-01-02', '{"x": 2}');
INSERT INTO ad.users (name, db_role) VALUES ('Tap Operator', session_user);

SET LOCAL ROLE ad_worker;
SELECT lives_ok($$INSERT INTO ad.quarantined_points (source_id, point_timestamp, error, sqlstate)
                  VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-01', 'value out of range: overflow', '22003'),
                         ('00000000-0000-0000-0000-0000000000a1', '2026-01-02', 'canceling statement due to statement timeout', '57014')$$,
                'the worker quarantines points');
SELECT lives_ok($$UPDATE ad.quarantined_points SET attempts = attempts + 1 WHERE point_timestamp = '2026-01-02'$$,
                'the worker counts a point quarantined again');
SELECT throws_ok($$DELETE FROM ad.quarantined_points$$, '42501', NULL, 'the worker cannot delete the record');
SELECT throws_ok($$SELECT ad.requeue_quarantined()$$, '42501', NULL, 'the worker cannot re-queue');
RESET ROLE;

SET LOCAL ROLE ad_reader;
SELECT is((SELECT string_agg(state || ' ' || sqlstate, ', ' ORDER BY point_timestamp) FROM ad.quarantine),
          'quarantined 22003, quarantined 57014', 'a reader sees the view');
SELECT throws_ok($$SELECT * FROM ad.quarantined_points$$, '42501', NULL, 'a reader cannot read the table');
SELECT throws_ok($$SELECT ad.requeue_quarantined()$$, '42501', NULL, 'a reader cannot re-queue');
RESET ROLE;

SET LOCAL ROLE ad_ingest;
SELECT throws_ok($$SELECT * FROM ad.quarantine$$, '42501', NULL, 'a loader cannot read the quarantine');
SELECT throws_ok($$INSERT INTO ad.quarantined_points (source_id, point_timestamp, error) VALUES ('00000000-0000-0000-0000-0000000000a1', '2026-01-03', 'x')$$,
                 '42501', NULL, 'a loader cannot quarantine');
RESET ROLE;

SET LOCAL ROLE ad_operator;
SELECT is((SELECT count(*) FROM ad.quarantined_points), 2::bigint, 'an operator reads the table');
SELECT throws_ok($$UPDATE ad.quarantined_points SET requeued_at = now()$$, '42501', NULL,
                 'an operator re-queues only through the function');
SELECT throws_ok($$SELECT ad.requeue_quarantined('no-such-source')$$, 'P0002',
                 'ad.requeue_quarantined: no source named "no-such-source"', 'an unknown source is named');
SELECT is(ad.requeue_quarantined('tap-src', '2026-01-02', '2026-01-03'), 1::bigint, 're-queues one point by time');
SELECT is(ad.requeue_quarantined(), 1::bigint, 're-queues the rest');
SELECT is(ad.requeue_quarantined(), 0::bigint, 'nothing left to re-queue');
SELECT is((SELECT string_agg(state, ', ') FROM ad.quarantine), 'requeued, requeued', 'both re-queued');
SELECT is((SELECT count(*) FROM ad.audit_log WHERE action = 'requeue'), 2::bigint, 'each re-queue is audited');
RESET ROLE;

-- Retention forgets the rows of points that are gone; deleting the source deletes the rest.
DELETE FROM ad.data_points WHERE "timestamp" = '2026-01-01';
SELECT is(ad_internal.forget_quarantined_gone(), 1::bigint, 'a row whose point is gone is forgotten');
DELETE FROM ad.data_sources WHERE id = '00000000-0000-0000-0000-0000000000a1';
SELECT is((SELECT count(*) FROM ad.quarantined_points), 0::bigint, 'deleting the source deletes its rows');

SELECT * FROM finish();
ROLLBACK;
