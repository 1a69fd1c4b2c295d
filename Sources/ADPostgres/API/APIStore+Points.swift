import ADCore
import Foundation
import Logging
import PostgresNIO

/// Points as an HTTP request sent them, before the database has looked at them.
public enum PointBatch: Sendable {
    /// A JSON body: one point object, or an array of them (`{"timestamp": ..., "values": {...}}`).
    case json(String)
    /// One JSON point object a line (NDJSON, or CSV rows the HTTP layer rewrote so), with the line each came from.
    case lines([String], lineNumbers: [Int])
}

/// What an ingest request did: points received, inserted, and re-sends of a point already stored (same source and
/// time: left as they were, `ON CONFLICT DO NOTHING`).
public struct IngestResult: Sendable, Equatable, Codable {
    public let received: Int
    public let accepted: Int
    public let duplicates: Int
}

extension APIStore {
    /// Inserts `batch` into `source` (its name or id) as the caller, in one transaction: all of it or nothing. The
    /// checks are the database's own (the trigger on ad.data_points): a bad point fails the batch with the trigger's
    /// message, and the door then finds which point it was (`APIFailure.index`) by inserting halves under
    /// savepoints, rolled back, so the common case pays nothing for it.
    public func ingest(
        token: String, source: String, batch: PointBatch, maxPoints: Int
    ) async throws(APIFailure)
        -> IngestResult
    {
        if case .lines(let lines, _) = batch, lines.count > maxPoints {
            throw APIFailure(
                .tooLarge, "the request has \(lines.count) points; at most \(maxPoints) are taken at once",
                hint: "Send them in several requests.")
        }
        do throws(APIFailure) {
            let result = try await asCaller(token: token) { connection, _ in
                let id = try await Self.sourceID(source, on: connection, logger: self.logger)
                return try await Self.insert(
                    batch, source: id, range: nil, maxPoints: maxPoints, on: connection, logger: self.logger)
            }
            if result.received > maxPoints {
                throw APIFailure(
                    .tooLarge, "the request has \(result.received) points; at most \(maxPoints) are taken at once",
                    hint: "Send them in several requests.")
            }
            return result
        } catch {
            guard error.kind == .invalid else { throw error }
            return try await locate(error, token: token, source: source, batch: batch, maxPoints: maxPoints)
        }
    }

