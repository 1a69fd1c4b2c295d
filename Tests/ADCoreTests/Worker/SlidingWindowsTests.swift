import ADCore
import Testing

/// The worker's per-series sorted windows, without a database: whatever path a row's windows take (slid from the
/// previous row, taken from the cache, sorted afresh), they are its window's values and steps, sorted.
@Suite struct SlidingWindowsHoldEachRowsWindow {
    func expected(_ history: ArraySlice<Double>, size: Int, daily: ArraySlice<Double> = []) -> HistoryCache.Sorted {
        let w = history.suffix(size), d = daily.suffix(w.count).filter { !$0.isNaN }
        return HistoryCache.Sorted(
            values: SortedWindow(w), steps: SortedWindow(zip(w.dropFirst(), w).map { $0 - $1 }),
            dailyDiffs: SortedWindow(d))
    }

    @Test func slidingRowByRowFillsThenDropsTheOldest() {
        let series = (0..<40).map { Double(($0 * 37) % 11) - 3.5 }  // ties and negative steps
        // Differences from "a day" (5 points) before, known from point 5 on, some missing: NaN.
        let diffs = series.indices.map { i in i >= 5 && i % 6 != 0 ? series[i] - series[i - 5] : .nan }
        let size = 7
        var sliding = SlidingWindows(series: 1)
        for i in series.indices {
            let o = MetricObservation(
                metric: "x", x: series[i], history: Array(series[..<i]),
                dailyDiffs: i > 5 ? Array(diffs[..<i]) : [],  // none known: none sent
                lagDaily: i >= 5 && i % 6 != 0 ? SeasonalLag(value: series[i - 5]) : nil)
            let got = sliding.windows(for: o, at: Int64(i + 1), series: 0, size: size, cached: nil)
            #expect(got == expected(series[..<i], size: size, daily: diffs[..<i]), "row \(i)")
        }
        // The next point's windows, as the cache keeps them.
        #expect(sliding.advanced(0) == expected(series[...], size: size, daily: diffs[...]))
        #expect(sliding.advanced(0) == nil)
    }

    @Test func aGapOrAnotherSizeSortsAfresh() {
        let series = (0..<30).map { Double($0 % 5) * 1.5 }
        var sliding = SlidingWindows(series: 1)
        for i in [3, 4, 9, 10, 20] {  // positions 10 and 20 do not follow the row before
            let o = MetricObservation(metric: "x", x: series[i], history: Array(series[..<i]))
            #expect(
                sliding.windows(for: o, at: Int64(i + 1), series: 0, size: 6, cached: nil)
                    == expected(series[..<i], size: 6))
        }
        let o = MetricObservation(metric: "x", x: series[21], history: Array(series[..<21]))
        #expect(sliding.windows(for: o, at: 22, series: 0, size: 4, cached: nil) == expected(series[..<21], size: 4))
    }

    @Test func theCacheIsUsedOnlyForASeriesFirstRowAndOnlyWhenItCoversTheWindow() {
        let series = (0..<20).map { Double($0) }
        let right = expected(series[..<12], size: 5)
        var sliding = SlidingWindows(series: 2)
        // A first row whose cached windows are right: taken; then the next row slides from them.
        let first = MetricObservation(metric: "x", x: series[12], history: Array(series[..<12]))
        #expect(sliding.windows(for: first, at: 1, series: 0, size: 5, cached: right) == right)
        let second = MetricObservation(metric: "x", x: series[13], history: Array(series[..<13]))
        #expect(
            sliding.windows(for: second, at: 2, series: 0, size: 5, cached: nil) == expected(series[..<13], size: 5))
        // Cached windows of another count are not taken.
        let short = expected(series[..<12], size: 3)
        #expect(sliding.windows(for: first, at: 1, series: 1, size: 5, cached: short) == right)
    }
}
