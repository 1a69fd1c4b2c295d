import ADCore
import Foundation
import PostgresNIO

/// Phase 2 of a scoring cycle: each claimed point's metrics with their window features. Points of sources the
/// worker has cached go to the light query (`ScoringQueries.featuresCached`: it checks nothing came between and looks
/// up the seasonal lags; the worker adds the cached history); the rest, and sources whose cache turns out stale, to
/// the general one (`ScoringQueries.features`: window functions over the batch and its context rows).
extension ScoringCycle {
    /// The batch's rows, planned (`BatchPlan`), with what the cache will keep of each series.
    struct FeatureBatch {
        var rows: [BatchRow]
        let plan: BatchPlan
        /// What the cache keeps of each series, by series number; the score phase adds its state and sorted windows.
        var histories: [HistoryCache.Series]
        /// Sources whose cache entries are replaced (read from SQL) rather than extended, and each source's latest
        /// point in the batch.
        var refreshed: Set<UUID>, latest: [UUID: Int64]
    }

    func features(
        _ connection: PostgresConnection, claimed: Claimed, catalog: SourceCatalog, cache: HistoryCache
    )
        async throws -> FeatureBatch
    {
        let window = catalog.maxWindow
        // Points of cached sources first, by the cached query; the rest, and sources whose cache turns out stale or
        // lacks one of their series (it was only in context rows before), by the general one.
        let candidates = cache.candidates(among: Set(claimed.sources))
        var rows: [BatchRow] = []
        var general = claimed
        var joined: [HistoryCache.Key: CachedSeries] = [:]
        if !candidates.sources.isEmpty {
            let candidateSet = Set(candidates.sources)
            var (lean, stale, within) = try await cachedRows(
                connection, claimed: claimed.filtered { candidateSet.contains($0) },
                seasonal: catalog.wantsSeasonal, cached: candidates)
            for (key, w) in within where !stale.contains(key.source) {
                if let known = cache[key] {
                    joined[key] = CachedSeries(cached: known, batch: w, window: window)
                } else {
                    stale.insert(key.source)
                }
            }
            rows = stale.isEmpty ? lean : lean.filter { !stale.contains($0.source) }
            general = claimed.filtered { !candidateSet.contains($0) || stale.contains($0) }
        }
        if !general.ids.isEmpty {
            let more = try await featureRows(
                connection, claimed: general, window: window, seasonal: catalog.wantsSeasonal)
            if rows.isEmpty { rows = more } else { rows = BatchPlan.merged(rows, more) }
        }
        let plan = BatchPlan(rows: &rows)
        let joinedOf = plan.keys.map { joined[$0] }
        plan.attach(joinedOf, to: &rows, window: window)
        let (histories, refreshed, latest) = plan.cacheEntries(rows, joined: joinedOf, window: window)
        return FeatureBatch(rows: rows, plan: plan, histories: histories, refreshed: refreshed, latest: latest)
    }

    /// Rows of points by the general query (`ScoringQueries.features`): each series' values come once, and each
    /// claimed row's history, seasonal differences and delta are cut from them here, as the query once cut them for
    /// every row (the same numbers: the delta as `x - previous`, which is what SQL computed when it did not overflow).
    private func featureRows(
        _ connection: PostgresConnection, claimed c: Claimed, window: Int, seasonal: Bool
    ) async throws -> [BatchRow] {
        var q = PostgresQuery(unsafeSQL: ScoringQueries.features)  // our SQL; values are bound
        q.binds.append(c.sources); q.binds.append(c.micros); q.binds.append(window); q.binds.append(seasonal)
        q.binds.append("\(Int(settings.seasonalTolerance)) seconds")
        q.binds.append(c.ids); q.binds.append(c.values)
        struct Series { var xs: [Double], dds: [Double], dws: [Double], state: (pos: Int64, text: String)? }
        var series: [HistoryCache.Key: Series] = [:]
        var rows: [BatchRow] = []
        rows.reserveCapacity(c.ids.count * 2)
        for try await (
            kind, id, source, us, metric, x, xs, dds, dws, dt, daily, dailyScore, weekly, weeklyScore, pos, statePos,
            stateText
        ) in try await connection.query(q, logger: logger).decode(
            (
                Int32, UUID?, UUID, Int64?, String, Double?, [Double]?, [Double]?, [Double]?, Double?, Double?, Double?,
                Double?, Double?, Int64?, Int64?, String?
            ).self
        ) {
            let key = HistoryCache.Key(source: source, metric: metric)
            if kind == 0 {
                series[key] = Series(xs: xs ?? [], dds: dds ?? [], dws: dws ?? [], state: nil)
                continue
            }
            guard let id, let us, let x, let pos, var s = series[key],
                s.xs.indices.contains(Int(pos) - 1)
            else {
                throw FeatureRowsError(description: "features: a row of \(source) \(metric) without its series")
            }
            // The state's text comes only when it differs from the series' previous claimed row's.
            if let statePos, let stateText {
                s.state = (statePos, stateText)
                series[key]?.state = s.state
            }
            let text = statePos.flatMap { p in s.state.flatMap { $0.pos == p ? $0.text : nil } }
            let end = Int(pos) - 1, from = max(0, end - window)
            var o = MetricObservation(
                metric: metric, x: x, history: [], delta: end > 0 ? x - s.xs[end - 1] : nil,
                secondsSincePrevious: dt, lagDaily: daily.map { SeasonalLag(value: $0, score: dailyScore) },
                lagWeekly: weekly.map { SeasonalLag(value: $0, score: weeklyScore) })
            // Slices of the series' arrays: they share its storage rather than copy a window per row.
            o.history = s.xs[from..<end]
            if !s.dds.isEmpty { o.dailyDiffs = s.dds[from..<end] }
            if !s.dws.isEmpty { o.weeklyDiffs = s.dws[from..<end] }
            rows.append(
                BatchRow(
                    id: id, source: source, micros: us, metric: metric, cached: false, observation: o,
                    pos: pos, statePos: statePos, stateText: text))
        }
        return rows
    }

