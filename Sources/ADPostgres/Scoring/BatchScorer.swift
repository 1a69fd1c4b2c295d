import ADCore
import Foundation
import Logging
import PostgresNIO

/// What the worker knows about the sources: name, status, parsed config and its scorer, refreshed every few
/// seconds. What every batch needs from all sources is derived once per load, not per batch.
public struct SourceCatalog: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var status: String
        /// Shared by every source with the same config text: an entry stays a few dozen bytes.
        let parsed: Parsed
        public var config: Result<SourceConfig, SourceConfig.Problem> { parsed.config }
        /// The scorer for a usable config.
        public var scorer: Scorer? { parsed.scorer }
    }
    /// One distinct config, parsed, and its scorer when usable.
    final class Parsed: Sendable {
        let config: Result<SourceConfig, SourceConfig.Problem>
        let scorer: Scorer?

        init(text: String) {
            do {
                let json = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
                config = Result { () throws(SourceConfig.Problem) in try SourceConfig.parse(json) }
            } catch {
                config = .failure(SourceConfig.Problem(field: "", message: "is not valid JSON"))
            }
            scorer = (try? config.get()).map { Scorer(config: $0) }
        }
    }
    public private(set) var entries: [UUID: Entry] = [:]
    public private(set) var loadedAt: ContinuousClock.Instant?
    /// The largest window any usable config asks for: the SQL fetches this much context.
    public private(set) var maxWindow = SourceConfig.defaults.window
    /// Whether any source wants seasonal lags (otherwise the lag lookups are skipped).
    public private(set) var wantsSeasonal = false
    /// Sources whose config cannot be used: their points stay unscored, and are not claimed.
    public private(set) var unusable: [UUID] = []
    /// Sources whose points are not claimed: not active (paused, disabled) or unusable.
    public private(set) var skipped: [UUID] = []
    /// What operator feedback taught: per series, the kinds of deviation that are normal (ad.scoring_adjustments).
    public private(set) var learned = LearnedPatterns()

    public init() {}

    /// Reads every source. Each distinct config text is parsed once, and sources with the same config share one
    /// parsed value and scorer: with 100,000 sources, parsing each one's config at every refresh took the worker's
    /// peak RSS from 136 MB to 318 MB (`adworker bench`, (d)).
    public static func load(_ connection: PostgresConnection, logger: Logger) async throws -> SourceCatalog {
        var catalog = SourceCatalog()
        var parsed: [String: Parsed] = [:]
        var windows: Set<Int> = []
        for try await (id, name, status, configText) in try await connection.query(
            PostgresQuery(unsafeSQL: ScoringQueries.sources), logger: logger
        ).decode((UUID, String, String, String).self) {
            let known = parsed[configText] ?? Parsed(text: configText)
            parsed[configText] = known
            if let c = known.scorer?.config {
                windows.insert(c.window)
                if c.detectors.contains(.seasonal) && !c.seasonality.isEmpty { catalog.wantsSeasonal = true }
            } else {
                catalog.unusable.append(id)
            }
            catalog.entries[id] = Entry(name: name, status: status, parsed: known)
            if status != "active" || known.scorer == nil { catalog.skipped.append(id) }
        }
        catalog.maxWindow = windows.max() ?? SourceConfig.defaults.window
        catalog.learned = try await FeedbackProcessor.learned(connection, logger: logger)
        catalog.loadedAt = .now
        return catalog
    }
}

/// An anomaly the batch found, for logs and the demo.
public struct FoundAnomaly: Sendable {
    public var source: String
    public var metric: String
    public var time: Date
    public var severity: Severity
    public var score: Double
    public var detector: String
    public var explanation: Explanation
}

/// Where a worker's time went, summed over batches (printed when it stops; `adworker bench` reads it).
public struct ScoringTimings: Sendable {
    public var batches = 0, points = 0, anomalies = 0, cacheHits = 0
    public var claim: Duration = .zero, features: Duration = .zero, scoring: Duration = .zero, writes: Duration = .zero, commit: Duration = .zero
    public init() {}

    /// Both together (the loops of one worker).
    public static func + (a: ScoringTimings, b: ScoringTimings) -> ScoringTimings {
        var s = a
        s.batches += b.batches; s.points += b.points; s.anomalies += b.anomalies; s.cacheHits += b.cacheHits
        s.claim += b.claim; s.features += b.features; s.scoring += b.scoring; s.writes += b.writes; s.commit += b.commit
        return s
    }

