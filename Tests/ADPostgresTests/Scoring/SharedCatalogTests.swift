import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import PostgresNIO
import Testing

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct LoopsShareOneCatalog {
    let logger = TestServer.logger

    @Test func oneLoadServesEveryLoopUntilItIsStale() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, "INSERT INTO ad.data_sources (name) VALUES ('a'), ('b')")
            let sources = try await integer(url, "SELECT count(*) FROM ad.data_sources")
            let shared = SharedCatalog()
            try await Database.withConnection(url, logger: logger) { conn in
                let first = try await shared.current(held: nil, maxAge: .seconds(60), connection: conn, logger: logger)
                #expect(first.catalog.entries.count == sources && first.generation == 1)
                // Another loop with none yet, and the first one again: the same catalog, no second load.
                #expect(
                    try await shared.current(held: nil, maxAge: .seconds(60), connection: conn, logger: logger)
                        .generation == 1)
                #expect(
                    try await shared.current(held: first, maxAge: .seconds(60), connection: conn, logger: logger)
                        .generation == 1)
                #expect(await shared.loads == 1)

                // Stale: the next loop to ask loads it again, and sees the new source.
                try await sql(url, "INSERT INTO ad.data_sources (name) VALUES ('c')")
                let second = try await shared.current(held: first, maxAge: .zero, connection: conn, logger: logger)
                #expect(second.generation == 2 && second.catalog.entries.count == sources + 1)
                #expect(await shared.loads == 2)

                // A loop that loaded by itself (it met a source it did not know) publishes; the others take it.
                try await sql(url, "INSERT INTO ad.data_sources (name) VALUES ('d')")
                let published = await shared.publish(try await SourceCatalog.load(conn, logger: logger))
                let taken = try await shared.current(
                    held: second, maxAge: .seconds(60), connection: conn, logger: logger)
                #expect(taken.generation == published.generation && taken.generation == 3)
                #expect(taken.catalog.entries.count == sources + 2)
                #expect(await shared.loads == 2)
            }
        }
    }

    /// While one loop loads a stale catalog, another keeps scoring with the one it holds instead of loading too.
    @Test func whileOneLoopLoadsTheOthersKeepTheirs() async throws {
        try await withWorkerDatabase { url in
            let sources = try await integer(url, "SELECT count(*) FROM ad.data_sources")
            let shared = SharedCatalog()
            let held = try await Database.withConnection(url, logger: logger) { conn in
                try await shared.current(held: nil, maxAge: .seconds(60), connection: conn, logger: logger)
            }
            try await sql(url, "INSERT INTO ad.data_sources (name) VALUES ('b')")
            try await Database.withConnection(url, logger: logger) { locker in
                // The loading loop's query waits behind this lock until the end of the test's transaction.
                try await locker.query("BEGIN", logger: logger)
                try await locker.query("LOCK TABLE ad.data_sources IN ACCESS EXCLUSIVE MODE", logger: logger)
                async let loaded = Database.withConnection(url, logger: logger) { conn in
                    // Ends the test if it goes wrong; long, so that a busy machine cannot end it when nothing did.
                    try await conn.query("SET lock_timeout = '300s'", logger: logger)
                    return try await shared.current(held: held, maxAge: .zero, connection: conn, logger: logger)
                }
                // Until the load waits on the lock: on a busy machine its connection can take seconds to open.
                var waiting = 0
                let deadline = ContinuousClock.now + .seconds(240)
                while waiting == 0 && ContinuousClock.now < deadline {
                    waiting = try await integer(
                        url,
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'ad.data_sources'::regclass")
                    if waiting == 0 { try await Task.sleep(for: .milliseconds(25)) }
                }
                #expect(waiting == 1, "the first loop's load never waited on the lock")
                do {
                    let kept = try await Database.withConnection(url, logger: logger) { conn in
                        // a load here would wait on the lock
                        try await conn.query("SET lock_timeout = '2s'", logger: logger)
                        return try await shared.current(held: held, maxAge: .zero, connection: conn, logger: logger)
                    }
                    #expect(kept.generation == held.generation && kept.catalog.entries.count == sources)
                    #expect(await shared.loads == 1)
                } catch {
                    Issue.record("the second loop did not keep its catalog: \(error)")
                }
                try await locker.query("COMMIT", logger: logger)
                let fresh = try await loaded
                #expect(fresh.generation == 2 && fresh.catalog.entries.count == sources + 1)
                #expect(await shared.loads == 2)
            }
        }
    }
}
