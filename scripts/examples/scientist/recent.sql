-- The last day before now on pump-7: the duty cycle changed and the flow runs 4 higher (pressure follows it).
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT '00000000-0000-0000-0000-0000000000b1', date_trunc('minute', now()) - interval '1 day' + g * interval '1 minute',
       jsonb_build_object('flow', round(f::numeric, 3), 'pressure', round((2 * f + ((g * 7919) % 997) / 997.0 * 0.4)::numeric, 3))
  FROM generate_series(0, 1439, 5) g,
       LATERAL (SELECT 14 + 3 * sin(2 * pi() * g / 1440.0) + ((g * 104729) % 991) / 991.0 * 0.4 AS f) v;
