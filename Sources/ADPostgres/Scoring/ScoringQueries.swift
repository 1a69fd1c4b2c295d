/// The scoring cycle's SQL, by phase, all in one transaction: the claim, the two feature queries (for sources the
/// worker has cached and for the rest), then the writes.
enum ScoringQueries {
    /// The claimed point's time as the scoring cycle carries it: microseconds since 2000-01-01 UTC, PostgreSQL's own
    /// storage of a timestamp, so every time the server accepts fits (microseconds since 1970 overflow int8 past
    /// the year 294246, and the door accepts times up to 294276). Exact both ways (`time`).
    static func micros(_ t: String) -> String { "(\(seconds(t)) * 1000000)::int8" }

    /// Seconds since 2000-01-01 UTC of timestamptz `t`, exact (numeric): taken from the interval since then, because
    /// `extract(epoch FROM t)` rounds for times past about 294246 (its µs since 1970 do not fit int8).
    static func seconds(_ t: String) -> String { "extract(epoch FROM (\(t) - timestamptz '2000-01-01 00:00:00+00'))" }

    /// The timestamptz of `micros` µs since 2000-01-01 UTC, exact over the whole range. Within 2^52 µs of 2000 (about
    /// 142 years) `us * interval '1 microsecond'` is exact and cheapest (one addition of microseconds, no time zone);
    /// further out it multiplies in double precision and rounds, and a time that comes back different matches no
    /// row, so those add whole days and the rest to a timestamp without time zone, then read it as UTC.
    static func time(_ micros: String) -> String {
        """
        (CASE WHEN \(micros) BETWEEN -4503599627370496 AND 4503599627370496 \
        THEN timestamptz '2000-01-01 00:00:00+00' + \(micros) * interval '1 microsecond' \
        ELSE (timestamp '2000-01-01' + (\(micros) / 86400000000) * interval '1 day' \
        + (\(micros) % 86400000000) * interval '1 microsecond') AT TIME ZONE 'UTC' END)
        """
    }

    /// Whether point `p` is quarantined (set aside until re-queued, `ad.quarantined_points`).
    private static func quarantined(_ p: String) -> String {
        """
        EXISTS (SELECT FROM ad.quarantined_points q WHERE q.source_id = \(p).source_id \
        AND q.point_timestamp = \(p)."timestamp" AND q.requeued_at IS NULL)
        """
    }

    /// Claims up to $1 unscored points, oldest first, SKIP LOCKED; $2: sources not to claim (not active, or an
    /// unusable config, as the worker's catalog knows them; a claimed point of a source the catalog does not know
    /// makes `ScoringCycle.claim` load the catalog again and drop what is not scorable). No join: with one, a planner
    /// without statistics for ad.data_sources (a few seconds after sources were created) read the whole backlog and
    /// sorted it at every claim (docs/design.md, "The claim does not join"). $3, $4: this loop's share of the sources
    /// (hash of the source id modulo $3 is $4). Quarantined points are skipped (an anti-join probing the quarantine's
    /// primary key once per unscored point the ordered scan passes). Times travel as `micros`. No id: the worker
    /// gives each point the server's (`PointIdentity`, what `ad_internal.point_id` of the key gives), never the one
    /// a loader sent; the cycle keys points by it, and it is unique across sources.
    static let claim = """
        SELECT p.source_id, \(micros("p.\"timestamp\"")), p.values::text
          FROM ad.data_points p
         WHERE p.anomaly_score IS NULL
           AND p.source_id <> ALL ($2::uuid[])
           AND ($3::int4 = 1 OR (hashtext(p.source_id::text) & 2147483647) % $3::int4 = $4::int4)
           AND NOT \(quarantined("p"))
         ORDER BY p."timestamp", p.source_id
         LIMIT $1
           FOR UPDATE OF p SKIP LOCKED
        """

