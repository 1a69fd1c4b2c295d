import ADTestSupport
import Foundation
import Testing

@testable import ADCore

@Suite struct HistoryCacheKeepsOnlyWhatIsProven {
    let a = UUID(), b = UUID()

    @Test func commitsKeepTheDepthAndTheLatestTime() {
        var c = HistoryCache(capacity: 10, depth: 3)
        c.commit(
            refreshed: [a], histories: [.init(source: a, metric: "x"): .init(values: [1, 2, 3, 4], lastMicros: 40)],
            latest: [a: 40])
        #expect(c[.init(source: a, metric: "x")] == .init(values: [2, 3, 4], lastMicros: 40))
        #expect(c.candidates(among: [a, b]).sources == [a] && c.candidates(among: [a, b]).micros == [40])
        #expect(c.candidates(among: [b]).sources.isEmpty)
    }

    @Test func aRefreshedSourceDropsSeriesTheBatchDidNotSee() {
        var c = HistoryCache(capacity: 10, depth: 3)
        c.commit(
            refreshed: [a],
            histories: [
                .init(source: a, metric: "x"): .init(values: [1], lastMicros: 1),
                .init(source: a, metric: "y"): .init(values: [1], lastMicros: 1),
            ], latest: [a: 1])
        c.commit(
            refreshed: [a], histories: [.init(source: a, metric: "x"): .init(values: [5], lastMicros: 9)],
            latest: [a: 9])
        #expect(c[.init(source: a, metric: "y")] == nil)
        #expect(c[.init(source: a, metric: "x")]?.values == [5])
    }

    @Test func overCapacityItStartsOverAndZeroDisablesIt() {
        var c = HistoryCache(capacity: 1, depth: 3)
        c.commit(
            refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1], lastMicros: 1)], latest: [a: 1]
        )
        c.commit(
            refreshed: [], histories: [.init(source: b, metric: "x"): .init(values: [2], lastMicros: 2)], latest: [b: 2]
        )
        #expect(c.count == 1)
        #expect(c.candidates(among: [a, b]).sources == [b])
        // A byte budget: past it, too, the cache starts over; seasonal differences count, all-NaN ones are not kept.
        var small = HistoryCache(capacity: 10, depth: 3, maxNumbers: 5)
        small.commit(
            refreshed: [],
            histories: [.init(source: a, metric: "x"): .init(values: [1, 2], dailyDiffs: [.nan, 0.5], lastMicros: 1)],
            latest: [a: 1])
        #expect(small.held == 4)
        small.commit(
            refreshed: [],
            histories: [
                .init(source: a, metric: "x"): .init(values: [1, 2, 3], dailyDiffs: [.nan, .nan, .nan], lastMicros: 2)
            ],
            latest: [a: 2])
        #expect(small.held == 3 && small[.init(source: a, metric: "x")]?.dailyDiffs == [])
        small.commit(
            refreshed: [], histories: [.init(source: b, metric: "x"): .init(values: [7, 8, 9], lastMicros: 3)],
            latest: [b: 3])
        #expect(small.count == 1 && small.held == 3 && small.candidates(among: [a, b]).sources == [b])
        // The sorted window and steps count too: 2 values + 2 sorted + 1 step is 5, within; 3 + 3 + 2 is not.
        var sorted = HistoryCache(capacity: 10, depth: 3, maxNumbers: 5)
        let two = HistoryCache.Sorted(values: SortedWindow([2, 1]), steps: SortedWindow([1]))
        sorted.commit(
            refreshed: [],
            histories: [.init(source: a, metric: "x"): .init(values: [1, 2], lastMicros: 1, sorted: two)],
            latest: [a: 1])
        #expect(sorted.held == 5 && sorted[.init(source: a, metric: "x")]?.sorted == two)
        let three = HistoryCache.Sorted(values: SortedWindow([1, 2, 3]), steps: SortedWindow([1, 1]))
        sorted.commit(
            refreshed: [],
            histories: [.init(source: b, metric: "x"): .init(values: [1, 2, 3], lastMicros: 2, sorted: three)],
            latest: [b: 2])
        #expect(sorted.held == 8 && sorted.count == 1 && sorted.candidates(among: [a, b]).sources == [b])
        var off = HistoryCache(capacity: 0, depth: 3)
        off.commit(
            refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1], lastMicros: 1)], latest: [a: 1]
        )
        #expect(off.count == 0 && off.candidates(among: [a]).sources.isEmpty)
    }
}
