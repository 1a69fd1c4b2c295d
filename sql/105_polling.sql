-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- db_poll sources (issue 21): the owner configures them (ad.add_poll_source, ad.remove_poll_source), the worker
-- polls through ad_internal.claim_poll / finish_poll / fail_poll (Sources/ADPostgres/Polling/), and everyone who
-- reads the views sees ad.poll_status. Tables: sql/pre_install/105_polling.sql.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad.add_poll_source(
    source text, query text, time_column text, watermark_column text DEFAULT NULL,
    poll_interval interval DEFAULT interval '1 minute', dsn text DEFAULT NULL, max_rows integer DEFAULT 10000,
    query_timeout interval DEFAULT interval '30 seconds'
) RETURNS uuid
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    q text := rtrim(btrim(coalesce(add_poll_source.query, '')), E'; \t\r\n');
    wm text := coalesce(add_poll_source.watermark_column, add_poll_source.time_column);
    src record;
    old record;
    col record;
    check_view text := format('ad_poll_check_%s', pg_backend_pid());
    kind text := CASE WHEN add_poll_source.dsn IS NULL THEN 'local' ELSE 'dsn' END;
BEGIN
    IF source IS NULL OR length(source) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'ad.add_poll_source: source must be a name of 1 to 200 characters, got %',
                coalesce(length(source)::text || ' characters', 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF q = '' THEN
        RAISE EXCEPTION 'ad.add_poll_source: query is empty (source "%")', source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example: SELECT ts, cpu, mem FROM metrics (the worker adds the watermark filter).';
    ELSIF length(q) > 20000 THEN
        RAISE EXCEPTION 'ad.add_poll_source: query is % characters, at most 20000 (source "%")', length(q), source
            USING ERRCODE = 'program_limit_exceeded';
    ELSIF q !~* '^(select|with|values|table)\M' THEN
        RAISE EXCEPTION 'ad.add_poll_source: query must be one SELECT (or WITH, VALUES, TABLE), got "%" (source "%")',
                left(q, 40), source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF time_column IS NULL OR length(time_column) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'ad.add_poll_source: time_column must name a column of the query (1 to 63 characters), got %',
                coalesce('"' || time_column || '"', 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF length(wm) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'ad.add_poll_source: watermark_column must name a column of the query (1 to 63 characters), got "%"', wm
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF poll_interval IS NULL OR poll_interval NOT BETWEEN interval '1 second' AND interval '1 day' THEN
        RAISE EXCEPTION 'ad.add_poll_source: poll_interval must be from 1 second to 1 day, got %', coalesce(poll_interval::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'ad.add_poll_source: max_rows must be from 1 to 100000, got %', coalesce(max_rows::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF query_timeout IS NULL OR query_timeout NOT BETWEEN interval '1 second' AND interval '10 minutes' THEN
        RAISE EXCEPTION 'ad.add_poll_source: query_timeout must be from 1 second to 10 minutes, got %', coalesce(query_timeout::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The DSN is a secret: no message quotes it.
    IF dsn IS NOT NULL AND (dsn !~ '^postgres(ql)?://' OR length(dsn) > 4000) THEN
        RAISE EXCEPTION 'ad.add_poll_source: dsn must be a postgres:// or postgresql:// URL of at most 4000 characters (source "%")', source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'postgres://user:password@host:5432/database?sslmode=verify-full (percent-encode / ? @ : in the password).';
    END IF;
    IF kind = 'local' THEN
        -- This database: the query must parse, and name its columns, now (another database's is checked at its
        -- first poll). A view is only planned, never run.
        -- Names resolve as in the worker's session: the database's default search_path, not this function's.
        PERFORM set_config('search_path', '"$user", public', true);
        BEGIN
            EXECUTE format('CREATE TEMPORARY VIEW %I AS SELECT * FROM (%s) AS q', check_view, q);
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'ad.add_poll_source: query does not run here: % (source "%")', SQLERRM, source
                USING ERRCODE = 'invalid_parameter_value';
        END;
        PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
        IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = format('pg_temp.%I', check_view)::regclass
                          AND a.attname = time_column AND NOT a.attisdropped) THEN
            EXECUTE format('DROP VIEW pg_temp.%I', check_view);
            RAISE EXCEPTION 'ad.add_poll_source: the query has no column "%" (time_column) (source "%")', time_column, source
                USING ERRCODE = 'undefined_column';
        ELSIF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = format('pg_temp.%I', check_view)::regclass
                             AND a.attname = wm AND NOT a.attisdropped) THEN
            EXECUTE format('DROP VIEW pg_temp.%I', check_view);
            RAISE EXCEPTION 'ad.add_poll_source: the query has no column "%" (watermark_column) (source "%")', wm, source
                USING ERRCODE = 'undefined_column';
        END IF;
        FOR col IN
            SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, a.atttypid AS oid
              FROM pg_attribute a
             WHERE a.attrelid = format('pg_temp.%I', check_view)::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum
        LOOP
            IF col.name = time_column THEN
                IF col.oid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN
                    EXECUTE format('DROP VIEW pg_temp.%I', check_view);
                    RAISE EXCEPTION 'ad.add_poll_source: time_column "%" is %; it must be timestamp with time zone (or timestamp, read as UTC) (source "%")',
                            col.name, col.type, source
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
            ELSIF col.name = wm THEN
                IF col.oid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'int2'::regtype, 'int4'::regtype,
                                   'int8'::regtype, 'numeric'::regtype, 'date'::regtype) THEN
                    EXECUTE format('DROP VIEW pg_temp.%I', check_view);
                    RAISE EXCEPTION 'ad.add_poll_source: watermark_column "%" is %; it must be a time (timestamptz, timestamp, date) or an integer (bigint, integer, smallint, numeric) (source "%")',
                            col.name, col.type, source
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
            ELSIF col.oid NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                  'float8'::regtype, 'numeric'::regtype) THEN
                EXECUTE format('DROP VIEW pg_temp.%I', check_view);
                RAISE EXCEPTION 'ad.add_poll_source: column "%" is %; every column but the time and watermark columns is a metric and must be a number (smallint, integer, bigint, real, double precision, numeric) (source "%")',
                        col.name, col.type, source
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Leave other columns out of the query, or cast them: SELECT ts, cpu::float8 AS cpu FROM ...';
            END IF;
        END LOOP;
        EXECUTE format('DROP VIEW pg_temp.%I', check_view);
    END IF;

    SELECT s.id, s.type INTO src FROM ad.data_sources s WHERE s.name = add_poll_source.source FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO ad.data_sources (name, type, description)
        VALUES (source, 'db_poll', 'Polled: ' || left(q, 180))
        RETURNING id, type INTO src;
    ELSIF src.type <> 'db_poll' THEN
        RAISE EXCEPTION 'ad.add_poll_source: source "%" exists with type %; a db_poll source''s points come only from its poll', source, src.type
            USING ERRCODE = 'duplicate_object', HINT = 'Pick another name for the polled source.';
    END IF;
    SELECT p.* INTO old FROM ad_internal.poll_sources p WHERE p.source_id = src.id FOR UPDATE;
    INSERT INTO ad_internal.poll_sources AS p (source_id, connection, query, time_column, watermark_column,
                                               poll_interval, max_rows, query_timeout)
    VALUES (src.id, kind, q, time_column, wm, poll_interval, max_rows, query_timeout)
    ON CONFLICT (source_id) DO UPDATE
       SET connection = EXCLUDED.connection, query = EXCLUDED.query, time_column = EXCLUDED.time_column,
           watermark_column = EXCLUDED.watermark_column, poll_interval = EXCLUDED.poll_interval,
           max_rows = EXCLUDED.max_rows, query_timeout = EXCLUDED.query_timeout,
           -- Another column's values are not comparable with the old watermark: read from the start (rows already
           -- inserted are duplicates and skipped).
           watermark = CASE WHEN p.watermark_column = EXCLUDED.watermark_column THEN p.watermark END,
           next_poll_at = now(), consecutive_failures = 0, last_error = NULL, updated_at = now();
    IF kind = 'dsn' THEN
        INSERT INTO ad_internal.poll_secrets AS s (source_id, dsn) VALUES (src.id, dsn)
        ON CONFLICT (source_id) DO UPDATE SET dsn = EXCLUDED.dsn, updated_at = now();
    ELSE
        DELETE FROM ad_internal.poll_secrets s WHERE s.source_id = src.id;
    END IF;
    RETURN src.id;