    /// Claims again the points of a batch that failed and was split (`BatchRecovery`): $1 sources and $2 times of
    /// the points, those still unscored, not quarantined and not locked by another worker, in the claim's order.
    /// $3: sources not to claim, as in `claim`. No id, as in `claim`.
    static let claimAgain = """
        SELECT p.source_id, \(micros("p.\"timestamp\"")), p.values::text
          FROM unnest($1::uuid[], $2::int8[]) AS k(source_id, us)
          JOIN ad.data_points p ON p.source_id = k.source_id AND p."timestamp" = \(time("k.us"))
         WHERE p.anomaly_score IS NULL
           AND p.source_id <> ALL ($3::uuid[])
           AND NOT \(quarantined("p"))
         ORDER BY p."timestamp", p.source_id
           FOR UPDATE OF p SKIP LOCKED
        """

    /// Sets a point aside (`BatchRecovery` found it poison): $1 source, $2 time, $3 the error, $4 its SQLSTATE, if
    /// it is still unscored. Returns how many times it has been quarantined.
    static let quarantine = """
        INSERT INTO ad.quarantined_points AS q (source_id, point_timestamp, error, sqlstate)
        SELECT p.source_id, p."timestamp", $3::text, $4::text
          FROM ad.data_points p
         WHERE p.source_id = $1::uuid AND p."timestamp" = \(time("$2::int8")) AND p.anomaly_score IS NULL
        ON CONFLICT (source_id, point_timestamp) DO UPDATE
           SET error = EXCLUDED.error, sqlstate = EXCLUDED.sqlstate, quarantined_at = now(),
               attempts = q.attempts + 1, requeued_at = NULL, requeued_by = NULL
        RETURNING q.attempts
        """