    /// One line of JSON.
    public var json: String {
        func s(_ d: Duration) -> JSONValue {
            .rounded(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, 4)
        }
        return JSONValue.object([
            ("batches", .number(Double(batches))), ("points", .number(Double(points))),
            ("anomalies", .number(Double(anomalies))),
            ("cache_hits", .number(Double(cacheHits))),
            ("seconds", .object([("claim_sql", s(claim)), ("features_sql", s(features)), ("scoring_swift", s(scoring)),
                                 ("writes_sql", s(writes)), ("commit", s(commit))])),
        ]).render()
    }
}

/// Each series' window kept sorted from row to row of a batch (and, through the cache, from batch to batch), so
/// the scorer reads its medians rather than selecting them at every point (`SortedWindow`).
struct SlidingWindows {
    private struct Entry {
        var pos: Int64, size: Int
        /// The row's window (the last `size` values of its history), its value, and that window kept sorted.
        var window: ArraySlice<Double>, x: Double
        var sorted: HistoryCache.Sorted
        /// The window's seasonal differences (aligned with it at the end; missing ones at the front are NaN), and
        /// the row's own, which enter the next window.
        var daily: ArraySlice<Double>, weekly: ArraySlice<Double>, ownDaily: Double, ownWeekly: Double
    }
    /// By the batch's series number.
    private var entries: [Entry?]

    init(series: Int) { entries = Array(repeating: nil, count: series) }

    /// The windows of `o`'s history (`size` values; the row is at `pos` in its series): the previous row's slid on
    /// by one when this row directly follows it, else the cached ones when they cover exactly this window, else
    /// sorted afresh.
    mutating func windows(for o: MetricObservation, at pos: Int64, series: Int, size: Int,
                          cached: @autoclosure () -> HistoryCache.Sorted?) -> HistoryCache.Sorted {
        let window = o.history.suffix(size)
        let daily = o.dailyDiffs.suffix(window.count), weekly = o.weeklyDiffs.suffix(window.count)
        let previous = entries[series].take()
        var sorted: HistoryCache.Sorted
        if var e = previous, e.size == size, pos == e.pos + 1, window.count == min(size, e.window.count + 1), window.last == e.x,
           Self.slide(&e, daily: o.dailyDiffs.last ?? .nan, weekly: o.weeklyDiffs.last ?? .nan) {
            sorted = e.sorted
        } else if previous == nil, let cached = cached(), cached.values.count == window.count, cached.steps.count == max(0, window.count - 1) {
            // The series' first row in the batch, whose history is the cached values: the cache's windows end where
            // this one does, so the same count is the same values (and the same differences).
            sorted = cached
        } else {
            func known(_ d: ArraySlice<Double>) -> SortedWindow { SortedWindow(d.lazy.filter { !$0.isNaN }) }
            sorted = HistoryCache.Sorted(values: SortedWindow(window), steps: SortedWindow(zip(window.dropFirst(), window).map { $0 - $1 }),
                                         dailyDiffs: known(daily), weeklyDiffs: known(weekly))
        }
        entries[series] = Entry(pos: pos, size: size, window: window, x: o.x, sorted: sorted, daily: daily, weekly: weekly,
                                ownDaily: o.lagDaily.map { o.x - $0.value } ?? .nan,
                                ownWeekly: o.lagWeekly.map { o.x - $0.value } ?? .nan)
        return sorted
    }

    /// The windows of the point after the series' latest row, for the cache (taken out: the batch is done with it).
    mutating func advanced(_ series: Int) -> HistoryCache.Sorted? {
        guard var e = entries[series].take(), Self.slide(&e, daily: e.ownDaily, weekly: e.ownWeekly) else { return nil }
        return e.sorted
    }