    /// Rows of points whose sources are cached (`ScoringQueries.featuresCached`), in the claim's order, a point's
    /// metrics by name: each row's history is the earlier points of its series within the batch, with their
    /// differences from a day and a week before (the worker puts the cached values before them), and its delta and
    /// time from the series' previous point in the batch (the first's, from the cache). Also the sources whose cache
    /// cannot be used. The metrics are read from the claimed values as `(values ->> metric)::float8` reads them.
    private func cachedRows(
        _ connection: PostgresConnection, claimed c: Claimed, seasonal: Bool,
        cached: (sources: [UUID], micros: [Int64])
    ) async throws
        -> (rows: [BatchRow], stale: Set<UUID>, within: [HistoryCache.Key: BatchSeriesValues])
    {
        var q = PostgresQuery(unsafeSQL: ScoringQueries.featuresCached)  // our SQL; values are bound
        q.binds.append(c.ids); q.binds.append(c.sources); q.binds.append(c.micros); q.binds.append(seasonal)
        q.binds.append("\(Int(settings.seasonalTolerance)) seconds")
        q.binds.append(cached.sources); q.binds.append(cached.micros)
        struct Lags { var daily: String?, dailyScore: Double?, weekly: String?, weeklyScore: Double? }
        var lags: [Lags?] = Array(repeating: nil, count: c.ids.count), staleSources: Set<UUID> = []
        for try await (n, ok, daily, dailyScore, weekly, weeklyScore) in try await connection.query(q, logger: logger)
            .decode((Int32, Bool, String?, Double?, String?, Double?).self)
        {
            let i = Int(n) - 1  // WITH ORDINALITY over the arrays bound above
            precondition(c.ids.indices.contains(i), "cached features: point \(n) of \(c.ids.count)")
            if !ok {
                staleSources.insert(c.sources[i])
            } else {
                lags[i] = Lags(daily: daily, dailyScore: dailyScore, weekly: weekly, weeklyScore: weeklyScore)
            }
        }

        var within: [HistoryCache.Key: BatchSeriesValues] = [:]
        var rows: [BatchRow] = []
        rows.reserveCapacity(c.ids.count * 2)
        for i in c.ids.indices where !staleSources.contains(c.sources[i]) {
            let lag = lags[i]
            let daily = lag?.daily.flatMap(MetricValues.parse), weekly = lag?.weekly.flatMap(MetricValues.parse)
            guard let metrics = MetricValues.parse(c.values[i]), (daily != nil) == (lag?.daily != nil),
                (weekly != nil) == (lag?.weekly != nil)
            else {
                staleSources.insert(c.sources[i])  // values it cannot read (never, for valid points): the general query
                continue
            }
            let sorted =
                zip(metrics, metrics.dropFirst()).allSatisfy { $0.metric < $1.metric }
                ? metrics
                : metrics.sorted { $0.metric < $1.metric }
            for (metric, x) in sorted {
                let lagDaily = daily?.first { $0.metric == metric }?.value,
                    lagWeekly = weekly?.first { $0.metric == metric }?.value
                // Taken out and put back: a copy read from the dictionary made every append copy the series' arrays.
                let key = HistoryCache.Key(source: c.sources[i], metric: metric)
                var w = within.removeValue(forKey: key) ?? BatchSeriesValues()
                rows.append(
                    BatchRow(
                        id: c.ids[i], source: c.sources[i], micros: c.micros[i], metric: metric, cached: true,
                        observation: MetricObservation(
                            metric: metric, x: x, history: [],  // set from the cache and `within`
                            delta: w.xs.last.map { x - $0 },
                            secondsSincePrevious: w.xs.isEmpty
                                ? nil : (Double(c.micros[i]) - Double(w.lastMicros)) / 1_000_000,
                            lagDaily: lagDaily.map { SeasonalLag(value: $0, score: lag?.dailyScore) },
                            lagWeekly: lagWeekly.map { SeasonalLag(value: $0, score: lag?.weeklyScore) }),
                        pos: Int64(w.xs.count + 1), statePos: nil, stateText: nil))
                w.xs.append(x); w.dds.append(lagDaily.map { x - $0 } ?? .nan);
                w.dws.append(lagWeekly.map { x - $0 } ?? .nan)
                w.lastMicros = c.micros[i]
                within[key] = w
            }
        }
        // A source found stale part-way (values it could not read) loses the rows it already had.
        if rows.contains(where: { staleSources.contains($0.source) }) {
            rows.removeAll { staleSources.contains($0.source) }
        }
        return (rows, staleSources, within)
    }
}

/// The general features query returned a point's row before its series' (never, unless the query is wrong).
struct FeatureRowsError: Error, CustomStringConvertible {
    let description: String
}
