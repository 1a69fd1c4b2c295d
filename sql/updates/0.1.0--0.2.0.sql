-- 0.1.0 to 0.2.0. sql/ was laid out for upgrades (pre_install/, re-run files, updates/); the tables are the same.
-- After this step, every update re-runs sql/NNN_*.sql (functions, triggers, views, comments, grants).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- An anomaly's explanation is one typed, versioned document (adworker's Explanation): the column says so.
COMMENT ON COLUMN ad.anomalies.explanation IS
    'Why it fired, for people: one versioned document (adworker''s Explanation type documents it): version, '
    'detector, decided_by (the deciding stream), metric, actual, expected, expected_range [low, high], score, '
    'surprise, top_contributions [{metric, feature, value, surprise}], metrics_off, pattern {measure, direction, '
    'deviation}, resting, and reason (one sentence saying why). Rows written by 0.1.0 have no version, decided_by '
    'or reason.';

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
