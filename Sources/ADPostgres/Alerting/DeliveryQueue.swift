import ADCore
import Foundation
import Logging
import PostgresNIO

/// The delivery outbox's SQL (`ad.alert_deliveries`, through the functions in sql/095_alerting.sql): escalate and
/// re-notify what is due, claim due deliveries under a lease, and record attempts. Each call is its own short
/// statement; nothing is held open while a channel is slow (`DeliveryPass` sends between the claim and the record).
public struct DeliveryQueue: Sendable {
    public var logger: Logger
    public init(logger: Logger) { self.logger = logger }

    /// A claimed delivery, as the database holds it (the pass parses the JSON texts).
    public struct Claimed: Sendable {
        public var deliveryID: UUID, kind: String, attempt: Int, alertText: String
        public var channelName: String, channelType: String, target: String, headersText: String, configText: String
        public var secret: String?
        /// The channel's secret headers (a JSON object of name to value).
        public var secretHeadersText: String
        public init(
            deliveryID: UUID, kind: String, attempt: Int, alertText: String, channelName: String, channelType: String,
            target: String, headersText: String, configText: String, secret: String?, secretHeadersText: String = "{}"
        ) {
            self.deliveryID = deliveryID; self.kind = kind; self.attempt = attempt; self.alertText = alertText
            self.channelName = channelName; self.channelType = channelType; self.target = target
            self.headersText = headersText; self.configText = configText; self.secret = secret
            self.secretHeadersText = secretHeadersText
        }
    }

    /// The outcome of one attempt: `sent`, `retry` (with `retryAt`) or `failed`.
    public struct Attempt: Sendable {
        public var deliveryID: UUID, attempt: Int, started: Date, finished: Date, outcome: String
        public var httpStatus: Int?, smtpReply: String?, error: String?, retryAt: Date?
        public init(
            deliveryID: UUID, attempt: Int, started: Date, finished: Date, outcome: String, httpStatus: Int? = nil,
            smtpReply: String? = nil, error: String? = nil, retryAt: Date? = nil
        ) {
            self.deliveryID = deliveryID; self.attempt = attempt; self.started = started; self.finished = finished
            self.outcome = outcome; self.httpStatus = httpStatus; self.smtpReply = smtpReply; self.error = error
            self.retryAt = retryAt
        }
    }

    static let claimQuery = """
        SELECT delivery_id, kind, attempt, alert::text, channel_name, channel_type, target, headers::text, config::text, secret,
               secret_headers::text
          FROM ad_internal.claim_deliveries($1::int, make_interval(secs => $2::float8), $3::text[], $4::int)
        """
    static let allowlistQuery = "SELECT host, network::text FROM ad_internal.outbound_allowlist"
    /// Records a pass's outcomes in one round trip, in claim order.
    static let recordQuery = """
        SELECT ad_internal.record_delivery(u.id, u.attempt, u.started, u.finished, u.outcome, nullif(u.http_status, 0),
                                          nullif(u.smtp_reply, ''), nullif(u.error, ''),
                                          CASE WHEN u.retry_s > 0 THEN to_timestamp(u.retry_s) END)
          FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::int[], $7::text[],
                      $8::text[], $9::float8[]) WITH ORDINALITY
               AS u(id, attempt, started, finished, outcome, http_status, smtp_reply, error, retry_s, n)
         ORDER BY u.n
        """

    /// Escalates open alerts that waited past their rule's `escalate_after`; returns how many.
    public func escalateDue(_ connection: PostgresConnection) async throws -> Int {
        try await scalar(connection, "SELECT ad_internal.escalate_due()")
    }

    /// Queues re-notifications of open alerts past their rule's `renotify_interval`; returns how many.
    public func renotifyDue(_ connection: PostgresConnection) async throws -> Int {
        try await scalar(connection, "SELECT ad_internal.renotify_due()")
    }

