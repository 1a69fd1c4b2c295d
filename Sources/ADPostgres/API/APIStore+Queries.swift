import ADCore
import Foundation
import Logging
import PostgresNIO

/// A page of a list: each item is one JSON object as the database rendered it (`to_jsonb` of a view's row), and
/// the cursor of the next page when there is one.
public struct APIPage: Sendable, Equatable {
    public let items: [String]
    public let nextCursor: String?
}

/// Where a list resumes: the sort key of the last item of the previous page. Opaque to clients (base64url of JSON);
/// a cursor that does not decode is a bad request, and its parts are bound, never spliced.
public struct APICursor: Sendable, Equatable, Codable {
    public let t: String
    public let id: UUID

    public init(t: String, id: UUID) {
        self.t = t
        self.id = id
    }

    public var encoded: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String) throws(APIFailure) -> APICursor {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard text.count <= 200, let data = Data(base64Encoded: b64),
            let cursor = try? JSONDecoder().decode(APICursor.self, from: data)
        else { throw APIFailure(.invalid, "cursor is not one this API gave out") }
        return cursor
    }
}

/// Filters of the alert and anomaly lists (NULL: no filter).
public struct APIListFilter: Sendable, Equatable {
    public var statuses: [String]?
    public var severities: [String]?
    public var source: String?
    public var metric: String?
    public var since: Date?
    public var until: Date?
    public var minScore: Double?
    public var limit: Int = 50
    public var cursor: APICursor?

    public init() {}
}

/// A training request of `POST /v1/models/train`: ad.train_model's arguments.
public struct APITrainRequest: Sendable, Equatable, Codable {
    public var algorithm: String
    public var source: String
    public var train_from: Date
    public var train_to: Date
    /// Read from the body as JSON by the database (`body -> 'hyperparameters'`): ad.train_model checks each.
    public var name: String?
    public var test_fraction: Double?
    public var seed: Int64?
    public var test_from: Date?
}

extension APIStore {
    /// The caller as the API sees it: token name, role, person.
    public func whoami(token: String) async throws(APIFailure) -> APICaller {
        try await asCaller(token: token) { _, caller in caller }
    }

    /// One JSON object a row of `rows` (first column text, the rest ignored), or notFound.
    private static func one(_ rows: PostgresRowSequence, _ what: String) async throws -> String {
        for try await json in rows.decode(String.self) { return json }
        throw APIFailure(.notFound, what)
    }

    // MARK: alerts

    public func alerts(token: String, filter: APIListFilter) async throws(APIFailure) -> APIPage {
        try await asCaller(token: token) { connection, _ in
            let rows = try await connection.query(
                """
                SELECT to_jsonb(o)::text, o.created_at::text, o.alert_id
                  FROM ad.alert_overview o
                 WHERE (\(filter.statuses)::text[] IS NULL OR o.status = ANY(\(filter.statuses)::text[]))
                   AND (\(filter.severities)::text[] IS NULL OR o.severity = ANY(\(filter.severities)::text[]))
                   AND (\(filter.source)::text IS NULL OR o.source_name = \(filter.source)::text)
                   AND (\(filter.metric)::text IS NULL OR o.metric = \(filter.metric)::text)
                   AND (\(filter.since)::timestamptz IS NULL OR o.created_at >= \(filter.since)::timestamptz)
                   AND (\(filter.until)::timestamptz IS NULL OR o.created_at < \(filter.until)::timestamptz)
                   AND (\(filter.cursor?.t)::timestamptz IS NULL
                        OR (o.created_at, o.alert_id) < (\(filter.cursor?.t)::timestamptz, \(filter.cursor?.id)::uuid))
                 ORDER BY o.created_at DESC, o.alert_id DESC
                 LIMIT \(filter.limit + 1)
                """, logger: self.logger)
            return try await Self.page(rows, limit: filter.limit)
        }
    }

    public func alert(token: String, id: UUID) async throws(APIFailure) -> String {
        try await asCaller(token: token) { connection, _ in
            try await Self.alert(id, on: connection, logger: self.logger)
        }
    }

