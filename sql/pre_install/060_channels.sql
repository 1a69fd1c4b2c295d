-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.channels (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    type       text NOT NULL CHECK (type IN ('email', 'slack', 'pagerduty', 'webhook', 'alertmanager')),
    target     text NOT NULL CHECK (length(target) BETWEEN 1 AND 2000),
    headers    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad.channels IS
    'Named alert destinations (the webhook registry). Secrets live apart, readable by the worker only; '
    'set them with ad.set_channel_secret().';
COMMENT ON COLUMN ad.channels.id IS 'Channel id.';
COMMENT ON COLUMN ad.channels.name IS 'Unique name that rules refer to.';
COMMENT ON COLUMN ad.channels.type IS 'email, slack, pagerduty, webhook or alertmanager.';
COMMENT ON COLUMN ad.channels.target IS
    'Where to send: a URL (webhook, slack, alertmanager), a PagerDuty Events API URL, or email addresses.';
COMMENT ON COLUMN ad.channels.headers IS 'Extra HTTP headers (not secret).';
COMMENT ON COLUMN ad.channels.config IS 'Channel settings (timeouts, SMTP host and TLS mode, ...); not secret.';
COMMENT ON COLUMN ad.channels.active IS 'False stops sending to this channel.';
COMMENT ON COLUMN ad.channels.created_at IS 'When the channel was added.';
COMMENT ON COLUMN ad.channels.updated_at IS 'When it last changed.';

CREATE TABLE ad_internal.channel_secrets (
    channel_id uuid PRIMARY KEY REFERENCES ad.channels (id) ON DELETE CASCADE,
    secret     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad_internal.channel_secrets IS
    'Channel secrets (HMAC key, SMTP password, PagerDuty routing key, Slack webhook URL). Readable by the worker '
    'role only; cleared when the channel''s destination changes.';
COMMENT ON COLUMN ad_internal.channel_secrets.channel_id IS 'The channel.';
COMMENT ON COLUMN ad_internal.channel_secrets.secret IS
    'The secret: webhook HMAC key, PagerDuty routing key, Slack webhook URL or SMTP password.';
COMMENT ON COLUMN ad_internal.channel_secrets.updated_at IS 'When it was last set.';
