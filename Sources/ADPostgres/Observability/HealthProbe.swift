import ADCore
import Foundation
import Logging
import PostgresNIO

/// The SQL behind the gauges read from the database and behind `/readyz`.
public struct HealthProbe: Sendable {
    public let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    /// Unscored points of active sources that the claim would take (quarantined ones apart), the age of the oldest
    /// by its "timestamp", and the quarantined points. Counting walks the partial index of unscored points, which
    /// holds only the backlog.
    static let backlogQuery = """
        SELECT (SELECT count(*) FROM ad.data_points p
                 WHERE p.anomaly_score IS NULL
                   AND EXISTS (SELECT FROM ad.data_sources s WHERE s.id = p.source_id AND s.status = 'active')
                   AND NOT EXISTS (SELECT FROM ad.quarantined_points q
                                    WHERE q.source_id = p.source_id AND q.point_timestamp = p."timestamp"
                                      AND q.requeued_at IS NULL))::int8,
               (SELECT greatest(0, extract(epoch FROM now() - min(p."timestamp")))::float8 FROM ad.data_points p
                 WHERE p.anomaly_score IS NULL
                   AND EXISTS (SELECT FROM ad.data_sources s WHERE s.id = p.source_id AND s.status = 'active')
                   AND NOT EXISTS (SELECT FROM ad.quarantined_points q
                                    WHERE q.source_id = p.source_id AND q.point_timestamp = p."timestamp"
                                      AND q.requeued_at IS NULL)),
               (SELECT count(*) FROM ad.quarantined_points WHERE requeued_at IS NULL)::int8
        """

    public func backlog(_ connection: PostgresConnection) async throws -> Backlog {
        var out = Backlog(unscored: 0, oldestAgeSeconds: 0, quarantined: 0)
        for try await (n, age, q) in try await connection.query(
            PostgresQuery(unsafeSQL: Self.backlogQuery), logger: logger
        ).decode((Int64, Double?, Int64).self) {
            out = Backlog(unscored: Int(n), oldestAgeSeconds: age ?? 0, quarantined: Int(q))
        }
        return out
    }

    /// Every db_poll source's lag, interval and totals but the disabled ones' (`ad.poll_status`, which the worker's
    /// login may read).
    public func polls(_ connection: PostgresConnection) async throws -> [PollReading] {
        var out: [PollReading] = []
        for try await (name, lag, interval, rows, errors) in try await connection.query(
            """
            SELECT source_name, lag_seconds, interval_seconds, rows_inserted::int8, errors::int8
              FROM ad.poll_status WHERE state <> 'disabled'
            """, logger: logger
        ).decode((String, Double, Double, Int64, Int64).self) {
            out.append(
                PollReading(
                    source: name, lagSeconds: lag, intervalSeconds: interval, rowsInserted: Int(rows),
                    errors: Int(errors)))
        }
        return out
    }

    /// Whether the schema is the version this binary carries (the extension's, or the one `adworker migrate`
    /// recorded).
    public func schema(_ connection: PostgresConnection) async throws -> DatabaseReadiness {
        let installed = try await Migrator(logger: logger).inspect(connection)
        let bundled = Migrator.bundledVersion
        if let ext = installed.extensionVersion {
            return SchemaVersion(ext) == bundled
                ? .ok(version: ext) : .schemaMismatch(installed: ext, expected: "\(bundled)")
        }
        switch MigrationPlan.decide(installed: installed, bundled: bundled, steps: Migrator.bundledSteps) {
        case .upToDate(let v): return .ok(version: "\(v)")
        case .install: return .schemaMismatch(installed: nil, expected: "\(bundled)")
        case .upgrade, .refuse:
            return .schemaMismatch(installed: installed.recordedVersions?.last, expected: "\(bundled)")
        }
    }
}

/// `/readyz`'s check, shared by the metrics listener and the API listener: the database part opens a connection of
/// its own (`<worker> readyz`), within `timeout` seconds. Answers are kept for `maxAge` seconds and concurrent
/// requests share one check, so a client that asks in a loop costs at most one connection a `maxAge`.
public actor ReadinessCheck {
    let url: DatabaseURL
    let application: String
    let health: WorkerHealth
    let logger: Logger
    let timeout: Double
    let maxAge: Double
    private var last: (at: ContinuousClock.Instant, database: DatabaseReadiness)?
    private var running: Task<DatabaseReadiness, Never>?

    public init(
        url: DatabaseURL, workerName: String, health: WorkerHealth, logger: Logger, timeout: Double = 5,
        maxAge: Double = 1
    ) {
        self.url = url; self.application = "\(workerName) readyz"; self.health = health; self.logger = logger
        self.timeout = timeout; self.maxAge = maxAge
    }

    public func current() async -> Readiness {
        Readiness.judge(database: await database(), health: health.snapshot)
    }

    private func database() async -> DatabaseReadiness {
        if let last, ContinuousClock.now - last.at < .seconds(maxAge) { return last.database }
        if let running { return await running.value }
        let (url, application, logger, timeout) = (url, application, logger, timeout)
        let task = Task { await Self.check(url, application: application, logger: logger, timeout: timeout) }
        running = task
        let result = await task.value
        running = nil
        last = (ContinuousClock.now, result)
        return result
    }

    static func check(
        _ url: DatabaseURL, application: String, logger: Logger, timeout: Double
    ) async
        -> DatabaseReadiness
    {
        // The task group waits for its connecting child even once the timer wins, and a connect does not end when
        // cancelled: the probe's own connect timeout is the check's, so no answer takes much longer than `timeout`.
        var url = url
        url.connectTimeout = min(url.connectTimeout, max(1, Int(timeout.rounded(.up))))
        do {
            return try await withThrowingTaskGroup(of: DatabaseReadiness?.self) { group in
                group.addTask { [url] in
                    try await Database.withConnection(
                        url, logger: logger, applicationName: application,
                        limits: SessionLimits(statementTimeout: timeout, lockTimeout: timeout)
                    ) { try await HealthProbe(logger: logger).schema($0) }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first ?? .unreachable("no answer within \(timeout) s")
            }
        } catch {
            return .unreachable(describe(error))
        }
    }
}
