import Foundation

/// One metric of one claimed point, as the features phase hands it to the scoring phase.
public struct BatchRow: Sendable {
    public var id: UUID, source: UUID, micros: Int64, metric: String
    /// Whether its history comes from the worker's cache (the cached feature query) rather than from SQL.
    public var cached: Bool
    public var observation: MetricObservation
    /// The row's position in its series (for a cached row, among the series' rows in the batch), and the nearest
    /// earlier row with a stored detector state: its position and the state's text.
    public var pos: Int64, statePos: Int64?, stateText: String?
    /// Whether this row's features store the detector state it leaves (a checkpoint; see `BatchPlan`).
    public var checkpoint = true
    /// Its series' number in this batch (the per-series bookkeeping is arrays, not a hash lookup per row).
    public var series = 0

    public init(
        id: UUID, source: UUID, micros: Int64, metric: String, cached: Bool, observation: MetricObservation,
        pos: Int64, statePos: Int64?, stateText: String?
    ) {
        self.id = id; self.source = source; self.micros = micros; self.metric = metric; self.cached = cached
        self.observation = observation; self.pos = pos; self.statePos = statePos; self.stateText = stateText
    }
}

/// The decisions of one scoring batch that need no database: which series each row belongs to, which row of each
/// series is its latest (what the cache keeps), which rows store their detector state, which state each row starts
/// from, and how a cached series' history joins the batch's own values. The I/O around it is `ScoringCycle`'s.
public struct BatchPlan: Sendable {
    /// Within a batch, the rows of a series that store their detector state (`lik`): its latest row, and every
    /// `checkpointSpacing`-th row before it. The latest is where the next batch starts; the others bound how far
    /// back a late point finds a state (at most this many points older than its own past; the general features query
    /// reads at least 10 context rows, the smallest window). The state is 28 numbers per metric, about half of a
    /// scored row's `features`, and the scoring `UPDATE`'s cost follows the row's size.
    public static let checkpointSpacing = 8

    /// The batch's series in order of first appearance: `rows[i].series` indexes this.
    public let keys: [HistoryCache.Key]
    /// Each series' latest row in the batch (by time), an index into the rows.
    public let latestRow: [Int]

    /// Numbers each row's series, finds each series' latest row and marks the checkpoints, in `rows`.
    public init(rows: inout [BatchRow]) {
        var keys: [HistoryCache.Key] = []
        var numbered: [HistoryCache.Key: Int] = [:]
        for i in rows.indices {
            let key = HistoryCache.Key(source: rows[i].source, metric: rows[i].metric)
            if let n = numbered[key] {
                rows[i].series = n
            } else {
                numbered[key] = keys.count; rows[i].series = keys.count; keys.append(key)
            }
        }
        var latestRow = Array(repeating: -1, count: keys.count)
        for i in rows.indices {
            let n = rows[i].series
            if latestRow[n] < 0 || rows[latestRow[n]].micros < rows[i].micros { latestRow[n] = i }
        }
        var after = Array(repeating: 0, count: keys.count)  // rows of the series later in the batch
        for i in rows.indices.reversed() {
            rows[i].checkpoint = after[rows[i].series] % Self.checkpointSpacing == 0
            after[rows[i].series] += 1
        }
        self.keys = keys
        self.latestRow = latestRow
    }

    /// The detector state a row starts from: the latest of what this batch just computed for its series (`carried`,
    /// the position and state of the series' last scored row), what the nearest earlier scored row in the database
    /// left (`row.stateText` at `row.statePos`), and, for a cached row, what the cache holds. The stored text is
    /// decoded only when nothing this batch computed is newer, so once per series and batch.
    public static func startingState(
        for row: BatchRow, carried: (pos: Int64, state: DetectorState)?,
        cached: @autoclosure () -> DetectorState?
    ) -> DetectorState? {
        let mine = carried.flatMap { row.pos > $0.pos ? $0 : nil }
        if let mine, mine.pos > (row.statePos ?? 0) { return mine.state }
        if row.statePos != nil, let text = row.stateText, let s = DetectorState(text: text) { return s }
        if let mine { return mine.state }
        return row.cached ? cached() : nil
    }

