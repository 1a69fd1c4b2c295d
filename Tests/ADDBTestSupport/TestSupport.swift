import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import Testing

/// The server `scripts/test` started: DATABASE_URL names a database the tests may use to create others.
public enum TestServer {
    public static let url: DatabaseURL? = {
        guard let text = ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else { return nil }
        return try? DatabaseURL(text)
    }()

    /// Integration tests need DATABASE_URL; scripts/test always sets it.
    public static let available = url != nil

    /// This run's storage mode: with AD_TEST_TIMESCALEDB=1 (scripts/test's second run, when TimescaleDB is
    /// installed) every scratch database gets TimescaleDB before the schema, so the whole suite runs on hypertables.
    public static let timescale = ProcessInfo.processInfo.environment["AD_TEST_TIMESCALEDB"] == "1"

    public static let logger: Logger = {
        var l = Logger(label: "tests")
        l.logLevel = .warning
        return l
    }()
}

/// Creates a fresh database (with TimescaleDB when `timescale`, by default this run's storage mode),
/// runs `prepare` and `body`, and drops the database afterwards.
public func withScratchDatabase<T: Sendable>(
    _ prepare: String? = nil, timescale: Bool = TestServer.timescale, _ body: (DatabaseURL) async throws -> T
) async throws -> T {
    guard let admin = TestServer.url else {
        throw SQLFailure(description: "DATABASE_URL is not set: run the tests through scripts/test")
    }
    if let test = Test.current, !test.tags.contains(.database) {
        throw SQLFailure(
            description:
                "\(test.name) uses the database but its suite lacks .tags(.database): the TimescaleDB run would skip it"
        )
    }
    let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    _ = try await Database.withConnection(admin, logger: TestServer.logger) { conn in
        try await conn.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: TestServer.logger)
    }
    let url = admin.with(database: String(name))
    do {
        if timescale {
            try await sql(url, "CREATE EXTENSION timescaledb")
        }
        if let prepare {
            try await sql(url, prepare)
        }
        let result = try await body(url)
        try await dropDatabase(String(name), admin: admin)
        return result
    } catch {
        try? await dropDatabase(String(name), admin: admin)
        throw error
    }
}

private func dropDatabase(_ name: String, admin: DatabaseURL) async throws {
    _ = try await Database.withConnection(admin, logger: TestServer.logger) { conn in
        try await conn.query(
            PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: TestServer.logger)
    }
}

/// The server's own words for a failed test statement (postgres-nio hides them in `description`).
public struct SQLFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// Runs one test-owned statement (never user input) on `url`.
public func sql(_ url: DatabaseURL, _ statement: String) async throws {
    try await Database.withConnection(url, logger: TestServer.logger) { conn in
        do {
            // Errors raised while the statement runs arrive in its row stream: read it to the end.
            for try await _ in try await conn.query(PostgresQuery(unsafeSQL: statement), logger: TestServer.logger) {}
        } catch {
            throw SQLFailure(description: describe(error))
        }
    }
}

/// The first column of every row of a test-owned query, as text.
public func strings(_ url: DatabaseURL, _ query: String) async throws -> [String] {
    try await Database.withConnection(url, logger: TestServer.logger) { conn in
        var out: [String] = []
        do {
            for try await s in try await conn.query(PostgresQuery(unsafeSQL: query), logger: TestServer.logger)
                .decode(String.self)
            {
                out.append(s)
            }
        } catch {
            throw SQLFailure(description: describe(error))
        }
        return out
    }
}

/// Installs the schema with adworker's migrator.
@discardableResult
public func migrate(_ url: DatabaseURL) async throws -> Migrator.Outcome {
    try await Database.withConnection(url, logger: TestServer.logger) {
        try await Migrator(logger: TestServer.logger).migrate($0)
    }
}
