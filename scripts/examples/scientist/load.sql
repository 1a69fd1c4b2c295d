-- Minutes [:from, :to] of pump-7 from 2026-11-01: flow follows the day, pressure is about twice the flow. Minutes
-- in [:broken_from, :broken_to] have a leaking seal: pressure 6 higher than the flow explains, while each metric
-- alone stays within its usual range. :shift moves the flow up (a changed duty cycle).
INSERT INTO ad.data_points (source_id, "timestamp", values)
SELECT '00000000-0000-0000-0000-0000000000b1', timestamptz '2026-11-01 00:00:00+00' + g * interval '1 minute',
       jsonb_build_object('flow', round(f::numeric, 3),
                          'pressure', round((2 * f + ((g * 7919) % 997) / 997.0 * 0.4
                                             + CASE WHEN g BETWEEN :broken_from AND :broken_to THEN 6 ELSE 0 END)::numeric, 3))
  FROM generate_series(:from, :to) g,
       LATERAL (SELECT 10 + :shift + 3 * sin(2 * pi() * g / 1440.0) + ((g * 104729) % 991) / 991.0 * 0.4 AS f) v;
