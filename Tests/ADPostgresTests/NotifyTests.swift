import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import PostgresNIO
import Testing

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct InsertsWakeTheWorkerCheaply {
    /// Listens on ad_points while `work` runs and returns every payload it caused. A sentinel NOTIFY sent after
    /// the work commits arrives after everything the work sent, so reading stops there, without sleeping.
    func notifications(_ url: DatabaseURL, during work: @Sendable () async throws -> Void) async throws -> [String] {
        try await Database.withConnection(url, logger: TestServer.logger) { listener in
            try await listener.listen(on: "ad_points") { stream in
                try await work()
                try await sql(url, "NOTIFY ad_points, 'test-sentinel'")
                var received: [String] = []
                for try await n in stream {
                    if n.payload == "test-sentinel" { break }
                    received.append(n.payload)
                }
                return received
            }
        }
    }

    @Test func oneNotificationPerTransactionAndSource() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(
                url,
                "INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'a'), ('00000000-0000-0000-0000-00000000000b', 'b')"
            )
            let got = try await notifications(url) {
                try await Database.withConnection(url, logger: TestServer.logger) { conn in
                    try await conn.query("BEGIN", logger: TestServer.logger)
                    // 300 rows over two sources and three statements, one transaction.
                    for _ in 0..<3 {
                        try await conn.query(
                            """
                            INSERT INTO ad.data_points (source_id, "timestamp", values)
                            SELECT s.id, now() + (g || ' s')::interval + random() * interval '20 hours', '{"x": 1}'
                              FROM ad.data_sources s, generate_series(1, 50) g
                            ON CONFLICT DO NOTHING
                            """, logger: TestServer.logger)
                    }
                    try await conn.query("COMMIT", logger: TestServer.logger)
                    // A second transaction for one source notifies again.
                    try await conn.query(
                        """
                        INSERT INTO ad.data_points (source_id, "timestamp", values)
                        VALUES ('00000000-0000-0000-0000-00000000000a', now() - interval '1 year', '{"x": 2}')
                        """, logger: TestServer.logger)
                }
            }
            #expect(
                got.sorted() == [
                    "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000a",
                    "00000000-0000-0000-0000-00000000000b",
                ])
        }
    }

    @Test func aRolledBackStatementNotifiesNothingOfItsOwn() async throws {
        // A source whose only insert is rolled back (to a savepoint) inside a committed transaction sends nothing.
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(
                url,
                "INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'a'), ('00000000-0000-0000-0000-00000000000b', 'b')"
            )
            let got = try await notifications(url) {
                try await Database.withConnection(url, logger: TestServer.logger) { conn in
                    for statement in [
                        "BEGIN",
                        #"INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-00000000000a', now(), '{"x": 1}')"#,
                        "SAVEPOINT s",
                        #"INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-00000000000b', now(), '{"x": 1}')"#,
                        "ROLLBACK TO SAVEPOINT s",
                        "COMMIT",
                    ] {
                        try await conn.query(PostgresQuery(unsafeSQL: statement), logger: TestServer.logger)
                    }
                }
            }
            #expect(got == ["00000000-0000-0000-0000-00000000000a"])
        }
    }
}