END
$fn$;
COMMENT ON FUNCTION ad.add_poll_source(text, text, text, text, interval, text, integer, interval) IS
    'Owner only. Makes source (created with type db_poll if missing) poll query every poll_interval: in this '
    'database (dsn NULL: a table, view or postgres_fdw foreign table the worker''s login may read), or in the one dsn '
    'names (write-only: nobody reads it back). time_column is each point''s time; watermark_column (default: the time '
    'column) is where the next poll resumes; every other column is a metric. max_rows per poll, query_timeout per '
    'query. Called again, it changes the configuration and keeps the watermark (unless the watermark column changes). '
    'Returns the source id.';
REVOKE ALL ON FUNCTION ad.add_poll_source(text, text, text, text, interval, text, integer, interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad.remove_poll_source(source text) RETURNS boolean
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    DELETE FROM ad_internal.poll_sources p USING ad.data_sources s
     WHERE s.id = p.source_id AND s.name = remove_poll_source.source;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION ad.remove_poll_source(text) IS
    'Owner only. Stops polling source and forgets its query, DSN and watermark; the source and its points stay. '
    'Returns false when it was not polled.';
REVOKE ALL ON FUNCTION ad.remove_poll_source(text) FROM PUBLIC;

-- The worker's side. claim_poll locks one due source's row for the caller's transaction (FOR UPDATE SKIP LOCKED,
-- so several workers never poll one source at once); finish_poll inserts the rows and moves the watermark in that
-- same transaction, so rows arrive exactly once; fail_poll records an error and when to try again.
CREATE OR REPLACE FUNCTION ad_internal.claim_poll()
RETURNS TABLE (source_id uuid, source_name text, connection text, dsn text, query text, time_column text,
               watermark_column text, max_rows integer, query_timeout double precision, watermark text,
               poll_interval double precision, consecutive_failures integer)
