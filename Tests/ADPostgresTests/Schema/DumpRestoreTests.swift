import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import Testing

/// Runs a PostgreSQL client program (pg_dump, pg_restore) against the test server; returns its exit status and
/// standard error.
func runClientProgram(_ name: String, _ arguments: [String], url: DatabaseURL) throws -> (status: Int32, stderr: String)
{
    let bin = ProcessInfo.processInfo.environment["PGBIN"] ?? "/usr/lib/postgresql/15/bin"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(bin)/\(name)")
    var args = ["-U", url.username, "-p", String(url.port), "-h", url.socketDirectory ?? url.host]
    args += arguments
    p.arguments = args
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `pg_dump -Fc` of `source`, restored with `pg_restore --exit-on-error` into a scratch database, then `body` on it.
func withDumpRestored<T: Sendable>(_ source: DatabaseURL, _ body: (DatabaseURL) async throws -> T) async throws -> T {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("ad-dump-\(UUID().uuidString).dump").path
    defer { try? FileManager.default.removeItem(atPath: file) }
    let dump = try runClientProgram("pg_dump", ["-Fc", "-f", file, "-d", source.database], url: source)
    guard dump.status == 0 else { throw SQLFailure(description: "pg_dump: \(dump.stderr)") }
    return try await withScratchDatabase { restored in
        let restore = try runClientProgram(
            "pg_restore", ["--exit-on-error", "-d", restored.database, file], url: restored)
        guard restore.status == 0 else { throw SQLFailure(description: "pg_restore: \(restore.stderr)") }
        return try await body(restored)
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct DumpAndRestoreKeepEverything {
    @Test(
        .enabled(
            if: !TestServer.timescale,
            "TimescaleDB run: an extension that creates hypertables cannot be restored (README, design notes)"))
    func anExtensionDatabaseRestoresWithItsRowsAndSettings() async throws {
        try await withScratchDatabase("CREATE EXTENSION anomaly_detection") { source in
            try await sql(
                source,
                "INSERT INTO ad.data_sources (id, name, config) VALUES ('00000000-0000-0000-0000-00000000000a', 'a', '{\"window\": 30}')"
            )
            try await sql(
                source,
                #"INSERT INTO ad.data_points (source_id, "timestamp", values) SELECT '00000000-0000-0000-0000-00000000000a', now() - g * interval '1 minute', '{"x": 1}' FROM generate_series(1, 100) g"#
            )
            try await sql(source, "SELECT ad.set_retention('30 days')")
            try await withDumpRestored(source) { (restored: DatabaseURL) async throws in
                #expect(try await strings(restored, "SELECT count(*)::text FROM ad.data_points") == ["100"])
                #expect(try await strings(restored, "SELECT config::text FROM ad.data_sources") == [#"{"window": 30}"#])
                #expect(
                    try await strings(restored, "SELECT value::text FROM ad.settings WHERE key = 'retention'") == [
                        #""30 days""#
                    ])
                #expect(
                    try await strings(restored, "SELECT version || ' ' || installer FROM ad_internal.schema_migrations")
                        == ["\(Migrator.bundledVersionText) extension"])
            }
        }
    }
}