    /// The general features query, for sources the worker has not cached or whose cache `featuresCached` found stale:
    /// the claimed points ($6 ids, $1 sources, $2 times, $7 values: passed back rather than read again, which the
    /// planner may do with a scan of the whole table) with their context: the $3 points before each source's
    /// earliest claimed point, and any points between claimed ones (so a late point among newer ones gets its own
    /// past). Strictly causal: every window ends before its row. $4: whether any source wants seasonal lags; $5:
    /// their tolerance.
    ///
    /// Two kinds of rows, series first (`kind` 0, then 1), so its output is O(series × window + batch), not
    /// O(batch × window): a 5,000-point first batch once shipped each point's whole window, about 5,000 × 1,000
    /// numbers in three arrays, which a slow client could not read before the statement timeout.
    /// - kind 0, once per series (source, metric) with a claimed point: `xs`, every value of the series in time
    ///   order (context and claimed), and `dds`, `dws`, the differences from a day and a week before aligned with
    ///   them (NaN where none; NULL when the series has none at all). The worker slices each point's history out of
    ///   them (`ScoringCycle.featureRows`).
    /// - kind 1, once per claimed point and metric, in (time, source, metric) order: its position in the series
    ///   (1-based, into `xs`), seconds since the series' previous point, its seasonal lags, and the detector state
    ///   (`lik`) its nearest earlier scored row left, with that row's position; the state's text only when it
    ///   differs from the series' previous claimed row's (the worker carries it).
    ///
    /// No arithmetic here can fail on a value the door accepts: differences of values use `difference` (±Infinity
    /// past the largest double, where `a - b` raises "value out of range: overflow"), times travel as `micros`, and
    /// seconds between points are taken from epochs rather than as an interval (which overflows over ~292,000
    /// years).
    static let features = """
        WITH claimed AS (
            SELECT k.id, k.source_id, \(time("k.us")) AS "timestamp", k.v::jsonb AS values
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
        expanded AS (
            SELECT s.id, s.source_id, s."timestamp", s.target, kv.key AS metric, kv.value::float8 AS x,
                   s.features -> kv.key -> 'lik' AS lik, s.features -> kv.key AS f,
                   (s.daily ->> kv.key)::float8 AS daily_x, (s.weekly ->> kv.key)::float8 AS weekly_x
              FROM series s CROSS JOIN LATERAL jsonb_each(s.values) kv
        ),
        -- dd, dw: the value minus its value a day (week) earlier; a context row stored its own when scored.
        metric_rows AS (
            SELECT e.id, e.source_id, e."timestamp", e.target, e.metric, e.x, e.lik,
                   CASE WHEN e.target THEN \(difference("e.x", "e.daily_x")) ELSE (e.f ->> 'dd')::float8 END AS dd,
                   CASE WHEN e.target THEN \(difference("e.x", "e.weekly_x")) ELSE (e.f ->> 'dw')::float8 END AS dw
              FROM expanded e
        ),
        -- Position and the previous point's time by window functions.
        windowed AS (
            SELECT m.*, row_number() OVER ordered AS pos, lag("timestamp") OVER ordered AS previous
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
        -- Each series as one array (each claimed row's history is a slice of it, cut by the worker).
        histories AS (
            SELECT source_id, metric, array_agg(x ORDER BY "timestamp") AS xs, array_agg(lik ORDER BY "timestamp") AS liks,
                   -- NaN marks a point without one; a series with none at all sends none.
                   CASE WHEN bool_or(dd IS NOT NULL) THEN array_agg(coalesce(dd, 'NaN') ORDER BY "timestamp") END AS dds,
                   CASE WHEN bool_or(dw IS NOT NULL) THEN array_agg(coalesce(dw, 'NaN') ORDER BY "timestamp") END AS dws
              FROM metric_rows GROUP BY source_id, metric
            HAVING bool_or(target)
        ),
        targets AS (
            SELECT w.*, lag(w.state_pos) OVER (PARTITION BY w.source_id, w.metric ORDER BY w."timestamp") AS state_before,
                   row_number() OVER (PARTITION BY w.source_id, w.metric ORDER BY w."timestamp") AS nth
              FROM stated w
             WHERE w.target
        )
        SELECT 0 AS kind, NULL::uuid AS id, h.source_id, NULL::int8 AS ts_us, h.metric, NULL::float8 AS x, h.xs, h.dds,
               h.dws, NULL::float8 AS dt, NULL::float8 AS lag_daily, NULL::float8 AS daily_score,
               NULL::float8 AS lag_weekly, NULL::float8 AS weekly_score, NULL::int8 AS pos, NULL::int8 AS state_pos,
               NULL::text AS state
          FROM histories h
        UNION ALL
        SELECT 1, t.id, t.source_id, \(micros("t.\"timestamp\"")), t.metric, t.x, NULL, NULL, NULL,
               (\(seconds("t.\"timestamp\"")) - \(seconds("t.previous")))::float8,
               (l.daily ->> t.metric)::float8, l.daily_score, (l.weekly ->> t.metric)::float8, l.weekly_score,
               t.pos::int8, t.state_pos::int8,
               CASE WHEN t.nth = 1 OR t.state_pos IS DISTINCT FROM t.state_before THEN h.liks[t.state_pos]::text END
          FROM targets t
          JOIN histories h ON h.source_id = t.source_id AND h.metric = t.metric
          JOIN lagged l ON l.id = t.id
         ORDER BY 1, 4, 3, 5
        """

