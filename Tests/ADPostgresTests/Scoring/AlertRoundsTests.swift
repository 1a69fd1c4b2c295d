import ADCore
import Foundation
import Testing

@testable import ADPostgres

/// Off points join into one run only as close as the shortest grouping window allows (and five minutes at most).
@Suite struct RunsOfOffPointsSplitAtTheShortestGroupWindow {
    func points(_ minutes: [Int64]) -> [OffPoint] {
        let s = UUID()
        return minutes.map {
            OffPoint(
                source: s, sourceName: "s", metric: "x", micros: $0 * 60_000_000,
                time: Date(timeIntervalSince1970: 946_684_800 + Double($0) * 60), value: 1, severity: .high)
        }
    }

    @Test func aOneMinuteWindowSplitsPointsThreeMinutesApart() {
        let off = points([0, 1, 4, 5, 20])
        let gap = AlertRounds.gap(smallestGroupWindow: 60_000_000)
        #expect(gap == 60_000_000)
        let runs = AlertRounds(anomalies: [], off: off, gap: gap).rounds.flatMap(\.runs)
        #expect(
            runs.map { ($0.firstMicros / 60_000_000, $0.lastMicros / 60_000_000) }.elementsEqual(
                [(0, 1), (4, 5), (20, 20)], by: ==))
        // Without rules, or with long windows, five minutes.
        #expect(AlertRounds.gap(smallestGroupWindow: nil) == AlertRounds.runGap)
        #expect(AlertRounds.gap(smallestGroupWindow: 3_600_000_000) == AlertRounds.runGap)
        #expect(AlertRounds(anomalies: [], off: off).rounds.flatMap(\.runs).count == 2)
    }
}
