/// The scoring cycle's SQL, by phase, all in one transaction: the claim, the two feature queries (for sources the
/// worker has cached and for the rest), then the writes.
enum ScoringQueries {
    /// Claims up to $1 unscored points, oldest first, SKIP LOCKED; $2: sources not to claim (not active, or an
    /// unusable config, as the worker's catalog knows them; a claimed point of a source the catalog does not know
    /// makes `ScoringCycle.claim` load the catalog again and drop what is not scorable). No join: with one, a planner
    /// without statistics for ad.data_sources (a few seconds after sources were created) read the whole backlog and
    /// sorted it at every claim (docs/design.md, "The claim does not join"). $3, $4: this loop's share of the sources
    /// (hash of the source id modulo $3 is $4). Timestamps travel as integer microseconds since the Unix epoch,
    /// exact both ways. The id is the server's (`ad_internal.point_id` of the key), never the one a loader sent:
    /// the cycle keys points by it, and it is unique across sources.
    static let claim = """
        SELECT ad_internal.point_id(p.source_id, p."timestamp"), p.source_id, (extract(epoch FROM p."timestamp") * 1000000)::int8, p.values::text
          FROM ad.data_points p
         WHERE p.anomaly_score IS NULL
           AND p.source_id <> ALL ($2::uuid[])
           AND ($3::int4 = 1 OR (hashtext(p.source_id::text) & 2147483647) % $3::int4 = $4::int4)
         ORDER BY p."timestamp", p.source_id
         LIMIT $1
           FOR UPDATE OF p SKIP LOCKED
        """

