-- 0.1.0 to 0.2.0. sql/ was laid out for upgrades (pre_install/, re-run files, updates/); the tables are the same.
-- After this step, every update re-runs sql/NNN_*.sql (functions, triggers, views, comments, grants).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- An anomaly's explanation is one typed, versioned document (adworker's Explanation): the column says so.
COMMENT ON COLUMN ad.anomalies.explanation IS
    'Why it fired, for people: one versioned document (adworker''s Explanation type documents it): version, '
    'detector, decided_by (the deciding stream), metric, actual, expected, expected_range [low, high], score, '
    'surprise, top_contributions [{metric, feature, value, surprise}], metrics_off, pattern {measure, direction, '
    'deviation}, resting, reason (one sentence saying why), summary (a few words), severity_basis {by_score, '
    'by_size, size, history, lasting}. Rows written by 0.1.0 have no version, decided_by, reason, summary or '
    'severity_basis.';
COMMENT ON COLUMN ad.anomalies.severity IS
    'low, medium, high or critical: the tier the score reaches in the source''s thresholds, capped by the tier the '
    'size of the deviation reaches (the size alone once it has lasted); see explanation.severity_basis.';

-- ---------------------------------------------------------------------------------------------------------
-- Outbound delivery and write-only secrets (issue 18, items 4 and 5). Same objects as sql/pre_install/060_channels.sql
-- (channel_secrets) and sql/pre_install/065_outbound.sql (outbound_allowlist).

-- The secret store's comments say what it holds now.
COMMENT ON TABLE ad_internal.channel_secrets IS
    'Channel secrets (HMAC key, SMTP password, PagerDuty routing key, Slack webhook URL). Readable by the worker '
    'role only; cleared when the channel''s destination changes.';
COMMENT ON COLUMN ad_internal.channel_secrets.secret IS
    'The secret: webhook HMAC key, PagerDuty routing key, Slack webhook URL or SMTP password.';