    /// From the windows of `e.window` to those of (`e.window` + x), cut to `size`; `daily` and `weekly` are x's
    /// seasonal differences (NaN: none). False if they did not hold what leaves (they were not this window's): the
    /// caller sorts afresh.
    private static func slide(_ e: inout Entry, daily: Double, weekly: Double) -> Bool {
        let (window, x, size) = (e.window, e.x, e.size)
        let leaves = window.count == size
        e.sorted.values.insert(x)
        if leaves, let first = window.first, !e.sorted.values.remove(first) { return false }
        if size >= 2, let last = window.last { e.sorted.steps.insert(x - last) }
        if leaves, window.count >= 2, !e.sorted.steps.remove(window[window.startIndex + 1] - window[window.startIndex]) { return false }
        /// A difference enters with x and, when the window is full, the one aligned with its first value leaves.
        func slide(_ s: inout SortedWindow, _ diffs: ArraySlice<Double>, entering: Double) -> Bool {
            if !entering.isNaN { s.insert(entering) }
            guard leaves, diffs.count == window.count, let leaving = diffs.first, !leaving.isNaN else { return true }
            return s.remove(leaving)
        }
        return slide(&e.sorted.dailyDiffs, e.daily, entering: daily) && slide(&e.sorted.weeklyDiffs, e.weekly, entering: weekly)
    }
}

/// One claim-score-write transaction.
public struct BatchScorer: Sendable {
    public var logger: Logger
    public var settings: WorkerSettings
    /// This scorer claims only sources whose id hashes to `partition.index` modulo `partition.count`.
    public var partition: (index: Int, count: Int) = (0, 1)

    /// For a source newer than the catalog (loaded again at once) or one whose config vanished meanwhile.
    private static let defaultScorer = Scorer(config: .defaults)

    public init(settings: WorkerSettings, logger: Logger, partition: (index: Int, count: Int) = (0, 1)) {
        precondition(partition.count >= 1 && (0..<partition.count).contains(partition.index))
        self.settings = settings
        self.logger = logger
        self.partition = partition
    }

    /// Per-connection settings for the scoring session.
    public func prepare(_ connection: PostgresConnection) async throws {
        let timeout = "\(Int(settings.statementTimeout * 1000))"
        try await connection.query("SELECT set_config('statement_timeout', \(timeout), false)", logger: logger)
        // JIT compiles each batch's big query anew (about half a second once estimates cross jit_above_cost).
        try await connection.query("SET jit = off", logger: logger)
        // The batch's sorts (a few MB) spilled to disk at the default 4 MB; this session only runs scoring.
        try await connection.query("SET work_mem = '64MB'", logger: logger)
        // The context fetch is "the latest W points of a source": an ordered index scan, not bitmap scan + sort.
        try await connection.query("SET enable_bitmapscan = off", logger: logger)
    }

    private struct Row {
        var id: UUID, source: UUID, micros: Int64, metric: String, cached: Bool, observation: MetricObservation
        /// The row's position in its series (for a cached row, among the series' rows in the batch), and the nearest
        /// earlier row with detector state: position and state.
        var pos: Int64, statePos: Int64?, stateText: String?
        /// Whether this row's features store the detector state it leaves (a checkpoint; see `checkpointSpacing`).
        var checkpoint = true
        /// Its series' number in this batch (the per-series bookkeeping is arrays, not a hash lookup per row).
        var series = 0
    }

    /// Within a batch, the rows of a series that store their detector state (`lik`): its latest row, and every
    /// `checkpointSpacing`-th row before it. The latest is where the next batch starts; the others bound how far
    /// back a late point finds a state (at most this many points older than its own past; the general features query
    /// reads at least 10 context rows, the smallest window). The state is 25 numbers per metric, about half of a
    /// scored row's `features`, and the scoring `UPDATE`'s cost follows the row's size.
    static let checkpointSpacing = 8

    /// Claims, scores and writes one batch in one transaction. Returns the points scored and the anomalies found.
    /// `cache` is read to skip context the worker already has, and updated only once the batch has committed.
    public func run(_ connection: PostgresConnection, catalog: inout SourceCatalog, cache: inout HistoryCache,
                    timings: inout ScoringTimings) async throws -> (scored: Int, anomalies: [FoundAnomaly])
    {
        try await connection.query("BEGIN", logger: logger)
        do {
            let (result, update) = try await claimScoreWrite(connection, catalog: &catalog, cache: cache, timings: &timings)
            let clock = ContinuousClock()
            let start = clock.now
            try await connection.query("COMMIT", logger: logger)
            if result.scored > 0 {
                timings.commit += clock.now - start
                timings.batches += 1; timings.points += result.scored; timings.anomalies += result.anomalies.count
            }
            if let update { cache.commit(refreshed: update.refreshed, histories: update.histories, latest: update.latest) }
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Two row lists, each in (time, source, metric) order as the queries give them, merged in that order: a
    /// point's rows stay together and each series stays in time order. Sources compare by their bytes, as in SQL.
    private static func merged(_ a: [Row], _ b: [Row]) -> [Row] {
        func before(_ x: Row, _ y: Row) -> Bool {
            if x.micros != y.micros { return x.micros < y.micros }
            if x.source != y.source {
                let (p, q) = (x.source.uuid, y.source.uuid)
                return withUnsafeBytes(of: p) { pb in withUnsafeBytes(of: q) { qb in pb.lexicographicallyPrecedes(qb) } }
            }
            return x.metric < y.metric
        }
        var out: [Row] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && before(a[i], b[j])) { out.append(a[i]); i += 1 } else { out.append(b[j]); j += 1 }
        }
        return out
    }