    /// The failing point of a batch that failed with `failure`: a binary search by halves, each inserted under a
    /// savepoint and rolled back. Throws the failure with the index (and the point's own message) when one point
    /// fails alone; the batch's failure as it was otherwise.
    private func locate(
        _ failure: APIFailure, token: String, source name: String, batch: PointBatch, maxPoints: Int
    )
        async throws(APIFailure) -> IngestResult
    {
        let count: Int
        switch batch {
        case .lines(let lines, _): count = lines.count
        case .json: count = Int.max  // the statement counts; the range bounds it
        }
        do throws(APIFailure) {
            let found = try await asCaller(token: token) { connection, _ -> APIFailure? in
                let source = try await Self.sourceID(name, on: connection, logger: self.logger)
                func fails(_ range: Range<Int>) async throws -> APIFailure? {
                    try await connection.query("SAVEPOINT locate", logger: self.logger)
                    do {
                        _ = try await Self.insert(
                            batch, source: source, range: range, maxPoints: maxPoints, on: connection,
                            logger: self.logger)
                        try await connection.query("ROLLBACK TO SAVEPOINT locate", logger: self.logger)
                        return nil
                    } catch {
                        try await connection.query("ROLLBACK TO SAVEPOINT locate", logger: self.logger)
                        let f = APIFailure.from(error)
                        return f.kind == .invalid ? f : nil
                    }
                }
                var lo = 0
                var hi = count
                if hi == Int.max {
                    let rows = try await connection.query(
                        """
                        SELECT CASE jsonb_typeof(body.b) WHEN 'array' THEN jsonb_array_length(body.b) ELSE 1 END
                          FROM (SELECT \(Self.jsonText(batch))::jsonb AS b) body
                        """, logger: self.logger)
                    for try await n in rows.decode(Int.self) { hi = n }
                }
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2
                    if try await fails(lo..<mid) != nil { hi = mid } else { lo = mid }
                }
                if hi - lo == 1, var alone = try await fails(lo..<hi) {
                    alone.index = lo
                    return alone
                }
                return nil
            }
            if let found { throw found }
        } catch {
            // Finding the point is a courtesy: if that fails, the batch's own error stands.
            if error.index != nil { throw error }
        }
        throw failure
    }

    private static func jsonText(_ batch: PointBatch) -> String {
        if case .json(let text) = batch { return text }
        return "[]"
    }

    /// The id of the source named (or with id) `source`, as the caller sees ad.data_sources. An id matches in either
    /// case (uuid::text is lower case; Swift's and many clients' UUIDs print upper case).
    static func sourceID(_ source: String, on connection: PostgresConnection, logger: Logger) async throws -> UUID {
        let rows = try await connection.query(
            "SELECT s.id FROM ad.data_sources s WHERE s.name = \(source) OR s.id::text = lower(\(source)) LIMIT 1",
            logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        throw APIFailure(
            .notFound, "no source named \"\(source)\"",
            hint: "An operator creates it: INSERT INTO ad.data_sources (name) VALUES ('...').")
    }

    /// One INSERT of the whole batch (or of `range`, positions 0-based), re-sends left as they were.
    static func insert(
        _ batch: PointBatch, source: UUID, range: Range<Int>?, maxPoints: Int, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> IngestResult {
        let lo = range?.lowerBound ?? 0
        let hi = range?.upperBound ?? Int.max
        let rows: PostgresRowSequence
        switch batch {
        case .json(let text):
            // The count guard keeps an oversized array from being inserted at all.
            rows = try await connection.query(
                """
                WITH body AS (SELECT \(text)::jsonb AS b),
                rows AS (
                    SELECT t.e, t.i - 1 AS i
                      FROM body, jsonb_array_elements(CASE jsonb_typeof(body.b) WHEN 'array' THEN body.b
                                                           ELSE jsonb_build_array(body.b) END) WITH ORDINALITY t(e, i)
                ), ins AS (
                    INSERT INTO ad.data_points (source_id, "timestamp", values)
                    SELECT \(source), ad.rfc3339_time(r.e ->> 'timestamp'), r.e -> 'values'
                      FROM rows r
                     WHERE r.i >= \(lo) AND r.i < \(hi) AND (SELECT count(*) FROM rows) <= \(maxPoints)
                     ORDER BY r.i
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM rows r WHERE r.i >= \(lo) AND r.i < \(hi))::int8, (SELECT count(*) FROM ins)::int8
                """, logger: logger)
        case .lines(let lines, _):
            let slice = Array(lines[max(0, lo)..<min(lines.count, hi)])
            rows = try await connection.query(
                """
                WITH rows AS (SELECT t.l::jsonb AS e, t.i FROM unnest(\(slice)::text[]) WITH ORDINALITY t(l, i)),
                ins AS (
                    INSERT INTO ad.data_points (source_id, "timestamp", values)
                    SELECT \(source), ad.rfc3339_time(r.e ->> 'timestamp'), r.e -> 'values'
                      FROM rows r ORDER BY r.i
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM rows)::int8, (SELECT count(*) FROM ins)::int8
                """, logger: logger)
        }
        for try await (received, accepted) in rows.decode((Int, Int).self) {
            return IngestResult(
                received: received, accepted: received > maxPoints ? 0 : accepted,
                duplicates: received > maxPoints ? 0 : received - accepted)
        }
        return IngestResult(received: 0, accepted: 0, duplicates: 0)
    }
}
