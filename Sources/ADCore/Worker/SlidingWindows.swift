import Foundation

/// Each series' window kept sorted from row to row of a batch (and, through the cache, from batch to batch), so
/// the scorer reads its medians rather than selecting them at every point (`SortedWindow`).
public struct SlidingWindows: Sendable {
    private struct Entry: Sendable {
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

    public init(series: Int) { entries = Array(repeating: nil, count: series) }

    /// The windows of `o`'s history (`size` values; the row is at `pos` in its series): the previous row's slid on
    /// by one when this row directly follows it, else the cached ones when they cover exactly this window, else
    /// sorted afresh.
    public mutating func windows(
        for o: MetricObservation, at pos: Int64, series: Int, size: Int,
        cached: @autoclosure () -> HistoryCache.Sorted?
    ) -> HistoryCache.Sorted {
        let window = o.history.suffix(size)
        let daily = o.dailyDiffs.suffix(window.count), weekly = o.weeklyDiffs.suffix(window.count)
        let previous = entries[series].take()
        var sorted: HistoryCache.Sorted
        if var e = previous, e.size == size, pos == e.pos + 1, window.count == min(size, e.window.count + 1),
            window.last == e.x,
            Self.slide(&e, daily: o.dailyDiffs.last ?? .nan, weekly: o.weeklyDiffs.last ?? .nan)
        {
            sorted = e.sorted
        } else if previous == nil, let cached = cached(), cached.values.count == window.count,
            cached.steps.count == max(0, window.count - 1)
        {
            // The series' first row in the batch, whose history is the cached values: the cache's windows end where
            // this one does, so the same count is the same values (and the same differences).
            sorted = cached
        } else {
            func known(_ d: ArraySlice<Double>) -> SortedWindow { SortedWindow(d.lazy.filter { !$0.isNaN }) }
            sorted = HistoryCache.Sorted(
                values: SortedWindow(window), steps: SortedWindow(zip(window.dropFirst(), window).map { $0 - $1 }),
                dailyDiffs: known(daily), weeklyDiffs: known(weekly))
        }
        entries[series] = Entry(
            pos: pos, size: size, window: window, x: o.x, sorted: sorted, daily: daily, weekly: weekly,
            ownDaily: o.lagDaily.map { o.x - $0.value } ?? .nan,
            ownWeekly: o.lagWeekly.map { o.x - $0.value } ?? .nan)
        return sorted
    }

    /// The windows of the point after the series' latest row, for the cache (taken out: the batch is done with it).
    public mutating func advanced(_ series: Int) -> HistoryCache.Sorted? {
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
        if leaves, window.count >= 2, !e.sorted.steps.remove(window[window.startIndex + 1] - window[window.startIndex])
        {
            return false
        }
        /// A difference enters with x and, when the window is full, the one aligned with its first value leaves.
        func slide(_ s: inout SortedWindow, _ diffs: ArraySlice<Double>, entering: Double) -> Bool {
            if !entering.isNaN { s.insert(entering) }
            guard leaves, diffs.count == window.count, let leaving = diffs.first, !leaving.isNaN else { return true }
            return s.remove(leaving)
        }
        return slide(&e.sorted.dailyDiffs, e.daily, entering: daily)
            && slide(&e.sorted.weeklyDiffs, e.weekly, entering: weekly)
    }
}