CREATE TABLE ad_internal.channel_secret_headers (
    channel_id uuid NOT NULL REFERENCES ad.channels (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (name = lower(name) AND name ~ '^[!#$%&''*+.^_`|~0-9a-z-]{1,100}$'),
    value      text NOT NULL CHECK (length(value) <= 8000 AND value !~ '[\r\n]'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, name)
);
COMMENT ON TABLE ad_internal.channel_secret_headers IS
    'Secret HTTP headers of channels (Authorization, API keys), sent with every request to the channel. Set by '
    'ad.set_channel_header_secret(); readable by the worker role only; cleared when the channel''s destination changes.';
COMMENT ON COLUMN ad_internal.channel_secret_headers.channel_id IS 'The channel.';
COMMENT ON COLUMN ad_internal.channel_secret_headers.name IS 'Header name, lowercase.';
COMMENT ON COLUMN ad_internal.channel_secret_headers.value IS 'Header value.';
COMMENT ON COLUMN ad_internal.channel_secret_headers.updated_at IS 'When it was last set.';

CREATE TABLE ad_internal.outbound_allowlist (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host       text UNIQUE CHECK (host = lower(host) AND length(host) BETWEEN 1 AND 253 AND host !~ '[\s/@:]'),
    network    cidr UNIQUE,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT current_user,
    CHECK ((host IS NULL) <> (network IS NULL))
);
COMMENT ON TABLE ad_internal.outbound_allowlist IS
    'Destinations the database owner allows although they point inward (loopback, link-local, private, CGNAT, '
    'multicast, reserved). Checked by the worker at send time, after resolving the name. Only the owner (or a '
    'superuser) can change it; the worker reads it.';
COMMENT ON COLUMN ad_internal.outbound_allowlist.id IS 'Row id.';
COMMENT ON COLUMN ad_internal.outbound_allowlist.host IS
    'A host name (lowercase, as in the channel URL or smtp_host): any address it resolves to is allowed.';
COMMENT ON COLUMN ad_internal.outbound_allowlist.network IS 'A network: addresses in it are allowed (127.0.0.0/8, ::1/128).';
COMMENT ON COLUMN ad_internal.outbound_allowlist.note IS 'Why it is allowed.';
COMMENT ON COLUMN ad_internal.outbound_allowlist.created_at IS 'When it was added.';
COMMENT ON COLUMN ad_internal.outbound_allowlist.created_by IS 'Who added it (the database role).';

-- The claim takes the channels to skip and a per-channel cap, and returns the secret headers.
DROP FUNCTION ad_internal.claim_deliveries(int, interval);

-- Secrets that 0.1.0 let operators keep in readable columns move to the secret store (before the re-run files
-- install the trigger that clears secrets on a target change, and the checks that now refuse them).
-- 1. Credential-looking headers.
WITH moved AS (
    SELECT c.id, h.key, h.value #>> '{}' AS value
      FROM ad.channels c, jsonb_each(c.headers) h
     WHERE c.type <> 'email' AND jsonb_typeof(h.value) = 'string'
       AND (lower(h.key) ~ '(auth|token|secret|passw|api-?key|apikey|x-key|session|cookie|credential|signature|private)'
            OR (h.value #>> '{}') ~* '^\s*(bearer|basic|token|digest|apikey|key)\s')
), stored AS (
    INSERT INTO ad_internal.channel_secret_headers (channel_id, name, value)
    SELECT m.id, lower(m.key), m.value FROM moved m
    ON CONFLICT (channel_id, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
)
UPDATE ad.channels c SET headers = c.headers - (SELECT array_agg(m.key) FROM moved m WHERE m.id = c.id)
 WHERE c.id IN (SELECT m.id FROM moved m);
-- 2. Slack webhook URLs: the URL becomes the secret, the target its origin.
INSERT INTO ad_internal.channel_secrets AS s (channel_id, secret)
SELECT c.id, c.target FROM ad.channels c
 WHERE c.type = 'slack' AND c.target ~* '^https?://hooks\.slack(-gov)?\.com/.'
ON CONFLICT (channel_id) DO UPDATE SET secret = EXCLUDED.secret, updated_at = now();
UPDATE ad.channels c SET target = substring(c.target FROM '^(https?://[^/]+)')
 WHERE c.type = 'slack' AND c.target ~* '^https?://hooks\.slack(-gov)?\.com/.';
-- 3. A send may take at most 60 s now (the delivery lease must outlast it).
UPDATE ad.channels c SET config = jsonb_set(c.config, '{timeout_seconds}', '60')
 WHERE jsonb_typeof(c.config -> 'timeout_seconds') = 'number' AND (c.config ->> 'timeout_seconds')::numeric > 60;
-- Email channels with a username and tls "none" cannot be fixed here (their server may not offer TLS): the worker
-- refuses to send their password in clear (a failed delivery saying so) until an operator sets tls.

-- Quarantine (as sql/pre_install/045_quarantine.sql): points the worker could not score.
CREATE TABLE ad.quarantined_points (
    source_id       uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    point_timestamp timestamptz NOT NULL,
    error           text NOT NULL,
    sqlstate        text,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    requeued_at     timestamptz,
    requeued_by     name,
    PRIMARY KEY (source_id, point_timestamp)
);
COMMENT ON TABLE ad.quarantined_points IS
    'Points the worker could not score: a scoring batch that failed for a reason tied to its rows was split until '
    'the failing point stood alone (or a lone point still hit the statement timeout), and that point was set aside '
    'here so every other point is scored. The point stays in ad.data_points, unscored; the claim skips it while '
    'requeued_at is NULL. Operators read ad.quarantine and call ad.requeue_quarantined() to score it again.';
COMMENT ON COLUMN ad.quarantined_points.source_id IS 'The point''s source (deleting the source deletes this row).';
COMMENT ON COLUMN ad.quarantined_points.point_timestamp IS
    'The point''s "timestamp": with source_id, the point''s key in ad.data_points.';
COMMENT ON COLUMN ad.quarantined_points.error IS 'The server''s error for the point''s batch, in its words.';
COMMENT ON COLUMN ad.quarantined_points.sqlstate IS 'That error''s SQLSTATE (57014: the statement timeout).';
COMMENT ON COLUMN ad.quarantined_points.quarantined_at IS 'When it was last quarantined.';
COMMENT ON COLUMN ad.quarantined_points.attempts IS 'How many times it was quarantined (a re-queued point that fails again counts again).';
COMMENT ON COLUMN ad.quarantined_points.requeued_at IS
    'When an operator re-queued it (ad.requeue_quarantined); NULL while it is quarantined.';
COMMENT ON COLUMN ad.quarantined_points.requeued_by IS 'The login that re-queued it.';

-- Issue 18, item 3: a point's identity is its key. Anomalies are unique per (source_id, point_timestamp, detector)
-- rather than per data_point_id, which a loader could choose and repeat across sources. A 0.1.0 database may hold
-- two anomalies of one key (a point deleted and sent again got a new id, and was scored again): the latest stays,
-- and the alerts and feedback of the others move to it first, so nothing that refers to them is lost.
WITH dup AS (
    SELECT id, point_timestamp, keep_id
      FROM (SELECT id, point_timestamp,
                   first_value(id) OVER (PARTITION BY source_id, point_timestamp, detector
                                         ORDER BY detected_at DESC, id) AS keep_id
              FROM ad.anomalies) a
     WHERE id <> keep_id
), moved_alerts AS (
    UPDATE ad.alerts al SET anomaly_id = d.keep_id
      FROM dup d WHERE al.anomaly_id = d.id AND al.anomaly_timestamp = d.point_timestamp
), moved_feedback AS (
    UPDATE ad.feedback f SET anomaly_id = d.keep_id
      FROM dup d WHERE f.anomaly_id = d.id AND f.anomaly_timestamp = d.point_timestamp
)
DELETE FROM ad.anomalies a USING dup d WHERE a.id = d.id AND a.point_timestamp = d.point_timestamp;
ALTER TABLE ad.anomalies DROP CONSTRAINT anomalies_data_point_id_point_timestamp_detector_key;
ALTER TABLE ad.anomalies ADD CONSTRAINT anomalies_source_id_point_timestamp_detector_key
    UNIQUE (source_id, point_timestamp, detector);
COMMENT ON TABLE ad.anomalies IS
    'Points the worker scored over their threshold. Refers to its point by its key (source_id, point_timestamp), '
    'and by data_point_id, the id the server gave it; no foreign key, because data_points may be a hypertable. '
    'Keyed on the point''s time, so it can be one too.';
COMMENT ON COLUMN ad.anomalies.data_point_id IS
    'The anomalous point''s id (ad.data_points.id), which the server derives from its source and time '
    '(ad_internal.point_id); rows written before 0.2.0 keep the id the point had then.';
COMMENT ON COLUMN ad.data_points.id IS
    'Point id, given by the server: when the worker scores the point it sets it to ad_internal.point_id(source_id, '
    '"timestamp"), unique across sources, and the point''s anomalies refer to it. Leave it out; an id a loader sends '
    'lasts only until then. The point''s identity is its key (source_id, "timestamp").';

-- ---------------------------------------------------------------------------------------------------------------
-- Issue 19, models from SQL: training jobs on ad.ml_models, one production model per source, the built-in
-- streaming scorer registered as a model (anomalies default to it), labelled incidents, drift reports.
ALTER TABLE ad.ml_models
    ADD COLUMN progress    text,
    ADD COLUMN started_at  timestamptz,
    ADD COLUMN claimed_by  text,
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN retrain_of  uuid REFERENCES ad.ml_models (id) ON DELETE SET NULL,
    ADD COLUMN mlflow      jsonb CHECK (mlflow IS NULL OR jsonb_typeof(mlflow) = 'object');
COMMENT ON COLUMN ad.ml_models.progress IS 'What training is doing now, in words (updated while it runs).';
COMMENT ON COLUMN ad.ml_models.started_at IS 'When a worker first claimed the training job.';
COMMENT ON COLUMN ad.ml_models.claimed_by IS 'The worker that holds the training job.';
COMMENT ON COLUMN ad.ml_models.lease_until IS
    'Until when that worker holds it; renewed while it trains. Past it, another worker takes the job over.';
COMMENT ON COLUMN ad.ml_models.attempts IS 'How many times a worker claimed the training job.';
COMMENT ON COLUMN ad.ml_models.retrain_of IS 'The production model whose drift asked for this one, if any.';
COMMENT ON COLUMN ad.ml_models.mlflow IS 'Where the run was logged in MLflow (experiment, run, model version), if it was.';
-- 0.1.0 allowed one production model per name; now it is one per source (all sources: the streaming scorer).
-- Rows people wrote by hand that would break that rule are deprecated, the latest promoted one kept.
UPDATE ad.ml_models m SET status = 'deprecated'
 WHERE m.status = 'production'
   AND (m.source_id IS NULL
        OR m.id <> (SELECT k.id FROM ad.ml_models k WHERE k.status = 'production' AND k.source_id = m.source_id
                     ORDER BY k.promoted_at DESC NULLS LAST, k.created_at DESC, k.id LIMIT 1));
DROP INDEX ad.ml_models_one_production_idx;
-- A row people wrote by hand as "streaming" v1 keeps its data under another name: the name is the built-in's now.
UPDATE ad.ml_models SET name = 'streaming (before 0.2.0)'
 WHERE name = 'streaming' AND id <> '00000000-0000-4000-8000-000000000001';
-- The built-in streaming scorer is a model too, so every anomaly names the model that produced it. Its id is fixed:
-- ad.anomalies.model_id defaults to it.
INSERT INTO ad.ml_models (id, name, version, algorithm, source_id, status, parameters, trained_at, promoted_at)
VALUES ('00000000-0000-4000-8000-000000000001', 'streaming', 1, 'streaming', NULL, 'production',
        '{"description": "The built-in streaming scorer: per-metric robust, novelty, burst, level-shift and seasonal streams (source config)."}',
        now(), now());

CREATE UNIQUE INDEX ml_models_one_production_idx ON ad.ml_models ((coalesce(source_id, '00000000-0000-0000-0000-000000000000')))
    WHERE status = 'production';
COMMENT ON INDEX ad.ml_models_one_production_idx IS
    'At most one production model per scope: a source, or all sources (the built-in streaming scorer).';
CREATE INDEX ml_models_jobs_idx ON ad.ml_models (created_at) WHERE status IN ('training', 'evaluating');
COMMENT ON INDEX ad.ml_models_jobs_idx IS 'Training jobs waiting or running, for the worker''s claim.';
ALTER TABLE ad.anomalies ALTER COLUMN model_id SET DEFAULT '00000000-0000-4000-8000-000000000001';
UPDATE ad.anomalies SET model_id = '00000000-0000-4000-8000-000000000001' WHERE model_id IS NULL;
COMMENT ON COLUMN ad.anomalies.model_id IS
    'The model that produced it: a trained model (ad.ml_models), or the built-in streaming scorer''s row (name streaming).';
CREATE TABLE ad.labelled_incidents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id   uuid NOT NULL REFERENCES ad.data_sources (id) ON DELETE CASCADE,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    note        text CHECK (length(note) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT session_user,
    CHECK (ends_at > starts_at)
);
COMMENT ON TABLE ad.labelled_incidents IS
    'Incident windows people recorded: every point of the source with "timestamp" in [starts_at, ends_at) is '
    'anomalous when a model is evaluated, and is left out of what it trains on. Record one with ad.label_incident().';
COMMENT ON COLUMN ad.labelled_incidents.id IS 'Label number.';
COMMENT ON COLUMN ad.labelled_incidents.source_id IS 'The source the incident happened on.';
COMMENT ON COLUMN ad.labelled_incidents.starts_at IS 'First instant of the incident.';
COMMENT ON COLUMN ad.labelled_incidents.ends_at IS 'End of the incident (exclusive).';
COMMENT ON COLUMN ad.labelled_incidents.note IS 'What happened, in words.';
COMMENT ON COLUMN ad.labelled_incidents.created_at IS 'When it was recorded.';
COMMENT ON COLUMN ad.labelled_incidents.created_by IS 'The login that recorded it.';
CREATE INDEX labelled_incidents_source_idx ON ad.labelled_incidents (source_id, starts_at);
COMMENT ON INDEX ad.labelled_incidents_source_idx IS 'The labels of one source over a time range.';

CREATE TABLE ad.drift_reports (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id                uuid NOT NULL REFERENCES ad.ml_models (id) ON DELETE CASCADE,
    checked_at              timestamptz NOT NULL DEFAULT now(),
    recent_from             timestamptz NOT NULL,
    recent_to               timestamptz NOT NULL,
    recent_points           bigint NOT NULL CHECK (recent_points >= 0),
    features                jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(features) = 'array'),
    max_psi                 double precision,
    max_ks                  double precision,
    anomaly_rate            double precision,
    reference_anomaly_rate  double precision,
    threshold               double precision NOT NULL,
    drifted                 boolean NOT NULL,
    retrain_model_id        uuid REFERENCES ad.ml_models (id) ON DELETE SET NULL
);
COMMENT ON TABLE ad.drift_reports IS
    'One check of a production model by the drift monitor: its recent inputs against its training window, '
    'feature by feature, and its recent anomaly rate against the rate on its evaluation split.';
COMMENT ON COLUMN ad.drift_reports.id IS 'Report number.';
COMMENT ON COLUMN ad.drift_reports.model_id IS 'The production model checked.';
COMMENT ON COLUMN ad.drift_reports.checked_at IS 'When the check ran.';
COMMENT ON COLUMN ad.drift_reports.recent_from IS 'Start of the recent window compared.';
COMMENT ON COLUMN ad.drift_reports.recent_to IS 'End of the recent window compared.';
COMMENT ON COLUMN ad.drift_reports.recent_points IS 'Points of the source in the recent window.';
COMMENT ON COLUMN ad.drift_reports.features IS
    'Per model feature: {"feature", "psi", "ks", "ks_p_value"}, population stability index and two-sample '
    'Kolmogorov-Smirnov statistic of the recent values against the training window''s.';
COMMENT ON COLUMN ad.drift_reports.max_psi IS 'The largest feature PSI (NULL when too few recent points).';
COMMENT ON COLUMN ad.drift_reports.max_ks IS 'The largest feature KS statistic.';
COMMENT ON COLUMN ad.drift_reports.anomaly_rate IS 'Share of recent points the model scored at or above low.';
COMMENT ON COLUMN ad.drift_reports.reference_anomaly_rate IS 'The same share on its evaluation split when trained.';
COMMENT ON COLUMN ad.drift_reports.threshold IS 'The PSI past which the model counts as drifted (setting drift_psi_threshold).';
COMMENT ON COLUMN ad.drift_reports.drifted IS 'Whether max_psi passed the threshold.';
COMMENT ON COLUMN ad.drift_reports.retrain_model_id IS 'The retraining this report requested, if it did.';
CREATE INDEX drift_reports_model_idx ON ad.drift_reports (model_id, checked_at);
COMMENT ON INDEX ad.drift_reports_model_idx IS 'The reports of one model over time.';

-- ---------------------------------------------------------------------------------------------------------------
-- The HTTP API and console (issue 20): bearer tokens. Same table as sql/pre_install/055_api_tokens.sql.
CREATE TABLE ad.api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,59}$'),
    db_role      name NOT NULL,
    user_id      uuid REFERENCES ad.users (id),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   name NOT NULL DEFAULT session_user,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   name,
    last_used_at timestamptz
);
COMMENT ON TABLE ad.api_tokens IS
    'Bearer tokens of the HTTP API and console: each maps to a database role (every request runs as it) and, '
    'for attribution, to a person. Only a SHA-256 of the token is stored. Owner only: ad.issue_api_token, '
    'ad.revoke_api_token.';
COMMENT ON COLUMN ad.api_tokens.id IS 'Token id (what ad.current_person() resolves; never a secret).';
COMMENT ON COLUMN ad.api_tokens.name IS 'A name for the token, unique: letters, digits, _ . @ -, at most 60.';
COMMENT ON COLUMN ad.api_tokens.db_role IS 'The database role each request runs as (SET ROLE).';
COMMENT ON COLUMN ad.api_tokens.user_id IS 'The person actions are attributed to in ad.audit_log; NULL for a service.';
COMMENT ON COLUMN ad.api_tokens.token_hash IS 'SHA-256 of the token; the token itself is shown once, when issued.';
COMMENT ON COLUMN ad.api_tokens.created_at IS 'When it was issued.';
COMMENT ON COLUMN ad.api_tokens.created_by IS 'The login that issued it.';
COMMENT ON COLUMN ad.api_tokens.expires_at IS 'When it stops working; NULL for never.';
COMMENT ON COLUMN ad.api_tokens.revoked_at IS 'When it was revoked; NULL while valid.';
COMMENT ON COLUMN ad.api_tokens.revoked_by IS 'The login that revoked it.';
COMMENT ON COLUMN ad.api_tokens.last_used_at IS 'When a request last presented it (to the minute).';
REVOKE ALL ON ad.api_tokens FROM PUBLIC;

-- db_poll sources (issue 21). Same tables as sql/pre_install/105_polling.sql.
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
