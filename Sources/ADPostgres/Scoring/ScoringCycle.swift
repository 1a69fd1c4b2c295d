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
        // JIT compiles each batch's big query anew (about half a second once estimates cross jit_above_cost).
        try await connection.query("SET jit = off", logger: logger)
        // The batch's sorts (a few MB) spilled to disk at the default 4 MB; this session only runs scoring.
        try await connection.query("SET work_mem = '64MB'", logger: logger)
        // The context fetch is "the latest W points of a source": an ordered index scan, not bitmap scan + sort.
        try await connection.query("SET enable_bitmapscan = off", logger: logger)
    }

    /// Claims, scores and writes one batch in one transaction. Returns the points scored and the anomalies found.
    /// `cache` is read to skip context the worker already has, and updated only once the batch has committed.
    public func run(
        _ connection: PostgresConnection, catalog: inout SourceCatalog, cache: inout HistoryCache,
        timings: inout ScoringTimings
    ) async throws -> (scored: Int, anomalies: [FoundAnomaly]) {
        try await connection.query("BEGIN", logger: logger)
        do {
            let clock = ContinuousClock()
            var mark = clock.now
            func lap() -> Duration { defer { mark = clock.now }; return clock.now - mark }

            let claimed = try await claim(connection, catalog: &catalog)
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
                catalog = try await SourceCatalog.load(connection, logger: logger)  // a source newer than the catalog
            }
            let scored = score(&batch, catalog: catalog, cache: cache)
            timings.scoring += lap()

            try await write(connection, scored, catalog: catalog)
            timings.writes += lap()

            try await connection.query("COMMIT", logger: logger)
            if scored.count > 0 {
                timings.commit += lap()
                timings.batches += 1; timings.points += scored.count; timings.anomalies += scored.found.count
            }
            cache.commit(refreshed: batch.refreshed, histories: scored.histories, latest: batch.latest)
            return (scored.count, scored.found)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}