LANGUAGE sql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT p.source_id, s.name, p.connection, sec.dsn, p.query, p.time_column, p.watermark_column, p.max_rows,
           extract(epoch FROM p.query_timeout)::double precision, p.watermark,
           extract(epoch FROM p.poll_interval)::double precision, p.consecutive_failures
      FROM ad_internal.poll_sources p
      JOIN ad.data_sources s ON s.id = p.source_id
      LEFT JOIN ad_internal.poll_secrets sec ON sec.source_id = p.source_id
     WHERE p.next_poll_at <= now() AND s.status <> 'disabled'
     ORDER BY p.next_poll_at
     LIMIT 1
       FOR UPDATE OF p SKIP LOCKED;
$fn$;
COMMENT ON FUNCTION ad_internal.claim_poll() IS
    'The worker: one due db_poll source (not disabled), its row locked until the caller''s transaction ends, with its '
    'configuration, DSN and watermark; no row when none is due or every due one is being polled.';
REVOKE ALL ON FUNCTION ad_internal.claim_poll() FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.next_poll_in() RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
    SELECT extract(epoch FROM min(p.next_poll_at) - now())::double precision
      FROM ad_internal.poll_sources p JOIN ad.data_sources s ON s.id = p.source_id
     WHERE s.status <> 'disabled';
$fn$;
COMMENT ON FUNCTION ad_internal.next_poll_in() IS
    'Seconds until the next db_poll source is due (negative: overdue), NULL when none is configured.';
