-- db_poll sources (sql/105_polling.sql): only the owner configures them, with clear errors; the DSN is
-- write-only; the worker claims, finishes and fails polls through its functions; readers see ad.poll_status.
-- Needs SELECT ad.create_roles() (scripts/test does).
BEGIN;
SELECT * FROM no_plan();
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;

CREATE TABLE public.tap_metrics (ts timestamptz, id bigint, cpu double precision, mem bigint, host text);
GRANT SELECT ON public.tap_metrics TO ad_worker;

-- Validation, each naming what is wrong.
SELECT throws_ok($$SELECT ad.add_poll_source('p', '', 'ts')$$, '22023',
                 'ad.add_poll_source: query is empty (source "p")', 'an empty query');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'DELETE FROM public.tap_metrics', 'ts')$$, '22023',
                 'ad.add_poll_source: query must be one SELECT (or WITH, VALUES, TABLE), got "DELETE FROM public.tap_metrics" (source "p")',
                 'a query that is not a SELECT');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM public.no_such', 'ts')$$, '22023',
                 'ad.add_poll_source: query does not run here: relation "public.no_such" does not exist (source "p")',
                 'a local query that does not parse');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM tap_metrics', 'time')$$, '42703',
                 'ad.add_poll_source: the query has no column "time" (time_column) (source "p")', 'a missing time column');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM tap_metrics', 'ts', 'seq')$$, '42703',
                 'ad.add_poll_source: the query has no column "seq" (watermark_column) (source "p")',
                 'a missing watermark column');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT id AS ts, cpu FROM tap_metrics', 'ts')$$, '22023',
                 'ad.add_poll_source: time_column "ts" is bigint; it must be timestamp with time zone (or timestamp, read as UTC) (source "p")',
                 'a time column that is not a time');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu, host FROM tap_metrics', 'ts')$$, '22023',
                 'ad.add_poll_source: column "host" is text; every column but the time and watermark columns is a metric and must be a number (smallint, integer, bigint, real, double precision, numeric) (source "p")',
                 'a metric that is not a number');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM tap_metrics', 'ts', poll_interval => '0.5 s')$$,
                 '22023', 'ad.add_poll_source: poll_interval must be from 1 second to 1 day, got 00:00:00.5', 'an interval too short');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM tap_metrics', 'ts', max_rows => 0)$$,
                 '22023', 'ad.add_poll_source: max_rows must be from 1 to 100000, got 0', 'max_rows');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM tap_metrics', 'ts', query_timeout => '1 hour')$$,
                 '22023', 'ad.add_poll_source: query_timeout must be from 1 second to 10 minutes, got 01:00:00', 'query_timeout');
SELECT throws_ok($$SELECT ad.add_poll_source('p', 'SELECT ts, cpu FROM x', 'ts', dsn => 'mysql://u:hunter2@h/db')$$, '22023',
                 'ad.add_poll_source: dsn must be a postgres:// or postgresql:// URL of at most 4000 characters (source "p")',
                 'a DSN that is not a postgres URL, never quoted');
SELECT is((SELECT count(*) FROM ad.data_sources WHERE name = 'p'), 0::bigint, 'nothing was created by the failures');
INSERT INTO ad.data_sources (name) VALUES ('plain');
SELECT throws_ok($$SELECT ad.add_poll_source('plain', 'SELECT ts, cpu FROM tap_metrics', 'ts')$$, '42710',
                 'ad.add_poll_source: source "plain" exists with type sql; a db_poll source''s points come only from its poll',
                 'an existing source of another type');

-- Configured: local, and another database through a DSN.
SELECT isnt(ad.add_poll_source('local-m', 'SELECT ts, id, cpu, mem FROM tap_metrics;', 'ts', 'id'), NULL, 'a local source');
SELECT isnt(ad.add_poll_source('remote-m', 'SELECT ts, cpu FROM metrics', 'ts', dsn => 'postgres://u:hunter2@db.example/m'),
            NULL, 'a source in another database');
SELECT is((SELECT type FROM ad.data_sources WHERE name = 'remote-m'), 'db_poll', 'created with type db_poll');
SELECT is((SELECT string_agg(source_name || ' ' || connection || ' ' || state, ', ' ORDER BY source_name) FROM ad.poll_status),
          'local-m local waiting, remote-m dsn waiting', 'the view lists both');
SELECT is((SELECT count(*) FROM ad.poll_status s WHERE row_to_json(s)::text LIKE '%hunter2%'), 0::bigint, 'the view never shows a DSN');

