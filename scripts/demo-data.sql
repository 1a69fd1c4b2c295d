-- A small synthetic data set, inserted the way a data engineer would: register sources, INSERT points.
-- Two days at one point a minute for three sources: daily seasonality, noise, and a few injected faults
-- (a ten-minute CPU spike 30 hours ago, latency shifted up from 30 to 27 hours ago, a queue that drifted up and
-- recovered between 20 and 8 hours ago), all over before now. Idempotent: ON CONFLICT DO NOTHING.
-- No fault is near 24 hours ago: the live feed starts now, and the seasonal detector abstains on a point whose
-- value a day before was an anomaly (the latency shift once ended exactly 24 hours before the feed began, which
-- silenced the daily detector for the feed's first minute).
INSERT INTO ad.data_sources (name, type, description) VALUES
    ('web-1', 'sql', 'Web front end: cpu (%) and latency_ms'),
    ('db-1', 'sql', 'Primary database: connections'),
    ('queue-1', 'sql', 'Job queue: depth')
ON CONFLICT (name) DO NOTHING;

WITH t AS (
    SELECT date_trunc('minute', now()) - g * interval '1 minute' AS ts,
           extract(epoch FROM date_trunc('minute', now()) - g * interval '1 minute') / 86400.0 AS day
      FROM generate_series(0, 2 * 1440 - 1) g
)
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT s.id, t.ts,
       CASE s.name
         WHEN 'web-1' THEN jsonb_build_object(
             'cpu', round((40 + 25 * sin(2 * pi() * t.day) + 4 * (random() - 0.5)
                          + CASE WHEN t.ts BETWEEN now() - interval '30 hours' AND now() - interval '29 hours 50 minutes'
                                 THEN 45 ELSE 0 END)::numeric, 2),
             'latency_ms', round((120 + 30 * sin(2 * pi() * t.day + 0.5) + 10 * (random() - 0.5)
                          + CASE WHEN t.ts BETWEEN now() - interval '30 hours' AND now() - interval '27 hours'
                                 THEN 80 ELSE 0 END)::numeric, 1))
         WHEN 'db-1' THEN jsonb_build_object(
             'connections', round(200 + 80 * sin(2 * pi() * t.day) + 20 * (random() - 0.5)))
         ELSE jsonb_build_object(
             'depth', round(greatest(0, 50 + 10 * (random() - 0.5)
                          + CASE WHEN t.ts BETWEEN now() - interval '20 hours' AND now() - interval '8 hours'
                                 THEN 200 * sin(pi() * extract(epoch FROM t.ts - (now() - interval '20 hours')) / 43200)
                                 ELSE 0 END)))
       END
  FROM t CROSS JOIN ad.data_sources s
 WHERE s.name IN ('web-1', 'db-1', 'queue-1')
ON CONFLICT DO NOTHING;
