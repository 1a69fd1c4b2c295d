-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad.set_channel_secret(channel text, secret text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $fn$
DECLARE
    cid uuid;
BEGIN
    SELECT c.id INTO cid FROM ad.channels c WHERE c.name = channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad.set_channel_secret: unknown channel "%"', channel USING ERRCODE = 'no_data_found';
    END IF;
    IF secret IS NULL THEN
        DELETE FROM ad_internal.channel_secrets s WHERE s.channel_id = cid;
    ELSE
        INSERT INTO ad_internal.channel_secrets AS s (channel_id, secret) VALUES (cid, secret)
        ON CONFLICT (channel_id) DO UPDATE SET secret = EXCLUDED.secret, updated_at = now();
    END IF;
END
$fn$;
COMMENT ON FUNCTION ad.set_channel_secret(text, text) IS
    'Sets (or with NULL removes) the secret of a channel by name: webhook HMAC key, PagerDuty routing key, Slack '
    'webhook URL or SMTP password. Write-only: nobody but the worker can read it back; changing the channel''s '
    'destination (type, target, SMTP host, port, TLS mode, username or CA) clears it.';
REVOKE ALL ON FUNCTION ad.set_channel_secret(text, text) FROM PUBLIC;
