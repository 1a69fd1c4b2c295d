-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
-- A point's identity is its key, (source_id, "timestamp"). Its id is derived from that key by the server, so no
-- loader can choose or collide one: the worker claims points under this id and writes it to the point and to its
-- anomalies when it scores them (an id a loader sent lasts only while the point is queued).
SET LOCAL search_path TO pg_catalog, pg_temp;

-- A name-based UUID (RFC 4122 version 3: MD5) with the source id as its namespace and the point's time (the
-- 8 bytes of PostgreSQL's binary timestamptz, microseconds since 2000) as its name. timestamptz_send and uuid_send
-- are immutable, unlike the text forms, which depend on TimeZone and DateStyle.
CREATE OR REPLACE FUNCTION ad_internal.point_id(point_source uuid, point_time timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 48),  -- version 3
                              8, (get_byte(h, 8) & 63) | 128),             -- RFC 4122 variant
                     'hex')::uuid
          FROM (SELECT decode(md5(uuid_send(point_source) || timestamptz_send(point_time)), 'hex') AS h) d);
COMMENT ON FUNCTION ad_internal.point_id(uuid, timestamptz) IS
    'The server''s id of the point at (source, time): a version-3 UUID of the source id and the time. The worker '
    'gives each point it scores this id, and its anomalies refer to it.';
