-- One live tick of the demo feed: a point per source at now(), as a data engineer's loader would INSERT it.
-- Faults come from the clock: a CPU spike 3 s of every 40, a database outage 2 s of every 55, and latency
-- stepping up by 60 ms for 20 s of every 90.
WITH t AS (SELECT now() AS ts, extract(epoch FROM now()) AS e, extract(epoch FROM now()) / 86400.0 AS day)
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT s.id, t.ts,
       CASE s.name
         WHEN 'web-1' THEN jsonb_build_object(
             'cpu', round((40 + 25 * sin(2 * pi() * t.day) + 4 * (random() - 0.5)
                          + CASE WHEN t.e::bigint % 40 < 3 THEN 45 ELSE 0 END)::numeric, 2),
             'latency_ms', round((120 + 30 * sin(2 * pi() * t.day + 0.5) + 10 * (random() - 0.5)
                          + CASE WHEN t.e::bigint % 90 BETWEEN 60 AND 79 THEN 60 ELSE 0 END)::numeric, 1))
         WHEN 'db-1' THEN jsonb_build_object(
             'connections', CASE WHEN t.e::bigint % 55 < 2 THEN 3
                                 ELSE round(200 + 80 * sin(2 * pi() * t.day) + 20 * (random() - 0.5)) END)
         ELSE jsonb_build_object('depth', round(greatest(0, 50 + 10 * (random() - 0.5))))
       END
  FROM t CROSS JOIN ad.data_sources s
 WHERE s.name IN ('web-1', 'db-1', 'queue-1');