    /// One row per claimed point ($6 ids, $1 sources, $2 µs, $7 values: passed back rather than read again, which
    /// the planner may do with a scan of the whole table) and metric, with its window features over the claimed points
    /// plus their context: the $3 points before each source's earliest claimed point, and any points between
    /// claimed ones (so a late point among newer ones gets its own past). Strictly causal: every window ends
    /// before its row. Used for sources the worker has not cached, or whose cache `featuresCached` found stale.
    /// $4: whether any source wants seasonal lags; $5: their tolerance. Each row also carries its position in the
    /// series and the detector state (`lik`) its nearest earlier scored row left, with that row's position.
    static let features = """
        WITH claimed AS (
            SELECT k.id, k.source_id, timestamptz 'epoch' + k.us * interval '1 microsecond' AS "timestamp", k.v::jsonb AS values
              FROM unnest($6::uuid[], $1::uuid[], $2::int8[], $7::text[]) AS k(id, source_id, us, v)
        ),
        heads AS (
            SELECT g.source_id, g.t0, g.t1,
                   -- Seasonal lag probes per point only for sources with any data a day (or week) before the batch.
                   \(seasonalProbes)
              FROM (SELECT source_id, min("timestamp") AS t0, max("timestamp") AS t1 FROM claimed GROUP BY source_id) g
        ),
        context AS (
            SELECT c.id, c.source_id, c."timestamp", c.values, c.features
              FROM heads h
             CROSS JOIN LATERAL (
                    SELECT d.id, d.source_id, d."timestamp", d.values, d.features FROM ad.data_points d
                     WHERE d.source_id = h.source_id AND d."timestamp" < h.t0
                     ORDER BY d."timestamp" DESC LIMIT $3) c
            UNION ALL
            SELECT b.id, b.source_id, b."timestamp", b.values, b.features
              FROM heads h
             CROSS JOIN LATERAL (
                    SELECT d.id, d.source_id, d."timestamp", d.values, d.features FROM ad.data_points d
                     WHERE d.source_id = h.source_id AND d."timestamp" > h.t0 AND d."timestamp" < h.t1
                    OFFSET 0) b  -- OFFSET 0 keeps it a per-source index range scan (not pulled up into a seq scan)
             WHERE h.t1 > h.t0
               AND NOT EXISTS (SELECT FROM claimed k WHERE k.source_id = b.source_id AND k."timestamp" = b."timestamp")
        ),
        lagged AS (
            SELECT c.id, daily.values AS daily, daily.anomaly_score AS daily_score,
                   weekly.values AS weekly, weekly.anomaly_score AS weekly_score
              FROM claimed c
              JOIN heads g ON g.source_id = c.source_id
              \(seasonalLags)
        ),
        series AS (
            SELECT c.id, c.source_id, c."timestamp", c.values, NULL::jsonb AS features, true AS target, l.daily, l.weekly
              FROM claimed c JOIN lagged l ON l.id = c.id
            UNION ALL
            SELECT id, source_id, "timestamp", values, features, false, NULL, NULL FROM context
        ),
        -- dd, dw: the value minus its value a day (week) earlier; a context row stored its own when scored.
        metric_rows AS (
            SELECT s.id, s.source_id, s."timestamp", s.target, kv.key AS metric, kv.value::float8 AS x,
                   s.features -> kv.key -> 'lik' AS lik,
                   CASE WHEN s.target THEN kv.value::float8 - (s.daily ->> kv.key)::float8
                        ELSE (s.features -> kv.key ->> 'dd')::float8 END AS dd,
                   CASE WHEN s.target THEN kv.value::float8 - (s.weekly ->> kv.key)::float8
                        ELSE (s.features -> kv.key ->> 'dw')::float8 END AS dw
              FROM series s CROSS JOIN LATERAL jsonb_each(s.values) kv
        ),
        -- Position, delta and time since the previous point by window functions; the history as one array per
        -- series, which each target slices (a sliding array_agg frame would rebuild W values for every row).
        windowed AS (
            SELECT m.*,
                   row_number() OVER ordered AS pos,
                   x - lag(x) OVER ordered AS delta,
                   extract(epoch FROM "timestamp" - lag("timestamp") OVER ordered)::float8 AS dt
              FROM metric_rows m
            WINDOW ordered AS (PARTITION BY source_id, metric ORDER BY "timestamp")
        ),
        -- The detector state each row's nearest earlier scored row left (its position in the series).
        stated AS (
            SELECT w.*, max(pos) FILTER (WHERE lik IS NOT NULL)
                          OVER (PARTITION BY source_id, metric ORDER BY "timestamp"
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS state_pos
              FROM windowed w
        ),
        histories AS (
            SELECT source_id, metric, array_agg(x ORDER BY "timestamp") AS xs, array_agg(lik ORDER BY "timestamp") AS liks,
                   -- NaN marks a point without one; a series with none at all sends none.
                   CASE WHEN bool_or(dd IS NOT NULL) THEN array_agg(coalesce(dd, 'NaN') ORDER BY "timestamp") END AS dds,
                   CASE WHEN bool_or(dw IS NOT NULL) THEN array_agg(coalesce(dw, 'NaN') ORDER BY "timestamp") END AS dws
              FROM metric_rows GROUP BY source_id, metric
        )
        SELECT w.id, w.source_id, (extract(epoch FROM w."timestamp") * 1000000)::int8 AS ts_us, w.metric, w.x,
               h.xs[greatest(1, w.pos - $3)::int : (w.pos - 1)::int] AS history,
               h.dds[greatest(1, w.pos - $3)::int : (w.pos - 1)::int] AS daily_diffs,
               h.dws[greatest(1, w.pos - $3)::int : (w.pos - 1)::int] AS weekly_diffs, w.delta, w.dt,
               (l.daily ->> w.metric)::float8 AS lag_daily, l.daily_score,
               (l.weekly ->> w.metric)::float8 AS lag_weekly, l.weekly_score,
               w.pos::int8, w.state_pos::int8, h.liks[w.state_pos]::text
          FROM stated w
          JOIN histories h ON h.source_id = w.source_id AND h.metric = w.metric
          JOIN lagged l ON l.id = w.id
         WHERE w.target
         ORDER BY w."timestamp", w.source_id, w.metric
        """

    /// The features query for points whose sources the worker has cached ($1 ids, $2 sources, $3 µs; $6 cached
    /// sources with $7, the time of each one's latest cached point; $4 whether any source wants seasonal lags, $5
    /// their tolerance, as in `features`). A row only for a point that is not `ok` or has a seasonal lag: its
    /// position in $1 (from 1), `ok`, and its seasonal lags (the values, as text, and score of the point a day and
    /// a week before). `ok`: the source's latest point before the batch is exactly the cached one and no point of
    /// the source lies between its claimed ones, so the cache plus the batch is the series' exact past. The worker
    /// reads each point's metrics from the values it claimed and takes deltas and times from the point before
    /// (`ScoringCycle.cachedRows`); a source that is not ok is asked again with `features`. It reads no context
    /// rows, aggregates no histories and expands no values, and in a steady stream without seasonal data it
    /// returns nothing at all (decoding a row per point showed in the worker's profile).
    static let featuresCached = """
        WITH claimed AS (
            SELECT k.n, k.id, k.source_id, timestamptz 'epoch' + k.us * interval '1 microsecond' AS "timestamp"
              FROM unnest($1::uuid[], $2::uuid[], $3::int8[]) WITH ORDINALITY AS k(id, source_id, us, n)
        ),
        heads AS MATERIALIZED (  -- once per source, not once per row (the planner would inline it)
            SELECT g.source_id,
                   \(seasonalProbes),
                   coalesce(c.last_us = (SELECT (extract(epoch FROM max(d."timestamp")) * 1000000)::int8
                                           FROM ad.data_points d
                                          WHERE d.source_id = g.source_id AND d."timestamp" < g.t0), false)
                   AND NOT EXISTS (SELECT FROM ad.data_points d
                                    WHERE d.source_id = g.source_id AND d."timestamp" > g.t0 AND d."timestamp" < g.t1
                                      AND d."timestamp" <> ALL (g.times)) AS ok
              FROM (SELECT source_id, min("timestamp") AS t0, max("timestamp") AS t1, array_agg("timestamp") AS times
                      FROM claimed GROUP BY source_id) g
              JOIN unnest($6::uuid[], $7::int8[]) AS c(source_id, last_us) ON c.source_id = g.source_id
        )
        SELECT c.n::int4, g.ok, daily.values::text, daily.anomaly_score, weekly.values::text, weekly.anomaly_score
          FROM claimed c
          JOIN heads g ON g.source_id = c.source_id
          \(seasonalLags)
         WHERE NOT g.ok OR daily.values IS NOT NULL OR weekly.values IS NOT NULL
        """

