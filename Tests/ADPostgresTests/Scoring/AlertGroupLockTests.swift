import ADCore
import ADDBTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import ADPostgres

/// `ScoringCycle.alert` raises and sustains in several rounds, each a call that locks its groups in its own order;
/// two workers could deadlock on overlapping series. So it takes every series' group lock first, in one statement.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct AlertingTakesEverySeriesLockFirst {
    @Test func theBatchsSeriesAreLockedBeforeAnyRoundAndUntilItsTransactionEnds() async throws {
        try await withWorkerDatabase { url in
            let a = UUID(), b = UUID()
            func point(_ source: UUID, _ metric: String, _ minute: Int64) -> OffPoint {
                OffPoint(
                    source: source, sourceName: "s", metric: metric, micros: minute * 60_000_000,
                    time: Date(timeIntervalSince1970: 946_684_800 + Double(minute) * 60), value: 1, severity: .high)
            }
            let off = [point(a, "x", 1), point(a, "x", 2), point(b, "y", 1), point(a, "y", 3)]
            try await Database.withConnection(url, logger: TestServer.logger) { conn in
                let cycle = ScoringCycle(settings: WorkerSettings(), logger: TestServer.logger)
                var pid: Int32 = 0
                for try await p in try await conn.query("SELECT pg_backend_pid()", logger: TestServer.logger)
                    .decode(Int32.self)
                { pid = p }
                try await conn.query("BEGIN", logger: TestServer.logger)
                _ = try await cycle.alert(conn, anomalies: [], off: off)
                let held = try await integer(
                    url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = \(pid) AND granted")
                #expect(held == 3, "one lock per series (a/x, a/y, b/y), held in the transaction")
                try await conn.query("ROLLBACK", logger: TestServer.logger)
                let after = try await integer(
                    url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = \(pid)")
                #expect(after == 0)
            }
        }
    }
}
