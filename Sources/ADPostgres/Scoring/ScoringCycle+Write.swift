import ADCore
import Foundation
import PostgresNIO

/// Phase 4 of a scoring cycle: write each point's features and score (`ScoringQueries.storeScores`), insert the
/// anomalies (`ScoringQueries.storeAnomalies`), all in the cycle's transaction; then their alerts
/// (`ScoringCycle+Alerts.swift`).
extension ScoringCycle {
    /// Returns the anomalies it inserted, for their alerts.
    @discardableResult
    func write(
        _ connection: PostgresConnection, _ scored: ScoredBatch, catalog: SourceCatalog
    ) async throws -> [NewAnomaly] {
        var store = PostgresQuery(unsafeSQL: ScoringQueries.storeScores)  // our SQL; values are bound
        store.binds.append(scored.sources); store.binds.append(scored.stamps); store.binds.append(scored.features)
        store.binds.append(scored.scores); store.binds.append(scored.ids)
        // Each point's row by its primary key. With fresh statistics of a table of some 200,000 rows the planner
        // chose, for about two in five batches of a drain, to read the whole table into a hash instead (spilled to
        // disk at 5,000 rows): 250 to 300 ms where the index probes took 200 (docs/performance.md, History, issue
        // 22); and the hash grows with the table while the probes do not.
        try await connection.query(
            "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
            logger: logger)
        try await connection.query(store, logger: logger)
        try await connection.query(
            "SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)",
            logger: logger)
        let a = scored.anomalies
        guard !a.pointIDs.isEmpty else { return [] }
        var insert = PostgresQuery(unsafeSQL: ScoringQueries.storeAnomalies)
        insert.binds.append(a.pointIDs); insert.binds.append(a.stamps); insert.binds.append(a.sources)
        insert.binds.append(a.metrics); insert.binds.append(a.detectors); insert.binds.append(a.severities)
        insert.binds.append(a.scores); insert.binds.append(a.explanations); insert.binds.append(a.models)
        var anomalyOf: [UUID: UUID] = [:]  // point id -> anomaly id
        for try await (anomalyID, pointID) in try await connection.query(insert, logger: logger).decode(
            (UUID, UUID).self)
        {
            anomalyOf[pointID] = anomalyID
        }
        var fresh: [NewAnomaly] = []
        for i in a.pointIDs.indices {
            guard let anomalyID = anomalyOf[a.pointIDs[i]], let severity = Severity(rawValue: a.severities[i]) else {
                continue
            }
            fresh.append(
                NewAnomaly(
                    anomalyID: anomalyID,
                    facts: AnomalyFacts(
                        sourceID: a.sources[i],
                        sourceName: catalog.entries[a.sources[i]]?.name ?? a.sources[i].uuidString,
                        metric: a.metrics[i], severity: severity, score: a.scores[i], detector: a.detectors[i],
                        time: scored.found[i].time),
                    explanation: scored.found[i].explanation, pointMicros: a.stamps[i]))
        }
        return fresh
    }
}
