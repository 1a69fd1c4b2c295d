import Foundation

/// Recent values per series that the worker has already seen, so a batch need not fetch its context again.
///
/// The claiming transaction uses it only for a source whose latest point before the batch is exactly the one the
/// cache ended with (nothing late, nothing scored by another worker in between); otherwise the SQL context is
/// fetched as without a cache. Entries change only after the batch commits.
public struct HistoryCache: Sendable {
    public struct Key: Hashable, Sendable {
        public let source: UUID
        public let metric: String
        public init(source: UUID, metric: String) { self.source = source; self.metric = metric }
    }

    /// A window of a series, its steps, and its known differences from a day and a week before, each kept sorted
    /// (`SortedWindow`).
    public struct Sorted: Sendable, Equatable {
        public var values: SortedWindow
        public var steps: SortedWindow
        public var dailyDiffs: SortedWindow
        public var weeklyDiffs: SortedWindow
        public init(
            values: SortedWindow, steps: SortedWindow, dailyDiffs: SortedWindow = SortedWindow([]),
            weeklyDiffs: SortedWindow = SortedWindow([])
        ) {
            self.values = values; self.steps = steps; self.dailyDiffs = dailyDiffs; self.weeklyDiffs = weeklyDiffs
        }
        var numbers: Int { values.count + steps.count + dailyDiffs.count + weeklyDiffs.count }
    }

    /// A series' recent values, oldest first, and the time of the latest.
    public struct Series: Sendable, Equatable {
        public var values: [Double]
        /// Each value minus its value a day (a week) earlier, NaN where none (aligned with `values` at the end;
        /// empty when the source has no seasonal lags).
        public var dailyDiffs: [Double]
        public var weeklyDiffs: [Double]
        public var lastMicros: Int64
        /// The detector state the latest point left.
        public var state: DetectorState? {
            get { stateBox?.state }
            set { stateBox = newValue.map(StateBox.init) }
        }
        /// Boxed: inline, its 200 bytes made each of the cache's dictionary slots 300 bytes, most of the worker's
        /// memory at 100,000 series (the dictionary keeps a quarter to five eighths of its slots empty).
        private var stateBox: StateBox?
        /// The next point's window (the last values, as many as its source's window), its steps and its known
        /// seasonal differences, sorted.
        public var sorted: Sorted?
        /// Numbers it holds.
        var numbers: Int {
            values.count + dailyDiffs.count + weeklyDiffs.count + (sorted?.numbers ?? 0)
        }

        public init(
            values: [Double], dailyDiffs: [Double] = [], weeklyDiffs: [Double] = [], lastMicros: Int64,
            state: DetectorState? = nil, sorted: Sorted? = nil
        ) {
            self.values = values; self.dailyDiffs = dailyDiffs; self.weeklyDiffs = weeklyDiffs
            self.lastMicros = lastMicros; self.stateBox = state.map(StateBox.init); self.sorted = sorted
        }

        public static func == (a: Series, b: Series) -> Bool {
            a.values == b.values && a.dailyDiffs == b.dailyDiffs && a.weeklyDiffs == b.weeklyDiffs
                && a.lastMicros == b.lastMicros && a.state == b.state && a.sorted == b.sorted
        }
    }

    /// An immutable detector state on the heap (a new state replaces the box, so copies never share a change).
    private final class StateBox: Sendable {
        let state: DetectorState
        init(_ state: DetectorState) { self.state = state }
    }

    /// Most series kept; past it the cache starts over (0 disables it).
    public let capacity: Int
    /// Most numbers (values, seasonal differences and sorted windows, 8 bytes each) kept; past it the cache starts
    /// over too (keeping the batch just committed), so a worker's memory stays bounded however many long series it
    /// sees.
    public let maxNumbers: Int
    /// Numbers held now.
    public private(set) var held = 0
    /// Values kept per series (the largest window in use).
    public var depth: Int
    private var latest: [UUID: Int64] = [:]  // source -> microseconds of its latest point seen
    private var series: [Key: Series] = [:]

    public init(capacity: Int, depth: Int, maxNumbers: Int = .max) {
        self.capacity = capacity
        self.depth = depth
        self.maxNumbers = maxNumbers
    }

    public var count: Int { series.count }

    /// Of `sources`, those with a cache and the time of their latest cached point, for the cached feature query.
    public func candidates(among sources: Set<UUID>) -> (sources: [UUID], micros: [Int64]) {
        var s: [UUID] = [], m: [Int64] = []
        for source in sources {
            if let micros = latest[source] { s.append(source); m.append(micros) }
        }
        return (s, m)
    }

    public subscript(key: Key) -> Series? { series[key] }

    /// What a committed batch established. `refreshed`: sources whose history came from the database this time
    /// (their older entries are dropped, as they may be stale); `histories`: each series' values up to and including
    /// its latest point in the batch; `latest`: each source's latest point in the batch.
    public mutating func commit(refreshed: Set<UUID>, histories: [Key: Series], latest batchLatest: [UUID: Int64]) {
        guard capacity > 0 else { return }
        // Only sources already cached have entries to drop (every cached series' source is in `latest`). Most
        // refreshed sources are new ones, and filtering copied the whole cache at every batch that had any.
        let stale = refreshed.filter { latest[$0] != nil }
        if !stale.isEmpty {
            series = series.filter { !stale.contains($0.key.source) }
            held = series.values.reduce(0) { $0 + $1.numbers }
        }
        let kept = histories.mapValues { s in
            var k = s  // keeps the state's box
            k.values = Array(s.values.suffix(depth))
            k.dailyDiffs = Self.trimmed(s.dailyDiffs, depth)
            k.weeklyDiffs = Self.trimmed(s.weeklyDiffs, depth)
            k.sorted = s.sorted.flatMap { $0.values.count <= depth ? $0 : nil }
            return k
        }
        let adding = kept.values.reduce(0) { $0 + $1.numbers }
        if series.count + histories.count > capacity || held + adding > maxNumbers {
            series.removeAll(keepingCapacity: true)
            latest.removeAll(keepingCapacity: true)
            held = 0
        }
        for (key, s) in kept {
            held += s.numbers - (series[key]?.numbers ?? 0)
            series[key] = s
        }
        for (source, micros) in batchLatest { latest[source] = micros }
    }

    /// The last `depth` differences, or none at all when none is known (most sources most of the time).
    private static func trimmed(_ diffs: [Double], _ depth: Int) -> [Double] {
        let kept = diffs.suffix(depth)
        return kept.contains { !$0.isNaN } ? Array(kept) : []
    }
}