-- Privileges: nobody but the owner configures; only the worker claims (and so reads the DSN).
SET LOCAL ROLE ad_operator;
SELECT throws_ok($$SELECT ad.add_poll_source('q', 'SELECT 1', 'ts')$$, '42501', NULL, 'an operator cannot add a poll source');
SELECT throws_ok($$SELECT * FROM ad_internal.poll_secrets$$, '42501', NULL, 'an operator cannot read a DSN');
SELECT throws_ok($$SELECT * FROM ad_internal.claim_poll()$$, '42501', NULL, 'an operator cannot claim a poll');
SELECT throws_ok($$SELECT ad.remove_poll_source('remote-m')$$, '42501', NULL, 'an operator cannot remove one');
RESET ROLE;
SET LOCAL ROLE ad_reader;
SELECT is((SELECT count(*) FROM ad.poll_status), 2::bigint, 'a reader reads the view');
SELECT throws_ok($$SELECT * FROM ad_internal.poll_sources$$, '42501', NULL, 'a reader cannot read the table');
SELECT throws_ok($$SELECT ad_internal.fail_poll(gen_random_uuid(), 'x', 1)$$, '42501', NULL, 'a reader cannot fail a poll');
RESET ROLE;
SET LOCAL ROLE ad_ingest;
SELECT throws_ok($$SELECT * FROM ad.poll_status$$, '42501', NULL, 'a loader cannot read the view');
RESET ROLE;

-- The worker: claims the most overdue source, inserts through the door, moves the watermark.
UPDATE ad_internal.poll_sources SET next_poll_at = now() - interval '1 minute'
 WHERE source_id = (SELECT id FROM ad.data_sources WHERE name = 'remote-m');
SET LOCAL ROLE ad_worker;
SELECT is((SELECT source_name || ' ' || dsn FROM ad_internal.claim_poll()), 'remote-m postgres://u:hunter2@db.example/m',
          'the worker claims the most overdue source, with its DSN');
SELECT is((SELECT row(inserted, duplicate, rejected, first_rejection)::text FROM ad_internal.finish_poll(
              (SELECT source_id FROM ad.poll_status WHERE source_name = 'remote-m'), '2026-01-01 00:02:00+00', true,
              ARRAY['2026-01-01 00:00', '2026-01-01 00:01', '2026-01-01 00:01', NULL, '2026-01-01 00:02']::timestamptz[],
              ARRAY['{"cpu": 1}', '{"cpu": "NaN"}', '{"cpu": 2}', '{"cpu": 3}', '{"cpu": 4}']::jsonb[])),
          '(3,0,2,"row at 2026-01-01 00:01:00+00: metric ""cpu"" must be a finite number, got string ""NaN""")',
          'good rows go in, refused rows are counted with the first reason');
SELECT is((SELECT row(inserted, duplicate, rejected)::text FROM ad_internal.finish_poll(
              (SELECT source_id FROM ad.poll_status WHERE source_name = 'remote-m'), '2026-01-01 00:03:00+00', true,
              ARRAY['2026-01-01 00:02', '2026-01-01 00:03']::timestamptz[], ARRAY['{"cpu": 4}', '{"cpu": 5}']::jsonb[])),
          '(1,1,0)', 'a row read again is a duplicate');
SELECT is((SELECT watermark || ' ' || rows_inserted || ' ' || rows_duplicate || ' ' || rows_rejected || ' ' || state
             FROM ad.poll_status WHERE source_name = 'remote-m'),
          '2026-01-01 00:03:00+00 4 1 2 ok', 'the view counts them and shows the watermark');
SELECT lives_ok($$SELECT ad_internal.fail_poll((SELECT source_id FROM ad.poll_status WHERE source_name = 'remote-m'),
                                                'cannot connect to postgres://u@db.example/m', 30)$$, 'a failure is recorded');
SELECT throws_ok($$INSERT INTO ad.data_points (source_id, "timestamp", values)
                   VALUES ((SELECT source_id FROM ad.poll_status WHERE source_name = 'remote-m'), now(), '{"x": 1}')$$,
                 '42501', NULL, 'the worker inserts only through finish_poll');
RESET ROLE;
SELECT is((SELECT state || ' ' || consecutive_failures || ' ' || (next_poll_at > now() + interval '29 seconds')
             FROM ad.poll_status WHERE source_name = 'remote-m'), 'failing 1 true', 'failing, retried later');
SELECT is((SELECT count(*) FROM ad.data_points p JOIN ad.data_sources s ON s.id = p.source_id WHERE s.name = 'remote-m'),
          4::bigint, 'four points arrived');

-- Reconfigured: the watermark stays unless its column changes; removed: the source and its points stay.
SELECT isnt(ad.add_poll_source('remote-m', 'SELECT ts, cpu FROM metrics2', 'ts', dsn => 'postgres://u:pw2@db.example/m'),
            NULL, 'reconfigured');
SELECT is((SELECT watermark || ' ' || state FROM ad.poll_status WHERE source_name = 'remote-m'),
          '2026-01-01 00:03:00+00 ok', 'the watermark stays and the error is cleared');
SELECT is((SELECT dsn FROM ad_internal.poll_secrets s JOIN ad.data_sources d ON d.id = s.source_id WHERE d.name = 'remote-m'),
          'postgres://u:pw2@db.example/m', 'the new DSN is kept');
SELECT is(ad.remove_poll_source('remote-m'), true, 'removed');
SELECT is(ad.remove_poll_source('remote-m'), false, 'removing again says it was not polled');
SELECT is((SELECT count(*) FROM ad_internal.poll_secrets), 0::bigint, 'its DSN is gone');
SELECT is((SELECT count(*) FROM ad.data_points p JOIN ad.data_sources s ON s.id = p.source_id WHERE s.name = 'remote-m'),
          4::bigint, 'its points stay');

SELECT * FROM finish();
ROLLBACK;
