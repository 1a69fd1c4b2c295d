import ADCore
import Foundation
import Testing

/// The scoring batch's database-free decisions (`BatchPlan`): numbering, latest rows, checkpoints, starting states,
/// merging the two feature queries' rows, and cached history joined to the batch's.
@Suite struct BatchPlanDecidesWithoutTheDatabase {
    static let a = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!
    static let b = UUID(uuidString: "00000000-0000-0000-0000-00000000000b")!

    func row(
        _ source: UUID, _ metric: String, at micros: Int64, pos: Int64 = 1, cached: Bool = false, x: Double = 0,
        statePos: Int64? = nil, stateText: String? = nil
    ) -> BatchRow {
        BatchRow(
            id: UUID(), source: source, micros: micros, metric: metric, cached: cached,
            observation: MetricObservation(metric: metric, x: x, history: []), pos: pos, statePos: statePos,
            stateText: stateText)
    }

    @Test func seriesAreNumberedInOrderOfFirstAppearanceAndTheLatestRowIsByTime() {
        var rows = [
            row(Self.a, "cpu", at: 10), row(Self.a, "mem", at: 10), row(Self.b, "cpu", at: 10),
            row(Self.a, "cpu", at: 30), row(Self.a, "cpu", at: 20),
        ]  // a late point after a later one
        let plan = BatchPlan(rows: &rows)
        #expect(
            plan.keys == [
                .init(source: Self.a, metric: "cpu"), .init(source: Self.a, metric: "mem"),
                .init(source: Self.b, metric: "cpu"),
            ])
        #expect(rows.map(\.series) == [0, 1, 2, 0, 0])
        #expect(plan.latestRow == [3, 1, 2])
    }

    @Test func theLatestRowOfASeriesAndEveryEighthBeforeItStoreTheirState() {
        var rows = (0..<20).map { row(Self.a, "cpu", at: Int64($0)) } + [row(Self.b, "cpu", at: 0)]
        _ = BatchPlan(rows: &rows)
        let stored = rows.indices.filter { rows[$0].checkpoint }
        #expect(stored == [3, 11, 19, 20])
        #expect(BatchPlan.checkpointSpacing == 8)
    }

    @Test func aRowStartsFromTheNewestStateItCanKnow() throws {
        let older = DetectorState.fresh
        var newer = DetectorState.fresh
        newer.sinceAlarm = 3
        let text = newer.json.render()
        // Computed in this batch at position 5, stored in the database at position 4: this batch's is newer.
        var r = row(Self.a, "cpu", at: 0, pos: 6, statePos: 4, stateText: text)
        #expect(BatchPlan.startingState(for: r, carried: (5, older), cached: nil) == older)
        // Stored at position 5, computed at 4: the stored one, decoded.
        r.statePos = 5
        #expect(BatchPlan.startingState(for: r, carried: (4, older), cached: nil) == newer)
        // What the batch computed for a later row does not apply to an earlier one.
        #expect(BatchPlan.startingState(for: r, carried: (6, older), cached: nil) == newer)
        // A stored state that cannot be read: this batch's, else none.
        r.stateText = "[1, 2]"
        #expect(BatchPlan.startingState(for: r, carried: (4, older), cached: nil) == older)
        #expect(BatchPlan.startingState(for: r, carried: nil, cached: older) == nil)
        // A cached row with nothing stored or carried starts from the cache's state.
        let c = row(Self.a, "cpu", at: 0, pos: 1, cached: true)
        #expect(BatchPlan.startingState(for: c, carried: nil, cached: newer) == newer)
        #expect(BatchPlan.startingState(for: row(Self.a, "cpu", at: 0), carried: nil, cached: newer) == nil)
    }

    @Test func twoQueriesRowsMergeInTimeSourceAndMetricOrder() {
        let x = [row(Self.a, "cpu", at: 1), row(Self.b, "mem", at: 1), row(Self.a, "cpu", at: 3)]
        let y = [row(Self.a, "mem", at: 1), row(Self.b, "cpu", at: 1), row(Self.a, "cpu", at: 2)]
        let merged = BatchPlan.merged(x, y)
        #expect(
            merged.map { "\($0.micros)\($0.source == Self.a ? "a" : "b")\($0.metric)" }
                == ["1acpu", "1amem", "1bcpu", "1bmem", "2acpu", "3acpu"])
    }

    @Test func seasonalDifferencesJoinAlignedAtTheirEnds() {
        let joined = BatchPlan.joined([1, 2][...], 3, [5], 2, 4)
        #expect(joined.count == 4)
        #expect(joined[0] == 1 && joined[1] == 2 && joined[2].isNaN && joined[3] == 5)
        #expect(BatchPlan.joined([][...], 3, [.nan], 1, 4).isEmpty)  // none known at all
    }

    @Test func cachedRowsReadTheCacheThenTheBatchAsOneHistory() {
        var rows = [
            row(Self.a, "cpu", at: 40, pos: 1, cached: true, x: 4),
            row(Self.a, "cpu", at: 50, pos: 2, cached: true, x: 5),
        ]
        rows[1].observation.delta = 1
        let plan = BatchPlan(rows: &rows)
        var within = BatchSeriesValues()
        within.xs = [4, 5]; within.dds = [.nan, .nan]; within.dws = [.nan, .nan]; within.lastMicros = 50
        let known = HistoryCache.Series(values: [0, 1, 2, 3], lastMicros: 30)
        let joined = CachedSeries(cached: known, batch: within, window: 3)
        plan.attach([joined], to: &rows, window: 3)
        #expect(Array(rows[0].observation.history) == [1, 2, 3])
        #expect(Array(rows[1].observation.history) == [2, 3, 4])
        #expect(rows[0].observation.delta == 1 && rows[0].observation.secondsSincePrevious == 10e-6)
        let (histories, refreshed, latest) = plan.cacheEntries(rows, joined: [joined], window: 3)
        #expect(histories.map(\.values) == [[2, 3, 4, 5]] && histories[0].lastMicros == 50)
        #expect(refreshed.isEmpty && latest == [Self.a: 50])
    }
}