    /// Claims up to `limit` due deliveries, each leased for `lease` seconds (its attempt counted): none of the
    /// `busyChannels`, at most `perChannel` of any one channel.
    public func claim(
        _ connection: PostgresConnection, limit: Int, lease: Double, busyChannels: [String] = [],
        perChannel: Int = 1_000_000
    ) async throws -> [Claimed] {
        var claim = PostgresQuery(unsafeSQL: Self.claimQuery)  // our SQL; values are bound
        claim.binds.append(limit)
        claim.binds.append(lease)
        claim.binds.append(busyChannels)
        claim.binds.append(perChannel)
        var out: [Claimed] = []
        let rows = try await connection.query(claim, logger: logger)
            .decode((UUID, String, Int, String, String, String, String, String, String, String?, String).self)
        for try await (id, kind, attempt, alertText, name, type, target, headersText, configText, secret, secretHeaders)
            in rows
        {
            out.append(
                Claimed(
                    deliveryID: id, kind: kind, attempt: attempt, alertText: alertText, channelName: name,
                    channelType: type, target: target, headersText: headersText, configText: configText,
                    secret: secret, secretHeadersText: secretHeaders))
        }
        return out
    }

    /// An alert's anomaly read by its key, as the claim's alert document holds it (id, point_timestamp, score,
    /// severity, detector, explanation); nil when there is none. `DeliveryPass` asks for it when the claim returned
    /// an alert without its anomaly.
    public func anomaly(_ connection: PostgresConnection, alertID: UUID) async throws -> JSONValue? {
        // Two plain keyed reads, the second with the anomaly's key as bound values (so the planner sees its time).
        var key: (UUID, String)?
        for try await k in try await connection.query(
            "SELECT anomaly_id, anomaly_timestamp::text FROM ad.alerts WHERE id = \(alertID)", logger: logger
        ).decode((UUID, String).self) { key = k }
        guard let (anomalyID, at) = key else { return nil }
        var found: JSONValue?
        for try await text in try await connection.query(
            """
            SELECT jsonb_build_object('id', id, 'point_timestamp', point_timestamp, 'score', score,
                                      'severity', severity, 'detector', detector, 'explanation', explanation)::text
              FROM ad.anomalies WHERE id = \(anomalyID) AND point_timestamp = \(at)::timestamptz
            """, logger: logger
        ).decode(String.self) {
            found = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        }
        return found
    }

    /// The owner's outbound allowlist: (host, network) rows, one of the two set.
    public func allowlist(_ connection: PostgresConnection) async throws -> [(host: String?, network: String?)] {
        var out: [(host: String?, network: String?)] = []
        let rows = try await connection.query(PostgresQuery(unsafeSQL: Self.allowlistQuery), logger: logger)
            .decode((String?, String?).self)
        for try await (host, network) in rows { out.append((host, network)) }
        return out
    }

    /// Records attempts; only the holder of a delivery's current attempt moves it on (a late report is history).
    public func record(_ connection: PostgresConnection, _ attempts: [Attempt]) async throws {
        guard !attempts.isEmpty else { return }
        // postgres-nio binds no arrays of optionals: 0, "" and 0 stand for NULL (nullif in the query).
        var record = PostgresQuery(unsafeSQL: Self.recordQuery)
        record.binds.append(attempts.map(\.deliveryID)); record.binds.append(attempts.map(\.attempt))
        record.binds.append(attempts.map(\.started)); record.binds.append(attempts.map(\.finished))
        record.binds.append(attempts.map(\.outcome)); record.binds.append(attempts.map { $0.httpStatus ?? 0 })
        record.binds.append(attempts.map { $0.smtpReply ?? "" })
        record.binds.append(attempts.map { $0.error.map { String($0.prefix(2000)) } ?? "" })
        record.binds.append(attempts.map { $0.retryAt?.timeIntervalSince1970 ?? 0 })
        try await connection.query(record, logger: logger)
    }

    private func scalar(_ connection: PostgresConnection, _ sql: String) async throws -> Int {
        for try await n in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) {
            return n
        }
        return 0
    }
}
