import ADCore
import Foundation
import Logging
import PostgresNIO

/// One claim → features → score → write transaction per `run`, the heart of the worker. Each phase has its own file:
/// `ScoringCycle+Claim.swift`, `+Features.swift`, `+Score.swift`, `+Write.swift`; the decisions that need no
/// database (series numbering, checkpoints, starting states, joining cached history) are `BatchPlan`'s, in ADCore.
public struct ScoringCycle: Sendable {
    public var logger: Logger
    public var settings: WorkerSettings
    /// This cycle claims only sources whose id hashes to `partition.index` modulo `partition.count`.
    public var partition: (index: Int, count: Int) = (0, 1)

    public init(settings: WorkerSettings, logger: Logger, partition: (index: Int, count: Int) = (0, 1)) {
        precondition(partition.count >= 1 && (0..<partition.count).contains(partition.index))
        self.settings = settings
        self.logger = logger
        self.partition = partition
    }

    /// Per-connection settings for the scoring session.
    public func prepare(_ connection: PostgresConnection) async throws {
        let timeout = "\(Int(settings.statementTimeout * 1000))"
        try await connection.query("SELECT set_config('statement_timeout', \(timeout), false)", logger: logger)
        // A batch waiting on a lock (an operator's LOCK TABLE) must fail as a lock timeout, which is retried as it
        // is, and not as a statement timeout, which splits the batch and in the end quarantines its points.
        let lockTimeout = "\(Int(settings.statementTimeout * 500))"
        try await connection.query("SELECT set_config('lock_timeout', \(lockTimeout), false)", logger: logger)
        // JIT compiles each batch's big query anew (about half a second once estimates cross jit_above_cost).
        try await connection.query("SET jit = off", logger: logger)
        // The batch's sorts (a few MB) spilled to disk at the default 4 MB; this session only runs scoring.
        try await connection.query("SET work_mem = '64MB'", logger: logger)
        // The context fetch is "the latest W points of a source": an ordered index scan, not bitmap scan + sort.
        try await connection.query("SET enable_bitmapscan = off", logger: logger)
    }

    /// Claims, scores and writes one batch in one transaction. Returns the points scored and the anomalies found.
    /// `cache` is read to skip context the worker already has, and updated only once the batch has committed. The
    /// batch is a fresh claim of up to `limit` points (by default the batch size), or the points `again` names still
    /// unscored (`BatchRecovery`). A failure rolls the batch back and throws `ScoringBatchFailure`: the error, what
    /// kind it is, and the points the batch had claimed.
    public func run(
        _ connection: PostgresConnection, catalog: inout SourceCatalog, cache: inout HistoryCache,
        timings: inout ScoringTimings, limit: Int? = nil, again: [PointKey]? = nil
    ) async throws -> (scored: Int, anomalies: [FoundAnomaly]) {
        try await connection.query("BEGIN", logger: logger)
        var points: [PointKey] = []
        do {
            let clock = ContinuousClock()
            var mark = clock.now
            func lap() -> Duration { defer { mark = clock.now }; return clock.now - mark }

            let claimed = try await claim(
                connection, catalog: &catalog, limit: limit ?? settings.batchSize, again: again)
            points = claimed.ids.indices.map { PointKey(source: claimed.sources[$0], micros: claimed.micros[$0]) }
            guard !claimed.ids.isEmpty else {
                try await connection.query("COMMIT", logger: logger)
                return (0, [])
            }
            timings.claim += lap()

            var batch = try await features(connection, claimed: claimed, catalog: catalog, cache: cache)
            timings.features += lap()
            timings.cacheHits += batch.rows.indices.count {
                batch.rows[$0].cached && ($0 == 0 || batch.rows[$0 - 1].id != batch.rows[$0].id)
            }

            if batch.rows.contains(where: { catalog.entries[$0.source] == nil }) {
                // A source newer than the catalog.
                catalog = try await SourceCatalog.load(connection, logger: logger, reuse: catalog.models)
            }
            let scored = score(&batch, catalog: catalog, cache: cache)
            timings.scoring += lap()

            let fresh = try await write(connection, scored, catalog: catalog)
            let opened = try await alert(connection, anomalies: fresh, off: scored.off)
            timings.writes += lap()

            try await connection.query("COMMIT", logger: logger)
            if scored.count > 0 {
                timings.commit += lap()
                timings.batches += 1; timings.points += scored.count; timings.anomalies += scored.found.count
                timings.alerts += opened
            }
            cache.commit(refreshed: batch.refreshed, histories: scored.histories, latest: batch.latest)
            return (scored.count, scored.found)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw ScoringBatchFailure(underlying: error, points: points)
        }
    }

    /// Sets a point aside (`ad.quarantined_points`) with the error that made its batch fail, in its own
    /// transaction, if it is still unscored; logs it. Returns how many times it has been quarantined (0: it was
    /// scored meanwhile, nothing done).
    @discardableResult
    public func quarantine(
        _ connection: PostgresConnection, _ point: PointKey, failure: ScoringBatchFailure, sourceName: String?
    ) async throws -> Int {
        var q = PostgresQuery(unsafeSQL: ScoringQueries.quarantine)  // our SQL; values are bound
        q.binds.append(point.source); q.binds.append(point.micros)
        q.binds.append(String(failure.message.prefix(2000))); q.binds.append(failure.sqlState)
        var attempts = 0
        for try await n in try await connection.query(q, logger: logger).decode(Int32.self) { attempts = Int(n) }
        if attempts > 0 {
            let time = Self.date(micros: point.micros).formatted(.iso8601)
            logger.error(
                """
                scoring: quarantined the point of source \(sourceName ?? "?") (\(point.source)) at \(time) \
                (time \(attempts)): \(failure.message) [SQLSTATE \(failure.sqlState ?? "none")]; every other point \
                is scored. See ad.quarantine; re-queue with SELECT ad.requeue_quarantined('\(sourceName ?? "")');
                """)
        }
        return attempts
    }
}

/// A scoring batch that failed and was rolled back: the error, its kind for `BatchRecovery`, and the points the
/// batch had claimed (empty when it failed before its claim returned).
public struct ScoringBatchFailure: Error, CustomStringConvertible {
    public let underlying: any Error
    public let points: [PointKey]
    /// The server's SQLSTATE, when the server sent an error.
    public var sqlState: String? { (underlying as? PSQLError)?.serverInfo?[.sqlState] }
    /// The server's message (with its detail), or the client's error.
    public var message: String {
        if let info = (underlying as? PSQLError)?.serverInfo, let message = info[.message] {
            return info[.detail].map { "\(message) (\($0))" } ?? message
        }
        return describe(underlying)
    }
    public var kind: BatchFailureKind {
        if underlying is PostgresDecodingError { return .rows }  // a row the worker could not read
        return BatchFailureKind.classify(sqlState: sqlState, message: message)
    }
    public var description: String { describe(underlying) }
}