    /// `a - b` for two float8 expressions (each may be NULL), without "value out of range": where the difference is
    /// past the largest double it is ±Infinity, as the worker's own `a - b` gives it; elsewhere the same double as
    /// `a - b`. Only a pair of opposite signs, one of them over 8.9e307 and the other at least 1, can overflow; for
    /// it the halves are subtracted (exact, and no underflow at that size) and doubled. The common case is the first
    /// two comparisons. (Halving a tiny value raises "underflow", so it is never halved.)
    static func difference(_ a: String, _ b: String) -> String {
        """
        CASE WHEN \(a) IS NULL OR \(b) IS NULL THEN NULL::float8 \
        WHEN (\(a) >= 0) = (\(b) >= 0) OR (abs(\(a)) <= 8.9e307 AND abs(\(b)) <= 8.9e307) \
        OR abs(\(a)) < 1 OR abs(\(b)) < 1 THEN \(a) - \(b) \
        WHEN abs(\(a) * 0.5 - \(b) * 0.5) > '1.7976931348623157e308'::float8 * 0.5 \
        THEN CASE WHEN \(a) > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END \
        ELSE (\(a) * 0.5 - \(b) * 0.5) * 2 END
        """
    }

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
            SELECT k.n, k.id, k.source_id, \(time("k.us")) AS "timestamp"
              FROM unnest($1::uuid[], $2::uuid[], $3::int8[]) WITH ORDINALITY AS k(id, source_id, us, n)
        ),
        heads AS MATERIALIZED (  -- once per source, not once per row (the planner would inline it)
            SELECT g.source_id,
                   \(seasonalProbes),
                   coalesce(c.last_us = (SELECT \(micros("max(d.\"timestamp\")"))
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
                          AND d."timestamp" <= \(before("g.t1", "interval '\(period)'"))
                          AND d."timestamp" > \(before("g.t0", "interval '\(period)' + $5::interval"))) AS \(name)
        """
    }

    /// Both feature queries' per-point seasonal lags (`daily`, `weekly`: the values and score of the latest point
    /// a day and a week before claimed point `c`, within $5), joined to its `heads` row `g`.
    private static let seasonalLags = seasonalLag("daily", "1 day") + "\n" + seasonalLag("weekly", "7 days")

    /// `t - span`, or -infinity where that would fall before the earliest time PostgreSQL has (4714-11-24 BC,
    /// "timestamp out of range"): the spans here are at most 8 days, so any time in the first 37 days of 4714 BC
    /// looks back to the beginning of time instead.
    private static func before(_ t: String, _ span: String) -> String {
        "(CASE WHEN \(t) >= timestamptz '4714-12-31 00:00:00+00 BC' THEN \(t) - (\(span)) ELSE '-infinity' END)"
    }

    /// One season's lag of `seasonalLags`: the join `name`, looked up only where the probe `g.name` found data.
    private static func seasonalLag(_ name: String, _ period: String) -> String {
        """
        LEFT JOIN LATERAL (
                    SELECT d.values, d.anomaly_score FROM ad.data_points d
                     WHERE g.\(name) AND d.source_id = c.source_id
                       AND d."timestamp" <= \(before("c.\"timestamp\"", "interval '\(period)'"))
                       AND d."timestamp" > \(before("c.\"timestamp\"", "interval '\(period)' + $5::interval"))
                     ORDER BY d."timestamp" DESC LIMIT 1) \(name) ON true
        """
    }

    /// Writes features and scores: $1 source ids, $2 timestamps (µs), $3 features (JSON text), $4 scores; and $5
    /// the server's id (`PointIdentity`, the worker's copy of `ad_internal.point_id`: md5 in SQL cost about as much
    /// per row as the rest of the claim did), replacing any a loader sent (the row is written anyway).
    static let storeScores = """
        UPDATE ad.data_points d
           SET features = u.f::jsonb, anomaly_score = u.s, id = u.id
          FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::float8[], $5::uuid[]) AS u(sid, us, f, s, id)
         WHERE d.source_id = u.sid AND d."timestamp" = \(time("u.us"))
        """

    /// Inserts anomalies; scoring a point again (after its values were corrected) updates its row. Keyed on the
    /// point's key, (source, time), never on an id alone.
    static let storeAnomalies = """
        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation,
                                  model_id)
        SELECT u.id, \(time("u.us")), u.sid, u.metric, u.detector, u.severity,
               u.score, u.explanation::jsonb, u.model
          FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[],
                      $9::uuid[])
               AS u(id, us, sid, metric, detector, severity, score, explanation, model)
        ON CONFLICT (source_id, point_timestamp, detector) DO UPDATE
           SET data_point_id = EXCLUDED.data_point_id, metric = EXCLUDED.metric, severity = EXCLUDED.severity, score = EXCLUDED.score,
               explanation = EXCLUDED.explanation, detected_at = now(), model_id = EXCLUDED.model_id
        RETURNING id, data_point_id
        """

    /// Every source's name, status and config (the worker caches them for a few seconds).
    static let sources = "SELECT id, name, status, config::text FROM ad.data_sources"
}