    /// Both feature queries' per-source seasonal probes (columns `daily`, `weekly` of the `heads` row `g` with its
    /// batch's first and last times `t0`, `t1`): whether the source has any data a day (a week) before the batch,
    /// so points of sources without any skip the per-point lookups. $4: whether any source wants seasonal lags;
    /// $5: their tolerance.
    private static let seasonalProbes = seasonalProbe("daily", "1 day") + ",\n" + seasonalProbe("weekly", "7 days")

    /// One season's probe of `seasonalProbes`: column `name`, for data `period` before the batch.
    private static func seasonalProbe(_ name: String, _ period: String) -> String {
        """
        $4 AND EXISTS (SELECT FROM ad.data_points d WHERE d.source_id = g.source_id
                          AND d."timestamp" <= g.t1 - interval '\(period)'
                          AND d."timestamp" > g.t0 - interval '\(period)' - $5::interval) AS \(name)
        """
    }

    /// Both feature queries' per-point seasonal lags (`daily`, `weekly`: the values and score of the latest point
    /// a day and a week before claimed point `c`, within $5), joined to its `heads` row `g`.
    private static let seasonalLags = seasonalLag("daily", "1 day") + "\n" + seasonalLag("weekly", "7 days")

    /// One season's lag of `seasonalLags`: the join `name`, looked up only where the probe `g.name` found data.
    private static func seasonalLag(_ name: String, _ period: String) -> String {
        """
        LEFT JOIN LATERAL (
                    SELECT d.values, d.anomaly_score FROM ad.data_points d
                     WHERE g.\(name) AND d.source_id = c.source_id
                       AND d."timestamp" <= c."timestamp" - interval '\(period)'
                       AND d."timestamp" > c."timestamp" - interval '\(period)' - $5::interval
                     ORDER BY d."timestamp" DESC LIMIT 1) \(name) ON true
        """
    }

    /// Writes features and scores: $1 source ids, $2 timestamps (µs), $3 features (JSON text), $4 scores; and the
    /// server's id, replacing any a loader sent (the row is written anyway, so it costs nothing more).
    static let storeScores = """
        UPDATE ad.data_points d
           SET features = u.f::jsonb, anomaly_score = u.s, id = ad_internal.point_id(d.source_id, d."timestamp")
          FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::float8[]) AS u(sid, us, f, s)
         WHERE d.source_id = u.sid AND d."timestamp" = timestamptz 'epoch' + u.us * interval '1 microsecond'
        """

    /// Inserts anomalies; scoring a point again (after its values were corrected) updates its row. Keyed on the
    /// point's key, (source, time), never on an id alone.
    static let storeAnomalies = """
        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
        SELECT u.id, timestamptz 'epoch' + u.us * interval '1 microsecond', u.sid, u.metric, u.detector, u.severity,
               u.score, u.explanation::jsonb
          FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[])
               AS u(id, us, sid, metric, detector, severity, score, explanation)
        ON CONFLICT (source_id, point_timestamp, detector) DO UPDATE
           SET data_point_id = EXCLUDED.data_point_id, metric = EXCLUDED.metric, severity = EXCLUDED.severity, score = EXCLUDED.score,
               explanation = EXCLUDED.explanation, detected_at = now()
        RETURNING id, data_point_id
        """

    /// Every source's name, status and config (the worker caches them for a few seconds).
    static let sources = "SELECT id, name, status, config::text FROM ad.data_sources"
}