    /// Two row lists, each in (time, source, metric) order as the queries give them, merged in that order: a
    /// point's rows stay together and each series stays in time order. Sources compare by their bytes, as in SQL.
    public static func merged(_ a: [BatchRow], _ b: [BatchRow]) -> [BatchRow] {
        func before(_ x: BatchRow, _ y: BatchRow) -> Bool {
            if x.micros != y.micros { return x.micros < y.micros }
            if x.source != y.source {
                let (p, q) = (x.source.uuid, y.source.uuid)
                return withUnsafeBytes(of: p) { pb in withUnsafeBytes(of: q) { qb in pb.lexicographicallyPrecedes(qb) }
                }
            }
            return x.metric < y.metric
        }
        var out: [BatchRow] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && before(a[i], b[j])) {
                out.append(a[i]); i += 1
            } else {
                out.append(b[j]); j += 1
            }
        }
        return out
    }

    /// Two runs of seasonal differences, each aligned at its end with `count` values (an empty run: none known),
    /// joined and cut to the last `limit`; empty when none is known at all.
    public static func joined(
        _ a: ArraySlice<Double>, _ aCount: Int, _ b: [Double], _ bCount: Int, _ limit: Int
    ) -> [Double] {
        if a.isEmpty && !b.contains(where: { !$0.isNaN }) { return [] }
        func padded(_ d: some Collection<Double>, _ count: Int) -> ArraySlice<Double> {
            d.count >= count ? Array(d).suffix(count) : (Array(repeating: .nan, count: count - d.count) + d)[...]
        }
        return Array((padded(a, aCount) + padded(b, bCount)).suffix(limit))
    }

    /// Gives each cached row (`joined` is by series number; nil for a series the cache does not hold) its history:
    /// the cache holds what came before the batch, the rows what came within it. A series' first row also takes its
    /// delta and time from the cached latest point.
    public func attach(_ joined: [CachedSeries?], to rows: inout [BatchRow], window: Int) {
        for i in rows.indices where rows[i].cached {
            guard let j = joined[rows[i].series] else { continue }
            let end = j.cachedCount + Int(rows[i].pos) - 1, from = max(0, end - window)
            rows[i].observation.history = j.values[from..<end]
            rows[i].observation.dailyDiffs = j.dailyDiffs.isEmpty ? [] : j.dailyDiffs[from..<end]
            rows[i].observation.weeklyDiffs = j.weeklyDiffs.isEmpty ? [] : j.weeklyDiffs[from..<end]
            if rows[i].observation.delta == nil, j.cachedCount > 0 {
                rows[i].observation.delta = rows[i].observation.x - j.values[j.cachedCount - 1]
                // In doubles: two times at the far ends of PostgreSQL's range are further apart than Int64 counts.
                rows[i].observation.secondsSincePrevious =
                    (Double(rows[i].micros) - Double(j.cachedMicros)) / 1_000_000
            }
        }
    }

    /// What the cache will keep of each series once the batch commits (its state and sorted windows are added as the
    /// batch scores), the sources whose entries are refreshed from SQL rather than extended, and each source's latest
    /// point in the batch.
    public func cacheEntries(
        _ rows: [BatchRow], joined: [CachedSeries?], window: Int
    )
        -> (histories: [HistoryCache.Series], refreshed: Set<UUID>, latest: [UUID: Int64])
    {
        var refreshed: Set<UUID> = [], latest: [UUID: Int64] = [:]
        let histories: [HistoryCache.Series] = keys.indices.map { n in
            let i = latestRow[n]
            latest[rows[i].source] = max(latest[rows[i].source] ?? .min, rows[i].micros)
            if rows[i].cached, let j = joined[n] {  // its latest row is its last
                return HistoryCache.Series(
                    values: Array(j.values.suffix(window + 1)), dailyDiffs: Array(j.dailyDiffs.suffix(window + 1)),
                    weeklyDiffs: Array(j.weeklyDiffs.suffix(window + 1)), lastMicros: rows[i].micros)
            }
            refreshed.insert(rows[i].source)
            let o = rows[i].observation
            return HistoryCache.Series(
                values: Array(o.history) + [o.x],
                dailyDiffs: Self.joined(
                    o.dailyDiffs, o.history.count, [o.lagDaily.map { o.x - $0.value } ?? .nan], 1, window + 1),
                weeklyDiffs: Self.joined(
                    o.weeklyDiffs, o.history.count, [o.lagWeekly.map { o.x - $0.value } ?? .nan], 1, window + 1),
                lastMicros: rows[i].micros)
        }
        return (histories, refreshed, latest)
    }
}

/// A cached series' points within the batch, in time order: values, differences from a day and a week before
/// (NaN where none), and the latest point's time.
public struct BatchSeriesValues: Sendable {
    public var xs: [Double] = [], dds: [Double] = [], dws: [Double] = [], lastMicros: Int64 = 0
    public init() {}
}

/// A cached series over the batch: the cached values that can still be in a window, then the batch's, in one
/// array (each row's history is a slice of it, not a copy), with their differences aligned (empty when none is
/// known at all).
public struct CachedSeries: Sendable {
    public var values: [Double], dailyDiffs: [Double], weeklyDiffs: [Double]
    /// How many of `values` came from the cache; the time of the latest of those.
    public var cachedCount: Int, cachedMicros: Int64

    public init(cached known: HistoryCache.Series, batch w: BatchSeriesValues, window: Int) {
        let kept = known.values.suffix(window)
        func diffs(_ old: [Double], _ new: [Double]) -> [Double] {
            BatchPlan.joined(old[...], known.values.count, new, new.count, kept.count + new.count)
        }
        values = Array(kept) + w.xs
        dailyDiffs = diffs(known.dailyDiffs, w.dds)
        weeklyDiffs = diffs(known.weeklyDiffs, w.dws)
        cachedCount = kept.count
        cachedMicros = known.lastMicros
    }
}