REVOKE ALL ON FUNCTION ad_internal.next_poll_in() FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.finish_poll(
    source uuid, new_watermark text, caught_up boolean, times timestamptz[], vals jsonb[], reread integer DEFAULT 0
) RETURNS TABLE (inserted bigint, duplicate bigint, rejected bigint, first_rejection text)
LANGUAGE plpgsql SECURITY DEFINER  -- inserts at the door as the owner: the worker has no INSERT on ad.data_points
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    n_read bigint := coalesce(cardinality(times), 0);
BEGIN
    IF cardinality(times) IS DISTINCT FROM cardinality(vals) THEN
        RAISE EXCEPTION 'ad_internal.finish_poll: % times but % values', cardinality(times), cardinality(vals)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The caller's claim holds this lock already; NOWAIT refuses a caller that did not claim the source.
    PERFORM FROM ad_internal.poll_sources p WHERE p.source_id = finish_poll.source FOR UPDATE NOWAIT;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad_internal.finish_poll: source % is not polled', source USING ERRCODE = 'no_data_found';
    END IF;
    -- The door's own tests pick the rows it would refuse; those are skipped and counted, the rest inserted (the
    -- door's triggers still run on them).
    WITH r AS MATERIALIZED (
        SELECT x.t, x.v, x.ord,
               CASE WHEN x.t IS NULL THEN 'the time column is NULL'
                    WHEN NOT isfinite(x.t) THEN format('"timestamp" must be a finite time, got %s', x.t)
                    WHEN ad.values_ok(x.v) AND ad_internal.point_within_limits(x.t, x.v) THEN NULL
                    ELSE coalesce(ad.values_problem(x.v), ad_internal.point_limit_problem(x.t, x.v), 'refused at the door')
               END AS problem
          FROM unnest(times, vals) WITH ORDINALITY AS x(t, v, ord)
    ), ins AS (
        INSERT INTO ad.data_points (source_id, "timestamp", values)
        SELECT finish_poll.source, r.t, r.v FROM r WHERE r.problem IS NULL ORDER BY r.ord
        ON CONFLICT (source_id, "timestamp") DO NOTHING
        RETURNING 1
    )
    -- The first `reread` rows are at the previous watermark: read (and refused) before, so not refused again.
    SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM r WHERE r.problem IS NOT NULL AND r.ord > reread),
           (SELECT left(format('row at %s: %s', coalesce(r.t::text, 'NULL'), r.problem), 1000)
              FROM r WHERE r.problem IS NOT NULL AND r.ord > reread ORDER BY r.ord LIMIT 1)
      INTO inserted, rejected, first_rejection;
    duplicate := n_read - rejected - inserted;
    UPDATE ad_internal.poll_sources p
       SET watermark = coalesce(finish_poll.new_watermark, p.watermark),
           last_polled_at = now(), last_success_at = now(),
           caught_up_at = CASE WHEN finish_poll.caught_up THEN now() ELSE p.caught_up_at END,
           next_poll_at = CASE WHEN finish_poll.caught_up THEN now() + p.poll_interval ELSE now() END,
           polls = p.polls + 1, rows_inserted = p.rows_inserted + finish_poll.inserted,
           rows_duplicate = p.rows_duplicate + finish_poll.duplicate,
           rows_rejected = p.rows_rejected + finish_poll.rejected,
           last_rejection = coalesce(finish_poll.first_rejection, p.last_rejection),
           consecutive_failures = 0, last_error = NULL
     WHERE p.source_id = finish_poll.source;
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION ad_internal.finish_poll(uuid, text, boolean, timestamptz[], jsonb[], integer) IS
    'The worker, in the transaction that claimed the source: inserts the polled rows through ad.data_points (the '
    'door''s checks and triggers; a row the door would refuse is skipped and counted, a (source, time) already there '
    'is a duplicate, and so is one of the first reread rows, at the previous watermark, refused before), moves the watermark and schedules the next poll (at once when the poll was full). Returns the '
    'counts and the first refused row''s reason.';
