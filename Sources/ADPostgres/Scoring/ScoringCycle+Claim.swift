import ADCore
import Foundation
import PostgresNIO

/// Phase 1 of a scoring cycle: claim a batch of unscored points, oldest first, with `FOR UPDATE SKIP LOCKED`
/// (`ScoringQueries.claim`).
extension ScoringCycle {
    /// Claimed points, in the claim's (time, source) order: their ids, sources, times (µs since 1970) and values text.
    struct Claimed {
        var ids: [UUID] = [], sources: [UUID] = [], micros: [Int64] = [], values: [String] = []

        /// The points whose source passes `keep`.
        func filtered(_ keep: (UUID) -> Bool) -> Claimed {
            var out = Claimed()
            for i in ids.indices where keep(sources[i]) {
                out.ids.append(ids[i]); out.sources.append(sources[i]); out.micros.append(micros[i]);
                out.values.append(values[i])
            }
            return out
        }
    }

    /// Claims up to `limit` points of this cycle's partition (`ScoringQueries.claim`), or, when `again` names
    /// points (a failed batch's half, `BatchRecovery`), those of them still unscored (`ScoringQueries.claimAgain`).
    /// The claim skips the sources the catalog knows not to score, and quarantined points. A point of a source the
    /// catalog does not know yet loads it again, and points of sources that turn out not to be scorable are left
    /// unscored (locked until this transaction ends; the next claim skips them); if that was the whole batch, it
    /// claims once more.
    func claim(
        _ connection: PostgresConnection, catalog: inout SourceCatalog, limit: Int, again: [PointKey]?
    ) async throws -> Claimed {
        var claimed = Claimed()
        for attempt in 0..<2 {
            var claim: PostgresQuery
            if let again {
                claim = PostgresQuery(unsafeSQL: ScoringQueries.claimAgain)  // our SQL; values are bound
                claim.binds.append(again.map(\.source)); claim.binds.append(again.map(\.micros))
                claim.binds.append(catalog.skipped)
            } else {
                claim = PostgresQuery(unsafeSQL: ScoringQueries.claim)  // our SQL; values are bound
                claim.binds.append(limit)
                claim.binds.append(catalog.skipped)
                claim.binds.append(Int32(partition.count)); claim.binds.append(Int32(partition.index))
            }
            claimed = Claimed()
            // Once the table has statistics and a large backlog, the planner's cheapest plan reads the whole table and
            // sorts it, where the ordered scan of the partial index stops after a batch (docs/design.md, "Scoring
            // session settings"): the claim alone is planned without sequential scans.
            try await connection.query("SET LOCAL enable_seqscan = off", logger: logger)
            for try await (source, us, values) in try await connection.query(claim, logger: logger).decode(
                (UUID, Int64, String).self)
            {
                claimed.ids.append(PointIdentity.id(source: source, micros: us))
                claimed.sources.append(source); claimed.micros.append(us)
                claimed.values.append(values)
            }
            try await connection.query("SET LOCAL enable_seqscan = on", logger: logger)
            guard attempt == 0, !claimed.ids.isEmpty, claimed.sources.contains(where: { catalog.entries[$0] == nil })
            else { break }
            // A source newer than the catalog.
            catalog = try await SourceCatalog.load(connection, logger: logger, reuse: catalog.models)
            let scorable = claimed.filtered {
                catalog.entries[$0]?.scorer != nil && catalog.entries[$0]?.status == "active"
            }
            if !scorable.ids.isEmpty { claimed = scorable; break }
        }
        return claimed
    }
}