    /// Two runs of seasonal differences, each aligned at its end with `count` values (an empty run: none known),
    /// joined and cut to the last `limit`; empty when none is known at all.
    static func joined(_ a: ArraySlice<Double>, _ aCount: Int, _ b: [Double], _ bCount: Int, _ limit: Int) -> [Double] {
        if a.isEmpty && !b.contains(where: { !$0.isNaN }) { return [] }
        func padded(_ d: some Collection<Double>, _ count: Int) -> ArraySlice<Double> {
            d.count >= count ? Array(d).suffix(count) : (Array(repeating: .nan, count: count - d.count) + d)[...]
        }
        return Array((padded(a, aCount) + padded(b, bCount)).suffix(limit))
    }

    private struct CacheUpdate {
        var refreshed: Set<UUID> = []
        var histories: [HistoryCache.Key: HistoryCache.Series] = [:]
        var latest: [UUID: Int64] = [:]
    }

    private struct Claimed {
        var ids: [UUID] = [], sources: [UUID] = [], micros: [Int64] = [], values: [String] = []

        /// The points whose source passes `keep`.
        func filtered(_ keep: (UUID) -> Bool) -> Claimed {
            var out = Claimed()
            for i in ids.indices where keep(sources[i]) {
                out.ids.append(ids[i]); out.sources.append(sources[i]); out.micros.append(micros[i]); out.values.append(values[i])
            }
            return out
        }
    }

    private func featureRows(_ connection: PostgresConnection, claimed c: Claimed, window: Int, seasonal: Bool) async throws -> [Row] {
        var q = PostgresQuery(unsafeSQL: ScoringQueries.features)  // our SQL; values are bound
        q.binds.append(c.sources); q.binds.append(c.micros); q.binds.append(window); q.binds.append(seasonal)
        q.binds.append("\(Int(settings.seasonalTolerance)) seconds")
        q.binds.append(c.ids); q.binds.append(c.values)
        var rows: [Row] = []
        rows.reserveCapacity(c.ids.count * 2)
        for try await (id, source, us, metric, x, history, dailyDiffs, weeklyDiffs, delta, dt, daily, dailyScore,
                       weekly, weeklyScore, pos, statePos, stateText) in try await connection.query(q, logger: logger).decode(
            (UUID, UUID, Int64, String, Double, [Double]?, [Double]?, [Double]?, Double?, Double?, Double?, Double?,
             Double?, Double?, Int64, Int64?, String?).self
        ) {
            rows.append(Row(id: id, source: source, micros: us, metric: metric, cached: false,
                            observation: MetricObservation(
                                metric: metric, x: x, history: history ?? [], dailyDiffs: dailyDiffs ?? [],
                                weeklyDiffs: weeklyDiffs ?? [], delta: delta, secondsSincePrevious: dt,
                                lagDaily: daily.map { SeasonalLag(value: $0, score: dailyScore) },
                                lagWeekly: weekly.map { SeasonalLag(value: $0, score: weeklyScore) }),
                            pos: pos, statePos: statePos, stateText: stateText))
        }
        return rows
    }

