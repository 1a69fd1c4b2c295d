-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- Write-only secrets that follow their destination: secret HTTP headers, and the trigger that clears a channel's
-- secrets when its destination changes (README, "Channels").
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad.set_channel_header_secret(channel text, header text, value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    cid uuid;
    ctype text;
BEGIN
    SELECT c.id, c.type INTO cid, ctype FROM ad.channels c WHERE c.name = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.set_channel_header_secret: unknown channel "%"', channel USING ERRCODE = 'no_data_found';
    END IF;
    IF ctype = 'email' THEN
        RAISE EXCEPTION 'ad.set_channel_header_secret: channel "%" is an email channel; it sends no HTTP headers', channel
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF header IS NULL OR header !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]{1,100}$' THEN
        RAISE EXCEPTION 'ad.set_channel_header_secret: "%" is not a valid HTTP header name', header
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lower(header) IN ('content-type', 'content-length', 'host', 'idempotency-key', 'x-ad-alert-id', 'x-ad-event',
                         'x-ad-timestamp', 'x-ad-signature', 'user-agent', 'transfer-encoding', 'connection') THEN
        RAISE EXCEPTION 'ad.set_channel_header_secret: header % is set by adworker itself', header
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF value ~ '[\r\n\x00]' OR length(value) > 8000 THEN
        RAISE EXCEPTION 'ad.set_channel_header_secret: the value of % must be at most 8000 characters without line breaks', header
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF value IS NULL THEN
        DELETE FROM ad_internal.channel_secret_headers h WHERE h.channel_id = cid AND h.name = lower(header);
    ELSE
        INSERT INTO ad_internal.channel_secret_headers AS h (channel_id, name, value) VALUES (cid, lower(header), value)
        ON CONFLICT (channel_id, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now();
    END IF;
END
$fn$;
COMMENT ON FUNCTION ad.set_channel_header_secret(text, text, text) IS
    'Sets (or with NULL removes) a secret HTTP header of a channel (Authorization, X-Api-Key, ...), sent with every '
    'request to it. Write-only like ad.set_channel_secret: only the worker reads it; a destination change clears it.';
REVOKE ALL ON FUNCTION ad.set_channel_header_secret(text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ad_internal.channel_destination_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    cleared boolean;
BEGIN
    DELETE FROM ad_internal.channel_secrets s WHERE s.channel_id = NEW.id;
    cleared := FOUND;
    DELETE FROM ad_internal.channel_secret_headers h WHERE h.channel_id = NEW.id;
    IF cleared OR FOUND THEN
        RAISE NOTICE 'channel "%": its destination changed, so its secrets were cleared', NEW.name
            USING HINT = format('Set them again for the new destination: SELECT ad.set_channel_secret(%L, ''...'')',
                                NEW.name);
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ad_internal.channel_destination_changed() IS
    'Clears a channel''s secrets when its destination changes, so a new target never receives the old secret.';
REVOKE ALL ON FUNCTION ad_internal.channel_destination_changed() FROM PUBLIC;

CREATE OR REPLACE TRIGGER channel_destination_changed AFTER UPDATE ON ad.channels
    FOR EACH ROW
    WHEN (OLD.type IS DISTINCT FROM NEW.type OR OLD.target IS DISTINCT FROM NEW.target
          OR OLD.config -> 'smtp_host' IS DISTINCT FROM NEW.config -> 'smtp_host'
          OR OLD.config -> 'smtp_port' IS DISTINCT FROM NEW.config -> 'smtp_port'
          OR OLD.config -> 'tls' IS DISTINCT FROM NEW.config -> 'tls'
          OR OLD.config -> 'username' IS DISTINCT FROM NEW.config -> 'username'
          OR OLD.config -> 'ca_file' IS DISTINCT FROM NEW.config -> 'ca_file')
    EXECUTE FUNCTION ad_internal.channel_destination_changed();
COMMENT ON TRIGGER channel_destination_changed ON ad.channels IS
    'Type, target, SMTP host, port, TLS mode, username or CA changed: the channel''s secrets are cleared.';
