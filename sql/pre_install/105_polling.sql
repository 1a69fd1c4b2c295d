-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
-- db_poll sources (issue 21): the same block is in sql/updates/0.1.0--0.2.0.sql.
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad_internal.poll_sources (
    source_id            uuid PRIMARY KEY REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    connection           text NOT NULL CHECK (connection IN ('local', 'dsn')),
    query                text NOT NULL CHECK (length(query) BETWEEN 1 AND 20000),
    time_column          text NOT NULL CHECK (length(time_column) BETWEEN 1 AND 63),
    watermark_column     text NOT NULL CHECK (length(watermark_column) BETWEEN 1 AND 63),
    poll_interval        interval NOT NULL CHECK (poll_interval BETWEEN interval '1 second' AND interval '1 day'),
    max_rows             integer NOT NULL CHECK (max_rows BETWEEN 1 AND 100000),
    query_timeout        interval NOT NULL CHECK (query_timeout BETWEEN interval '1 second' AND interval '10 minutes'),
    watermark            text,
    next_poll_at         timestamptz NOT NULL DEFAULT now(),
    last_polled_at       timestamptz,
    last_success_at      timestamptz,
    caught_up_at         timestamptz,
    polls                bigint NOT NULL DEFAULT 0,
    rows_inserted        bigint NOT NULL DEFAULT 0,
    rows_duplicate       bigint NOT NULL DEFAULT 0,
    rows_rejected        bigint NOT NULL DEFAULT 0,
    last_rejection       text,
    errors               bigint NOT NULL DEFAULT 0,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_error           text,
    last_error_at        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad_internal.poll_sources IS
    'db_poll sources: where each polls (this database, or another through a DSN in ad_internal.poll_secrets), its '
    'query, time and watermark columns, interval and limits, and its state (watermark, counters, last error). The '
    'owner configures them with ad.add_poll_source; the worker moves the state through ad_internal.claim_poll, '
    'finish_poll and fail_poll; everyone reads ad.poll_status.';
COMMENT ON COLUMN ad_internal.poll_sources.source_id IS 'The source (type db_poll) whose points the poll inserts.';
COMMENT ON COLUMN ad_internal.poll_sources.connection IS
    'local (the query runs in this database as the worker''s login: a table, view or postgres_fdw foreign table) '
    'or dsn (in the database ad_internal.poll_secrets names).';
COMMENT ON COLUMN ad_internal.poll_sources.query IS
    'The SELECT the worker runs (read-only, under query_timeout), wrapped to read only rows at or past the watermark.';
COMMENT ON COLUMN ad_internal.poll_sources.time_column IS
    'The query''s column that is each point''s "timestamp" (timestamptz, or timestamp read as UTC).';
COMMENT ON COLUMN ad_internal.poll_sources.watermark_column IS
    'The query''s column the poll orders by and resumes from (a time or an integer; ties are allowed).';
COMMENT ON COLUMN ad_internal.poll_sources.poll_interval IS 'How often to poll when caught up.';
COMMENT ON COLUMN ad_internal.poll_sources.max_rows IS 'The most rows one poll reads; a full poll is followed at once by the next.';
COMMENT ON COLUMN ad_internal.poll_sources.query_timeout IS 'statement_timeout of the poll query.';
COMMENT ON COLUMN ad_internal.poll_sources.watermark IS
    'The largest watermark value inserted, in its text form; NULL before the first rows. The next poll reads rows '
    'with a watermark at or past it (rows at it again, as duplicates).';
COMMENT ON COLUMN ad_internal.poll_sources.next_poll_at IS 'When the source is next due (later after failures: backoff).';
COMMENT ON COLUMN ad_internal.poll_sources.last_polled_at IS 'When a poll last ended, well or not.';
COMMENT ON COLUMN ad_internal.poll_sources.last_success_at IS 'When a poll last ended well.';
COMMENT ON COLUMN ad_internal.poll_sources.caught_up_at IS
    'When a poll last read fewer rows than max_rows, so had reached the source''s newest row.';
COMMENT ON COLUMN ad_internal.poll_sources.polls IS 'Polls that ended well.';
COMMENT ON COLUMN ad_internal.poll_sources.rows_inserted IS 'Points the polls inserted.';
COMMENT ON COLUMN ad_internal.poll_sources.rows_duplicate IS
    'Rows read again (at the watermark) or with a time already present: not inserted again.';
COMMENT ON COLUMN ad_internal.poll_sources.rows_rejected IS 'Rows the door would refuse (bad values, times): skipped.';
COMMENT ON COLUMN ad_internal.poll_sources.last_rejection IS 'Why the last skipped row was refused, with its time.';
COMMENT ON COLUMN ad_internal.poll_sources.errors IS 'Polls that failed.';
COMMENT ON COLUMN ad_internal.poll_sources.consecutive_failures IS 'Failures since the last good poll (the backoff).';
COMMENT ON COLUMN ad_internal.poll_sources.last_error IS 'The last poll''s error; NULL once a poll ends well.';
COMMENT ON COLUMN ad_internal.poll_sources.last_error_at IS 'When the last error happened (kept after recovery).';
COMMENT ON COLUMN ad_internal.poll_sources.created_at IS 'When the poll was configured.';
COMMENT ON COLUMN ad_internal.poll_sources.updated_at IS 'When its configuration last changed.';
CREATE INDEX poll_sources_due_idx ON ad_internal.poll_sources (next_poll_at);
COMMENT ON INDEX ad_internal.poll_sources_due_idx IS 'Finds the polls that are due.';
REVOKE ALL ON ad_internal.poll_sources FROM PUBLIC;

CREATE TABLE ad_internal.poll_secrets (
    source_id  uuid PRIMARY KEY REFERENCES ad_internal.poll_sources (source_id) ON DELETE CASCADE,
    dsn        text NOT NULL CHECK (length(dsn) BETWEEN 1 AND 4000),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad_internal.poll_secrets IS
    'The connection URL of each db_poll source that polls another database. Write-only (ad.add_poll_source): '
    'the worker reads it through ad_internal.claim_poll, nobody else.';
COMMENT ON COLUMN ad_internal.poll_secrets.source_id IS 'The poll source.';
COMMENT ON COLUMN ad_internal.poll_secrets.dsn IS 'postgres://user:password@host:port/database?sslmode=... (a secret).';
COMMENT ON COLUMN ad_internal.poll_secrets.updated_at IS 'When it was last set.';
REVOKE ALL ON ad_internal.poll_secrets FROM PUBLIC;