    /// Rows of points whose sources are cached (`ScoringQueries.featuresCached`), in the claim's order, a point's
    /// metrics by name: each row's history is the earlier points of its series within the batch, with their
    /// differences from a day and a week before (the worker puts the cached values before them), and its delta and
    /// time from the series' previous point in the batch (the first's, from the cache). Also the sources whose cache
    /// cannot be used. The metrics are read from the claimed values as `(values ->> metric)::float8` reads them.
    private func cachedRows(_ connection: PostgresConnection, claimed c: Claimed, seasonal: Bool,
                            cached: (sources: [UUID], micros: [Int64])) async throws
        -> (rows: [Row], stale: Set<UUID>, within: [HistoryCache.Key: Within])
    {
        var q = PostgresQuery(unsafeSQL: ScoringQueries.featuresCached)  // our SQL; values are bound
        q.binds.append(c.ids); q.binds.append(c.sources); q.binds.append(c.micros); q.binds.append(seasonal)
        q.binds.append("\(Int(settings.seasonalTolerance)) seconds")
        q.binds.append(cached.sources); q.binds.append(cached.micros)
        struct Lags { var daily: String?, dailyScore: Double?, weekly: String?, weeklyScore: Double? }
        var lags: [Lags?] = Array(repeating: nil, count: c.ids.count), staleSources: Set<UUID> = []
        for try await (n, ok, daily, dailyScore, weekly, weeklyScore) in
            try await connection.query(q, logger: logger).decode((Int32, Bool, String?, Double?, String?, Double?).self)
        {
            let i = Int(n) - 1  // WITH ORDINALITY over the arrays bound above
            precondition(c.ids.indices.contains(i), "cached features: point \(n) of \(c.ids.count)")
            if !ok { staleSources.insert(c.sources[i]) } else {
                lags[i] = Lags(daily: daily, dailyScore: dailyScore, weekly: weekly, weeklyScore: weeklyScore)
            }
        }

        var within: [HistoryCache.Key: Within] = [:]
        var rows: [Row] = []
        rows.reserveCapacity(c.ids.count * 2)
        for i in c.ids.indices where !staleSources.contains(c.sources[i]) {
            let lag = lags[i]
            let daily = lag?.daily.flatMap(MetricValues.parse), weekly = lag?.weekly.flatMap(MetricValues.parse)
            guard let metrics = MetricValues.parse(c.values[i]), (daily != nil) == (lag?.daily != nil),
                  (weekly != nil) == (lag?.weekly != nil) else {
                staleSources.insert(c.sources[i])  // values it cannot read (never, for valid points): the general query
                continue
            }
            let sorted = zip(metrics, metrics.dropFirst()).allSatisfy { $0.metric < $1.metric } ? metrics
                : metrics.sorted { $0.metric < $1.metric }
            for (metric, x) in sorted {
                let lagDaily = daily?.first { $0.metric == metric }?.value, lagWeekly = weekly?.first { $0.metric == metric }?.value
                // Taken out and put back: a copy read from the dictionary made every append copy the series' arrays.
                let key = HistoryCache.Key(source: c.sources[i], metric: metric)
                var w = within.removeValue(forKey: key) ?? Within()
                rows.append(Row(id: c.ids[i], source: c.sources[i], micros: c.micros[i], metric: metric, cached: true,
                                observation: MetricObservation(
                                    metric: metric, x: x, history: [],  // set from the cache and `within`
                                    delta: w.xs.last.map { x - $0 },
                                    secondsSincePrevious: w.xs.isEmpty ? nil : Double(c.micros[i] - w.lastMicros) / 1_000_000,
                                    lagDaily: lagDaily.map { SeasonalLag(value: $0, score: lag?.dailyScore) },
                                    lagWeekly: lagWeekly.map { SeasonalLag(value: $0, score: lag?.weeklyScore) }),
                                pos: Int64(w.xs.count + 1), statePos: nil, stateText: nil))
                w.xs.append(x); w.dds.append(lagDaily.map { x - $0 } ?? .nan); w.dws.append(lagWeekly.map { x - $0 } ?? .nan)
                w.lastMicros = c.micros[i]
                within[key] = w
            }
        }
        // A source found stale part-way (values it could not read) loses the rows it already had.
        if rows.contains(where: { staleSources.contains($0.source) }) { rows.removeAll { staleSources.contains($0.source) } }
        return (rows, staleSources, within)
    }

    /// A cached series' points within the batch, in time order: values, differences from a day and a week before
    /// (NaN where none), and the latest point's time.
    private struct Within { var xs: [Double] = [], dds: [Double] = [], dws: [Double] = [], lastMicros: Int64 = 0 }

    /// A cached series over the batch: the cached values that can still be in a window, then the batch's, in one
    /// array (each row's history is a slice of it, not a copy), with their differences aligned (empty when none is
    /// known at all).
    private struct Joined {
        var values: [Double], dailyDiffs: [Double], weeklyDiffs: [Double]
        /// How many of `values` came from the cache; the time of the latest of those.
        var cachedCount: Int, cachedMicros: Int64

