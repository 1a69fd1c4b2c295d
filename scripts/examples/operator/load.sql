-- Minutes :from to :to of 2026-01-01 for web-1, inserted the way a data engineer would: latency around 52 ms with
-- noise (seeded, so every run is the same), a +30 bump every 150 minutes from 05:00 (a nightly batch job) and +200
-- spikes at 17:30 and 22:30 (incidents).
SELECT setseed(:from / 10000.0);
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT '00000000-0000-0000-0000-0000000000a1', timestamptz '2026-01-01 00:00Z' + g * interval '1 minute',
       jsonb_build_object('latency_ms', round((50 + 2 * (random() + random() + random())
           + CASE WHEN g IN (1050, 1350) THEN 200 WHEN g >= 300 AND (g - 300) % 150 = 0 THEN 30 ELSE 0 END)::numeric, 2))
  FROM generate_series(:from, :to) g
 ORDER BY g;