REVOKE ALL ON FUNCTION ad_internal.finish_poll(uuid, text, boolean, timestamptz[], jsonb[], integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.fail_poll(source uuid, error text, retry_in double precision) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
    UPDATE ad_internal.poll_sources p
       SET last_error = left(coalesce(fail_poll.error, 'unknown error'), 2000), last_error_at = now(),
           last_polled_at = now(), errors = p.errors + 1, consecutive_failures = p.consecutive_failures + 1,
           next_poll_at = now() + make_interval(secs => greatest(0, least(fail_poll.retry_in, 86400)))
     WHERE p.source_id = fail_poll.source;
$fn$;
COMMENT ON FUNCTION ad_internal.fail_poll(uuid, text, double precision) IS
    'The worker: records that a poll of source failed (error, in words that never quote its DSN) and when to try '
    'again (retry_in seconds: the backoff). Nothing is inserted and the watermark stays.';
REVOKE ALL ON FUNCTION ad_internal.fail_poll(uuid, text, double precision) FROM PUBLIC;

CREATE OR REPLACE VIEW ad.poll_status AS
SELECT s.name AS source_name,
       p.source_id,
       p.connection,
       CASE WHEN s.status = 'disabled' THEN 'disabled'
            WHEN p.last_error IS NOT NULL THEN 'failing'
            WHEN p.last_success_at IS NULL THEN 'waiting'
            WHEN p.caught_up_at IS DISTINCT FROM p.last_success_at THEN 'catching_up'
            ELSE 'ok' END AS state,
       extract(epoch FROM p.poll_interval)::double precision AS interval_seconds,
       p.last_polled_at,
       p.last_success_at,
       p.caught_up_at,
       p.watermark,
       extract(epoch FROM now() - coalesce(p.caught_up_at, p.created_at))::double precision AS lag_seconds,
       p.rows_inserted,
       p.rows_duplicate,
       p.rows_rejected,
       p.last_rejection,
       p.polls,
       p.errors,
       p.consecutive_failures,
       p.last_error,
       p.last_error_at,
       p.next_poll_at
  FROM ad_internal.poll_sources p
  JOIN ad.data_sources s ON s.id = p.source_id;
COMMENT ON VIEW ad.poll_status IS
    'One row per db_poll source: its state, when it last polled, its watermark, its lag, what it inserted, skipped '
    'and refused, and its last error. Never shows the query''s DSN.';
COMMENT ON COLUMN ad.poll_status.source_name IS 'The source.';
COMMENT ON COLUMN ad.poll_status.source_id IS 'Its id.';
COMMENT ON COLUMN ad.poll_status.connection IS 'local (this database) or dsn (another, through a secret DSN).';
COMMENT ON COLUMN ad.poll_status.state IS
    'waiting (not polled yet), ok (caught up), catching_up (the last poll was full: more rows wait), failing (the '
    'last poll failed: see last_error; retried with backoff) or disabled (the source is disabled: not polled).';
COMMENT ON COLUMN ad.poll_status.interval_seconds IS 'The poll interval, seconds.';
COMMENT ON COLUMN ad.poll_status.last_polled_at IS 'When a poll last ended, well or not.';
COMMENT ON COLUMN ad.poll_status.last_success_at IS 'When a poll last ended well.';
COMMENT ON COLUMN ad.poll_status.caught_up_at IS 'When a poll last reached the source''s newest row (read fewer than max_rows).';
COMMENT ON COLUMN ad.poll_status.watermark IS 'Where the next poll resumes: the largest watermark value inserted, as text.';
COMMENT ON COLUMN ad.poll_status.lag_seconds IS
    'Seconds since the worker last knew it had every row of the source: now() - caught_up_at (now() - when the '
    'poll was configured, before that). About the poll interval when healthy; it grows while the source is down, '
    'the query fails, or polls are full and the worker is catching up.';
COMMENT ON COLUMN ad.poll_status.rows_inserted IS 'Points the polls inserted.';
COMMENT ON COLUMN ad.poll_status.rows_duplicate IS 'Rows read again or whose (source, time) was already there: not inserted.';
COMMENT ON COLUMN ad.poll_status.rows_rejected IS 'Rows the door refused (bad values or times): skipped, counted.';
COMMENT ON COLUMN ad.poll_status.last_rejection IS 'Why the last refused row was refused, with its time.';
COMMENT ON COLUMN ad.poll_status.polls IS 'Polls that ended well.';
COMMENT ON COLUMN ad.poll_status.errors IS 'Polls that failed.';
COMMENT ON COLUMN ad.poll_status.consecutive_failures IS 'Failures since the last good poll.';
COMMENT ON COLUMN ad.poll_status.last_error IS 'The last poll''s error; NULL once a poll ends well.';
COMMENT ON COLUMN ad.poll_status.last_error_at IS 'When the last error happened.';
COMMENT ON COLUMN ad.poll_status.next_poll_at IS 'When the source is next due.';