        init(cached known: HistoryCache.Series, batch w: Within, window: Int) {
            let kept = known.values.suffix(window)
            func diffs(_ old: [Double], _ new: [Double]) -> [Double] {
                BatchScorer.joined(old[...], known.values.count, new, new.count, kept.count + new.count)
            }
            values = Array(kept) + w.xs
            dailyDiffs = diffs(known.dailyDiffs, w.dds)
            weeklyDiffs = diffs(known.weeklyDiffs, w.dws)
            cachedCount = kept.count
            cachedMicros = known.lastMicros
        }
    }

    private func claimScoreWrite(_ connection: PostgresConnection, catalog: inout SourceCatalog, cache: HistoryCache,
                                 timings: inout ScoringTimings) async throws
        -> (result: (scored: Int, anomalies: [FoundAnomaly]), cache: CacheUpdate?)
    {
        let clock = ContinuousClock()
        var mark = clock.now
        var claimed = Claimed()
        // The claim skips the sources the catalog knows not to score. A point of a source the catalog does not
        // know yet loads it again, and points of sources that turn out not to be scorable are left unscored (locked
        // until this transaction ends; the next claim skips them); if that was the whole batch, claim once more.
        for attempt in 0..<2 {
            var claim = PostgresQuery(unsafeSQL: ScoringQueries.claim)  // our SQL; values are bound
            claim.binds.append(settings.batchSize)
            claim.binds.append(catalog.skipped)
            claim.binds.append(Int32(partition.count)); claim.binds.append(Int32(partition.index))
            claimed = Claimed()
            // Once the table has statistics and a large backlog, the planner reads the whole table and sorts it
            // (99 ms a claim for 83,000 unscored points among 200,000, against 15 ms for the ordered scan of the
            // partial index, which stops after $1 rows): the claim alone is planned without sequential scans.
            try await connection.query("SET LOCAL enable_seqscan = off", logger: logger)
            for try await (id, source, us, values) in try await connection.query(claim, logger: logger).decode((UUID, UUID, Int64, String).self) {
                claimed.ids.append(id); claimed.sources.append(source); claimed.micros.append(us); claimed.values.append(values)
            }
            try await connection.query("SET LOCAL enable_seqscan = on", logger: logger)
            guard attempt == 0, !claimed.ids.isEmpty, claimed.sources.contains(where: { catalog.entries[$0] == nil }) else { break }
            catalog = try await SourceCatalog.load(connection, logger: logger)  // a source newer than the catalog
            let scorable = claimed.filtered { catalog.entries[$0]?.scorer != nil && catalog.entries[$0]?.status == "active" }
            if !scorable.ids.isEmpty { claimed = scorable; break }
        }
        guard !claimed.ids.isEmpty else { return ((0, []), nil) }
        timings.claim += clock.now - mark
        mark = clock.now

        let window = catalog.maxWindow
        // Points of cached sources first, by the cached query; the rest, and sources whose cache turns out stale or
        // lacks one of their series (it was only in context rows before), by the general one.
        let candidates = cache.candidates(among: Set(claimed.sources))
        var rows: [Row] = []
        var general = claimed
        var joined: [HistoryCache.Key: Joined] = [:]
        if !candidates.sources.isEmpty {
            let candidateSet = Set(candidates.sources)
            var (lean, stale, within) = try await cachedRows(connection, claimed: claimed.filtered { candidateSet.contains($0) },
                                                             seasonal: catalog.wantsSeasonal, cached: candidates)
            for (key, w) in within where !stale.contains(key.source) {
                if let known = cache[key] { joined[key] = Joined(cached: known, batch: w, window: window) } else { stale.insert(key.source) }
            }
            rows = stale.isEmpty ? lean : lean.filter { !stale.contains($0.source) }
            general = claimed.filtered { !candidateSet.contains($0) || stale.contains($0) }
        }
        if !general.ids.isEmpty {
            let more = try await featureRows(connection, claimed: general, window: window, seasonal: catalog.wantsSeasonal)
            if rows.isEmpty { rows = more } else { rows = Self.merged(rows, more) }
        }
        // Each row's series, numbered once.
        var keys: [HistoryCache.Key] = []
        do {
            var numbered: [HistoryCache.Key: Int] = [:]
            for i in rows.indices {
                let key = HistoryCache.Key(source: rows[i].source, metric: rows[i].metric)
                if let n = numbered[key] { rows[i].series = n } else { numbered[key] = keys.count; rows[i].series = keys.count; keys.append(key) }
            }
        }
        let joinedOf = keys.map { joined[$0] }
        // Cached rows: the cache holds what came before the batch; the SQL history is what came within it.
        var latestRow = Array(repeating: -1, count: keys.count)  // each series' latest row in the batch: what the cache keeps
        for i in rows.indices {
            let n = rows[i].series
            if rows[i].cached, let j = joinedOf[n] {
                let end = j.cachedCount + Int(rows[i].pos) - 1, from = max(0, end - window)
                rows[i].observation.history = j.values[from..<end]
                rows[i].observation.dailyDiffs = j.dailyDiffs.isEmpty ? [] : j.dailyDiffs[from..<end]
                rows[i].observation.weeklyDiffs = j.weeklyDiffs.isEmpty ? [] : j.weeklyDiffs[from..<end]
                if rows[i].observation.delta == nil, j.cachedCount > 0 {
                    rows[i].observation.delta = rows[i].observation.x - j.values[j.cachedCount - 1]
                    rows[i].observation.secondsSincePrevious = Double(rows[i].micros - j.cachedMicros) / 1_000_000
                }
            }
            if latestRow[n] < 0 || rows[latestRow[n]].micros < rows[i].micros { latestRow[n] = i }
        }
        var update = CacheUpdate()
        // What the cache keeps of each series (its state and sorted windows are added as the batch scores).
        var histories: [HistoryCache.Series] = keys.indices.map { n in
            let i = latestRow[n]
            update.latest[rows[i].source] = max(update.latest[rows[i].source] ?? .min, rows[i].micros)
            if rows[i].cached, let j = joinedOf[n] {  // its latest row is its last
                return HistoryCache.Series(
                    values: Array(j.values.suffix(window + 1)), dailyDiffs: Array(j.dailyDiffs.suffix(window + 1)),
                    weeklyDiffs: Array(j.weeklyDiffs.suffix(window + 1)), lastMicros: rows[i].micros)
            }
            update.refreshed.insert(rows[i].source)
            let o = rows[i].observation
            return HistoryCache.Series(
                values: Array(o.history) + [o.x],
                dailyDiffs: Self.joined(o.dailyDiffs, o.history.count, [o.lagDaily.map { o.x - $0.value } ?? .nan], 1, window + 1),
                weeklyDiffs: Self.joined(o.weeklyDiffs, o.history.count, [o.lagWeekly.map { o.x - $0.value } ?? .nan], 1, window + 1),
                lastMicros: rows[i].micros)
        }
        var after = Array(repeating: 0, count: keys.count)  // rows of the series later in the batch
        for i in rows.indices.reversed() {
            rows[i].checkpoint = after[rows[i].series] % Self.checkpointSpacing == 0
            after[rows[i].series] += 1
        }
        timings.features += clock.now - mark
        timings.cacheHits += rows.indices.count { rows[$0].cached && ($0 == 0 || rows[$0 - 1].id != rows[$0].id) }
        mark = clock.now

        if rows.contains(where: { catalog.entries[$0.source] == nil }) {
            catalog = try await SourceCatalog.load(connection, logger: logger)  // a source newer than the cache
        }

        var sids: [UUID] = [], stamps: [Int64] = [], scores: [Double] = []
        var features = TextArray(reservingBytes: rows.count * 400, count: rows.count)
        var aIDs: [UUID] = [], aStamps: [Int64] = [], aSources: [UUID] = [], aMetrics: [String] = []
        var aDetectors: [String] = [], aSeverities: [String] = [], aScores: [Double] = [], aExplanations: [String] = []
        var found: [FoundAnomaly] = []

        // The detector state each point starts from: the latest of what this batch just computed for the series, what
        // the nearest earlier scored row in the database left, and (for a cached source) what the cache holds.
        var carried: [(pos: Int64, state: DetectorState)?] = Array(repeating: nil, count: keys.count)
        var sliding = SlidingWindows(series: keys.count)
        // The stored state is decoded only when nothing this batch computed is newer (once per series and batch).
        func startingState(_ row: Row) -> DetectorState? {
            let mine = carried[row.series].flatMap { row.pos > $0.pos ? $0 : nil }
            if let mine, mine.pos > (row.statePos ?? 0) { return mine.state }
            if row.statePos != nil, let text = row.stateText, let s = DetectorState(text: text) { return s }
            if let mine { return mine.state }
            return row.cached ? cache[keys[row.series]]?.state : nil
        }

        var start = 0
        while start < rows.count {
            var end = start + 1
            while end < rows.count && rows[end].id == rows[start].id { end += 1 }
            let point = rows[start]
            let entry = catalog.entries[point.source]
            let scorer = entry?.scorer ?? Self.defaultScorer
            let result = scorer.score(rows[start..<end].map { row in
                var o = row.observation
                o.state = startingState(row)
                let windows = sliding.windows(for: row.observation, at: row.pos, series: row.series, size: scorer.config.window,
                                              cached: row.cached ? cache[keys[row.series]]?.sorted : nil)
                o.sortedHistory = windows.values; o.sortedSteps = windows.steps
                o.sortedDailyDiffs = windows.dailyDiffs; o.sortedWeeklyDiffs = windows.weeklyDiffs
                return o
            }, storingState: { metric in rows[start..<end].contains { $0.metric == metric && $0.checkpoint } })
            for i in start..<end {
                guard let state = result.states[rows[i].metric] else { continue }
                let n = rows[i].series
                carried[n] = (rows[i].pos, state)
                if latestRow[n] == i {
                    histories[n].state = state
                    histories[n].sorted = sliding.advanced(n)
                }
            }
            sids.append(point.source); stamps.append(point.micros)
            features.append { FeatureList.write(result.metricFeatures, into: &$0) }; scores.append(result.score)
            // Feedback may have made points like this one normal on its series (the point keeps its score).
            if let severity = result.severity,
               !catalog.learned.tolerates(source: point.source, metric: result.metric, pattern: result.pattern,
                                          score: result.score, thresholds: scorer.config.thresholds) {
                aIDs.append(point.id); aStamps.append(point.micros); aSources.append(point.source)
                aMetrics.append(result.metric); aDetectors.append(result.detector); aSeverities.append(severity.rawValue)
                aScores.append(result.score); aExplanations.append(result.explanation.render())
                found.append(FoundAnomaly(source: entry?.name ?? point.source.uuidString, metric: result.metric,
                                          time: Date(timeIntervalSince1970: Double(point.micros) / 1_000_000),
                                          severity: severity, score: result.score, detector: result.detector,
                                          explanation: result.explanation))
            }
            start = end
        }

        for n in keys.indices { update.histories[keys[n]] = histories[n] }
        timings.scoring += clock.now - mark
        mark = clock.now
        var store = PostgresQuery(unsafeSQL: ScoringQueries.storeScores)
        store.binds.append(sids); store.binds.append(stamps); store.binds.append(features); store.binds.append(scores)
        try await connection.query(store, logger: logger)
        if !aIDs.isEmpty {
            var insert = PostgresQuery(unsafeSQL: ScoringQueries.storeAnomalies)
            insert.binds.append(aIDs); insert.binds.append(aStamps); insert.binds.append(aSources)
            insert.binds.append(aMetrics); insert.binds.append(aDetectors); insert.binds.append(aSeverities)
            insert.binds.append(aScores); insert.binds.append(aExplanations)
            var anomalyOf: [UUID: UUID] = [:]  // point id -> anomaly id
            for try await (anomalyID, pointID) in try await connection.query(insert, logger: logger).decode((UUID, UUID).self) {
                anomalyOf[pointID] = anomalyID
            }
            var fresh: [NewAnomaly] = []
            for i in aIDs.indices {
                guard let anomalyID = anomalyOf[aIDs[i]], let severity = Severity(rawValue: aSeverities[i]) else { continue }
                fresh.append(NewAnomaly(
                    anomalyID: anomalyID,
                    facts: AnomalyFacts(sourceID: aSources[i], sourceName: catalog.entries[aSources[i]]?.name ?? aSources[i].uuidString,
                                        metric: aMetrics[i], severity: severity, score: aScores[i], detector: aDetectors[i],
                                        time: found[i].time),
                    explanation: found[i].explanation))
            }
            let raised = try await AlertRaiser(logger: logger).raise(connection, anomalies: fresh)
            if raised.opened > 0 { logger.info("opened \(raised.opened) alert(s), grouped \(raised.grouped) anomalies into open ones") }
        }
        timings.writes += clock.now - mark
        return ((sids.count, found), update)
    }
}
