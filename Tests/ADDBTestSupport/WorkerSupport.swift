import ADCore
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO

/// A real `adworker run` process against a scratch database.
public final class WorkerProcess: Sendable {
    public let process: Process
    public let name: String
    private let logFile: URL

    public static var binary: String {
        if let bin = ProcessInfo.processInfo.environment["ADWORKER_BIN"] { return bin }
        let repo = Repository.root()
        return repo.appendingPathComponent(".build/debug/adworker").path
    }

    public init(_ url: DatabaseURL, name: String, environment: [String: String] = [:], arguments: [String] = []) throws
    {
        self.name = name
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "adworker-\(name)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["run"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = url.text
        env["AD_WORKER_NAME"] = name
        env["AD_LOG_LEVEL"] = "info"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let log = try FileHandle(forWritingTo: logFile)
        p.standardError = log
        p.standardOutput = log
        try p.run()
        process = p
    }

    deinit {
        // A test that threw before stop() must not leave a worker running.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Everything the worker printed so far.
    public var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    public func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Stops the worker (SIGTERM, then SIGKILL) and removes its log.
    public func stop() async {
        if process.isRunning {
            signal(SIGTERM)
            if await waitForExit(timeout: .seconds(10)) == nil { signal(SIGKILL); _ = await waitForExit() }
        }
        try? FileManager.default.removeItem(at: logFile)
    }
}

/// Polls `condition` every 25 ms until it holds; false after `timeout`.
public func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}

/// One integer from a test-owned query.
public func integer(_ url: DatabaseURL, _ query: String) async throws -> Int {
    Int(try await strings(url, "SELECT (\(query))::text").first ?? "") ?? -1
}

/// A migrated scratch database with one source (a 60-point window, so tests can cross it), and a trigger that records every point's move from unscored to
/// scored, so a test can tell a point scored twice from a point scored once.
public func withWorkerDatabase<T: Sendable>(_ body: (DatabaseURL) async throws -> T) async throws -> T {
    try await withScratchDatabase { url in
        try await migrate(url)
        try await sql(
            url,
            #"INSERT INTO ad.data_sources (id, name, config) VALUES ('00000000-0000-0000-0000-00000000000a', 'src-a', '{"window": 60}')"#
        )
        try await sql(
            url,
            "CREATE TABLE public.score_events (point_id uuid NOT NULL, app text NOT NULL DEFAULT current_setting('application_name'))"
        )
        try await sql(
            url,
            """
            CREATE FUNCTION public.log_score() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF OLD.anomaly_score IS NULL AND NEW.anomaly_score IS NOT NULL THEN
                    INSERT INTO public.score_events (point_id) VALUES (NEW.id);
                END IF;
                RETURN NEW;
            END $$
            """)
        try await sql(
            url,
            "CREATE TRIGGER log_score AFTER UPDATE ON ad.data_points FOR EACH ROW EXECUTE FUNCTION public.log_score()")
        return try await body(url)
    }
}

/// Inserts `count` points for source src-a at one-minute steps from `start` minutes after 2026-01-01, value = f(minute).
public func insertPoints(
    _ url: DatabaseURL, from start: Int, count: Int, source: String = "00000000-0000-0000-0000-00000000000a",
    value: String = "g"
) async throws {
    try await sql(
        url,
        """
        INSERT INTO ad.data_points (source_id, "timestamp", values)
        SELECT '\(source)', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute', jsonb_build_object('x', \(value))
          FROM generate_series(\(start), \(start + count - 1)) g
        """)
}

/// Backends of a worker's connections ("<name> listen", "<name> score").
public func backend(_ url: DatabaseURL, _ application: String) async throws -> [String] {
    try await strings(
        url, "SELECT pid::text FROM pg_stat_activity WHERE application_name = '\(application)' ORDER BY pid")
}