    static func alert(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> String {
        try await one(
            connection.query(
                "SELECT to_jsonb(o)::text FROM ad.alert_overview o WHERE o.alert_id = \(id)", logger: logger),
            "no alert \(id)")
    }

    /// Changes an alert's status and/or notes through the same function and trigger as psql (ad.change_status:
    /// the state machine, attribution, audit, deliveries); returns the alert as it is after.
    public func changeAlert(
        token: String, id: UUID, status: String?, notes: String?
    ) async throws(APIFailure)
        -> String
    {
        try await asCaller(token: token) { connection, _ in
            try await Self.change("alert", id, status: status, notes: notes, on: connection, logger: self.logger)
            return try await Self.alert(id, on: connection, logger: self.logger)
        }
    }

    /// The audit trail of one alert, oldest first, with people by name.
    public func alertAudit(token: String, id: UUID) async throws(APIFailure) -> [String] {
        try await asCaller(token: token) { connection, _ in
            _ = try await Self.alert(id, on: connection, logger: self.logger)
            let rows = try await connection.query(
                """
                SELECT jsonb_build_object('id', l.id, 'occurred_at', l.occurred_at, 'db_role', l.db_role,
                                          'person', u.name, 'action', l.action, 'old_value', l.old_value,
                                          'new_value', l.new_value)::text
                  FROM ad.audit_log l LEFT JOIN ad.users u ON u.id = l.user_id
                 WHERE l.entity = 'alert' AND l.entity_id = \(id.uuidString.lowercased())
                 ORDER BY l.id
                """, logger: self.logger)
            return try await Self.texts(rows)
        }
    }

    // MARK: anomalies

    public func anomalies(token: String, filter: APIListFilter) async throws(APIFailure) -> APIPage {
        try await asCaller(token: token) { connection, _ in
            let rows = try await connection.query(
                """
                SELECT to_jsonb(d)::text, d.point_timestamp::text, d.anomaly_id
                  FROM ad.anomaly_details d
                 WHERE (\(filter.statuses)::text[] IS NULL OR d.status = ANY(\(filter.statuses)::text[]))
                   AND (\(filter.severities)::text[] IS NULL OR d.severity = ANY(\(filter.severities)::text[]))
                   AND (\(filter.source)::text IS NULL OR d.source_name = \(filter.source)::text)
                   AND (\(filter.metric)::text IS NULL OR d.metric = \(filter.metric)::text)
                   AND (\(filter.since)::timestamptz IS NULL OR d.point_timestamp >= \(filter.since)::timestamptz)
                   AND (\(filter.until)::timestamptz IS NULL OR d.point_timestamp < \(filter.until)::timestamptz)
                   AND (\(filter.minScore)::float8 IS NULL OR d.score >= \(filter.minScore)::float8)
                   AND (\(filter.cursor?.t)::timestamptz IS NULL
                        OR (d.point_timestamp, d.anomaly_id) < (\(filter.cursor?.t)::timestamptz, \(filter.cursor?.id)::uuid))
                 ORDER BY d.point_timestamp DESC, d.anomaly_id DESC
                 LIMIT \(filter.limit + 1)
                """, logger: self.logger)
            return try await Self.page(rows, limit: filter.limit)
        }
    }

    public func anomaly(token: String, id: UUID) async throws(APIFailure) -> String {
        try await asCaller(token: token) { connection, _ in
            try await Self.anomaly(id, on: connection, logger: self.logger)
        }
    }

    static func anomaly(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> String {
        try await one(
            connection.query(
                "SELECT to_jsonb(d)::text FROM ad.anomaly_details d WHERE d.anomaly_id = \(id)", logger: logger),
            "no anomaly \(id)")
    }

    public func changeAnomaly(
        token: String, id: UUID, status: String?, notes: String?
    ) async throws(APIFailure)
        -> String
    {
        try await asCaller(token: token) { connection, _ in
            try await Self.change("anomaly", id, status: status, notes: notes, on: connection, logger: self.logger)
            return try await Self.anomaly(id, on: connection, logger: self.logger)
        }
    }

    /// A status change goes through ad.change_status (notes with it); notes alone are an UPDATE of the notes
    /// column, which operators may write.
    static func change(
        _ entity: String, _ id: UUID, status: String?, notes: String?, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        if let status {
            _ = try await one(
                connection.query("SELECT ad.change_status(\(entity), \(id), \(status), \(notes))", logger: logger),
                "no \(entity) \(id)")
        } else if let notes {
            let rows =
                entity == "alert"
                ? try await connection.query(
                    "UPDATE ad.alerts SET notes = \(notes) WHERE id = \(id) RETURNING id::text", logger: logger)
                : try await connection.query(
                    "UPDATE ad.anomalies SET notes = \(notes) WHERE id = \(id) RETURNING id::text", logger: logger)
            _ = try await one(rows, "no \(entity) \(id)")
        }
    }

    // MARK: series

    /// A source's points between `from` and `to` (at most `maxPoints`, the latest ones), with their scores, and the
    /// anomalies among them, for charts.
    public func series(
        token: String, source: String, from: Date, to: Date, maxPoints: Int
    ) async throws(APIFailure)
        -> String
    {
        try await asCaller(token: token) { connection, _ in
            let rows = try await connection.query(
                """
                WITH src AS (SELECT s.source_id, s.source_name FROM ad.source_overview s
                              WHERE s.source_name = \(source) OR s.source_id::text = lower(\(source)) LIMIT 1),
                pts AS (
                    SELECT v."timestamp", jsonb_object_agg(v.metric, v.value) AS values, max(v.anomaly_score) AS score
                      FROM ad.point_values v, src
                     WHERE v.source_id = src.source_id AND v."timestamp" >= \(from) AND v."timestamp" < \(to)
                     GROUP BY v."timestamp"
                     ORDER BY v."timestamp" DESC
                     LIMIT \(maxPoints)
                )
                SELECT jsonb_build_object(
                    'source', src.source_name, 'from', \(from)::timestamptz, 'to', \(to)::timestamptz,
                    'points', coalesce((SELECT jsonb_agg(jsonb_build_object('timestamp', p."timestamp", 'values', p.values,
                                                                             'score', p.score) ORDER BY p."timestamp")
                                          FROM pts p), '[]'),
                    -- The latest maxPoints anomalies of the window at most, like the points.
                    'anomalies', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'anomaly_id', d.anomaly_id, 'timestamp', d.point_timestamp,
                                              'metric', d.metric, 'severity', d.severity, 'score', d.score,
                                              'status', d.status, 'actual', d.actual, 'expected', d.expected,
                                              'expected_range', d.explanation -> 'expected_range',
                                              'reason', d.explanation ->> 'reason') ORDER BY d.point_timestamp)
                                             FROM (SELECT * FROM ad.anomaly_details d
                                                    WHERE d.source_id = src.source_id AND d.point_timestamp >= \(from)
                                                      AND d.point_timestamp < \(to)
                                                    ORDER BY d.point_timestamp DESC LIMIT \(maxPoints)) d), '[]'))::text
                  FROM src
                """, logger: self.logger)
            return try await Self.one(rows, "no source named \"\(source)\"")
        }
    }

    // MARK: models

    /// Queues a training job with ad.train_model (its checks, its privileges) and returns the model's id. `body` is
    /// the request's JSON, from which the hyperparameters object is passed on as it was written.
    public func train(
        token: String, request r: APITrainRequest, body: String
    ) async throws(APIFailure)
        -> (id: UUID, json: String, status: String)
    {
        // The job and its first reading in one transaction: a client never gets an error for a job that was queued
        // (and queues a second one when it retries).
        try await asCaller(token: token) { connection, _ in
            let rows = try await connection.query(
                """
                WITH job AS (
                    SELECT ad.train_model(\(r.algorithm), \(r.source), \(r.train_from), \(r.train_to),
                                          coalesce(\(body)::jsonb -> 'hyperparameters', '{}'), \(r.name),
                                          coalesce(\(r.test_fraction)::float8, 0.3), coalesce(\(r.seed)::int8, 1),
                                          \(r.test_from)::timestamptz) AS id
                )
                SELECT job.id FROM job
                """, logger: self.logger)
            var id: UUID?
            for try await x in rows.decode(UUID.self) { id = x }
            guard let id else { throw APIFailure(.internalError, "ad.train_model returned nothing") }
            let model = try await connection.query(
                "SELECT to_jsonb(m)::text, m.status FROM ad.model_registry m WHERE m.id = \(id)", logger: self.logger)
            for try await (json, status) in model.decode((String, String).self) { return (id, json, status) }
            throw APIFailure(.internalError, "the queued model \(id) is not in ad.model_registry")
        }
    }

    /// One model of ad.model_registry, as JSON, and its status.
    public func model(token: String, id: UUID) async throws(APIFailure) -> (json: String, status: String) {
        try await asCaller(token: token) { connection, _ in
            let rows = try await connection.query(
                "SELECT to_jsonb(m)::text, m.status FROM ad.model_registry m WHERE m.id = \(id)", logger: self.logger)
            for try await (json, status) in rows.decode((String, String).self) { return (json, status) }
            throw APIFailure(.notFound, "no model \(id)")
        }
    }

    // MARK: helpers

    static func page(_ rows: PostgresRowSequence, limit: Int) async throws -> APIPage {
        var items: [String] = []
        var last: APICursor?
        var more = false
        for try await (json, t, id) in rows.decode((String, String, UUID).self) {
            if items.count == limit {
                more = true  // the row past the page; read on, so the stream ends cleanly
                continue
            }
            items.append(json)
            last = APICursor(t: t, id: id)
        }
        return APIPage(items: items, nextCursor: more ? last?.encoded : nil)
    }
}
