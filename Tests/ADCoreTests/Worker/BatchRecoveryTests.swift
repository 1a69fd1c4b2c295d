import ADCore
import Foundation
import Testing

@Suite struct AFailedBatchIsNeverRetriedUnchangedForever {
    static let source = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!
    static func points(_ range: Range<Int>) -> [PointKey] { range.map { PointKey(source: source, micros: Int64($0)) } }

    /// Runs a recovery to the end against `fails` (whether a batch of these points fails, and how): the points
    /// scored, the points quarantined, and the batches run.
    static func drive(
        _ all: [PointKey], batchSize: Int, maxBatches: Int = 10_000, fails: ([PointKey]) -> BatchFailureKind?
    ) -> (scored: [PointKey], quarantined: [PointKey], batches: Int) {
        var r = BatchRecovery(batchSize: batchSize)
        var queue = all, scored: [PointKey] = [], quarantined: [PointKey] = [], batches = 0
        while batches < maxBatches {
            let batch: [PointKey]
            switch r.next {
            case .claim(let limit):
                batch = Array(queue.prefix(limit))
                if batch.isEmpty { return (scored, quarantined, batches) }
            case .retry(let keys): batch = keys.filter { queue.contains($0) }
            }
            batches += 1
            if let kind = fails(batch), !batch.isEmpty {
                switch r.failed(batch, kind: kind) {
                case .backOff: Issue.record("a row failure backed off"); return (scored, quarantined, batches)
                case .split(let sizes): #expect(sizes.reduce(0, +) == batch.count && sizes.allSatisfy { $0 > 0 })
                case .quarantine(let p):
                    quarantined.append(p); queue.removeAll { $0 == p }
                }
            } else {
                scored += batch; queue.removeAll { batch.contains($0) }
                r.succeeded(claimed: batch.count)
            }
        }
        Issue.record("no end after \(maxBatches) batches")
        return (scored, quarantined, batches)
    }

    @Test(arguments: [[0], [4999], [0, 4999], [17, 18, 19], [1234, 2345, 3456, 4567]])
    func poisonPointsAreIsolatedAndEveryOtherPointIsScored(poison: [Int]) {
        let all = Self.points(0..<5000), bad = Set(poison.map { Self.points($0..<($0 + 1))[0] })
        let out = Self.drive(all, batchSize: 5000) { batch in batch.contains(where: bad.contains) ? .rows : nil }
        #expect(Set(out.quarantined) == bad)
        #expect(out.scored.count == all.count - bad.count)
        #expect(Set(out.scored).isDisjoint(with: bad))
        // Bisection: about log2(5000) ≈ 13 failed batches per poison point, and as many that pass.
        #expect(out.batches <= 1 + poison.count * 2 * 14, "\(out.batches) batches")
    }

    @Test func aBatchTooLargeForTheTimeoutIsHalvedUntilItPassesAndLaterClaimsStaySmaller() {
        // Any batch over 700 points hits the statement timeout.
        let all = Self.points(0..<5000)
        var sizes: [Int] = []
        let out = Self.drive(all, batchSize: 5000) { batch in
            sizes.append(batch.count)
            return batch.count > 700 ? .timeout : nil
        }
        #expect(out.quarantined.isEmpty)
        #expect(out.scored.count == 5000)
        #expect(sizes.prefix(4) == [5000, 2500, 1250, 625], "halved: \(sizes.prefix(8))")
        // No batch of the same size fails twice in a row: once halved, fresh claims ask for the size that passed.
        #expect(sizes.filter { $0 > 700 } == [5000, 2500, 1250], "\(sizes)")
    }

    @Test func aLonePointThatStillTimesOutIsQuarantined() {
        let all = Self.points(0..<8), slow = all[5]
        let out = Self.drive(all, batchSize: 8) { $0.contains(slow) ? .timeout : nil }
        #expect(out.quarantined == [slow])
        #expect(out.scored.count == 7)
    }

    @Test func theClaimGrowsBackToTheBatchSizeAfterFullBatchesPass() {
        var r = BatchRecovery(batchSize: 1000)
        _ = r.failed(Self.points(0..<1000), kind: .timeout)
        #expect(r.limit == 500)
        r.succeeded(claimed: 500); r.succeeded(claimed: 500)  // the two halves
        #expect(r.next == .claim(limit: 500))
        r.succeeded(claimed: 500)
        #expect(r.next == .claim(limit: 1000))
        r.succeeded(claimed: 3)  // a small batch does not grow it past the batch size
        #expect(r.next == .claim(limit: 1000))
    }

    @Test func aTransientFailureRetriesTheSameBatch() {
        var r = BatchRecovery(batchSize: 10)
        #expect(r.failed(Self.points(0..<10), kind: .rows) == .split(into: [5, 5]))
        let half = r.next
        #expect(half == .retry(Self.points(0..<5)))
        #expect(r.failed(Self.points(0..<5), kind: .transient) == .backOff)
        #expect(r.next == half, "the same half again, after the backoff")
        #expect(r.failed([], kind: .rows) == .backOff, "nothing claimed: nothing to split")
        #expect(r.next == half)
    }

    @Test(arguments: [
        ("22003", "value out of range: overflow", BatchFailureKind.rows),
        ("22008", "timestamp out of range", .rows),
        ("54000", "index row requires 10288 bytes, maximum size is 8191", .rows),
        ("23514", "new row violates check constraint", .rows),
        ("21000", "ON CONFLICT DO UPDATE command cannot affect row a second time", .rows),
        ("57014", "canceling statement due to statement timeout", .timeout),
        ("57014", "canceling statement due to user request", .transient),
        ("55P03", "canceling statement due to lock timeout", .transient),
        ("40001", "could not serialize access", .transient),
        ("40P01", "deadlock detected", .transient),
        ("57P01", "terminating connection due to administrator command", .transient),
        ("08006", "connection failure", .transient),
        ("53200", "out of memory", .transient),
        ("25006", "cannot execute UPDATE in a read-only transaction", .transient),
        ("42883", "function ad_internal.raise_alerts does not exist", .transient),
        ("42501", "permission denied for table data_points", .transient),
    ])
    func failuresAreClassifiedBySQLState(state: String, message: String, kind: BatchFailureKind) {
        #expect(BatchFailureKind.classify(sqlState: state, message: message) == kind)
    }

    @Test func noSQLStateIsAConnectionOrClientFailureAndTransient() {
        #expect(BatchFailureKind.classify(sqlState: nil, message: "connection reset by peer") == .transient)
    }
}
