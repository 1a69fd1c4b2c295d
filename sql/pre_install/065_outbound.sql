-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
-- Outbound delivery policy: where the worker may send alerts besides public addresses (README, "Outbound policy"),
-- and secret HTTP headers beside ad_internal.channel_secrets.
SET LOCAL search_path TO pg_catalog, pg_temp;

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
