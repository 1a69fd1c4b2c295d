import ADCore
import Foundation
import Logging
import PostgresNIO

/// What one console section read: the caller it was read as, and its rows, each one JSON object as the database
/// rendered it (`to_jsonb` of a view's row, as the API's lists).
public struct ConsoleRows: Sendable, Equatable {
    public let caller: APICaller
    /// The database's clock when the rows were read (RFC 3339, UTC): where a live feed opened by this page starts.
    public let now: Date
    public let rows: [String]
}

/// One anomaly the live feed sends: its row of ad.anomaly_details as JSON, and where it sorts.
public struct ConsoleFeedItem: Sendable, Equatable {
    public let json: String
    public let id: UUID
    public let detectedAt: Date
}

/// The operator console's reads and writes (Sources/ADHTTP/Console). Each is one transaction as the session's
/// token (`asCaller`), over the same views and functions as the API and psql, so the database decides what each
/// role sees and may change; the console adds no rule of its own. Rows come back as JSON, the API's shapes.
extension APIStore {
    /// The alert rows the console shows: ad.alert_overview, the status of the alert's anomaly, and the status
    /// changes a person may make from where each stands (ad.status_transitions, the state machine the trigger
    /// enforces), so the page offers what the database allows and nothing is decided here.
    static let consoleAlertRow = """
        jsonb_build_object(
            'alert', to_jsonb(o),
            'anomaly_status', d.status, 'anomaly_score', d.score, 'anomaly_timestamp', d.point_timestamp,
            'alert_next', coalesce((SELECT jsonb_agg(t.to_status ORDER BY t.to_status) FROM ad.status_transitions t
                                     WHERE t.entity = 'alert' AND t.actor = 'person' AND t.from_status = o.status),
                                   '[]'),
            'anomaly_next', coalesce((SELECT jsonb_agg(t.to_status ORDER BY t.to_status) FROM ad.status_transitions t
                                       WHERE t.entity = 'anomaly' AND t.actor = 'person' AND t.from_status = d.status),
                                     '[]'))::text
        """

    /// The latest `anomalies` anomalies (by detection) and the alerts that are not resolved (at most `alerts`, the
    /// newest), for the console's front page.
    public func consoleOverview(
        token: String, anomalies: Int, alerts: Int
    ) async throws(APIFailure) -> (anomalies: ConsoleRows, alerts: [String]) {
        try await asCaller(token: token) { [logger] connection, caller in
            let now = try await Self.now(on: connection, logger: logger)
            let latest = try await Self.texts(
                connection.query(
                    """
                    SELECT to_jsonb(d)::text FROM ad.anomaly_details d
                     ORDER BY d.detected_at DESC, d.anomaly_id DESC LIMIT \(anomalies)
                    """, logger: logger))
            let open = try await Self.texts(
                connection.query(
                    """
                    SELECT \(unescaped: Self.consoleAlertRow)  -- a constant of this file, nothing a client wrote
                      FROM ad.alert_overview o LEFT JOIN ad.anomaly_details d ON d.anomaly_id = o.anomaly_id
                     WHERE o.status <> 'resolved'
                     ORDER BY o.created_at DESC, o.alert_id DESC LIMIT \(alerts)
                    """, logger: logger))
            return (ConsoleRows(caller: caller, now: now, rows: latest), open)
        }
    }

    /// One alert as the console shows it (see `consoleAlertRow`), any status.
    public func consoleAlert(token: String, id: UUID) async throws(APIFailure) -> ConsoleRows {
        try await consoleRows(
            token: token, notFound: "no alert \(id)",
            """
            SELECT \(unescaped: Self.consoleAlertRow)
              FROM ad.alert_overview o LEFT JOIN ad.anomaly_details d ON d.anomaly_id = o.anomaly_id
             WHERE o.alert_id = \(id)
            """)
    }

    /// Every source (ad.source_overview), by name.
    public func consoleSources(token: String) async throws(APIFailure) -> ConsoleRows {
        try await consoleRows(token: token, "SELECT to_jsonb(s)::text FROM ad.source_overview s ORDER BY s.source_name")
    }

    /// One source's row of ad.source_overview, by name or id.
    public func consoleSource(token: String, source: String) async throws(APIFailure) -> ConsoleRows {
        try await consoleRows(
            token: token, notFound: "no source named \"\(source)\"",
            """
            SELECT to_jsonb(s)::text FROM ad.source_overview s
             WHERE s.source_name = \(source) OR s.source_id::text = lower(\(source)) LIMIT 1
            """)
    }

    /// What learning tolerates now (ad.learned_patterns, which readers may see).
    public func consoleLearnedPatterns(token: String) async throws(APIFailure) -> ConsoleRows {
        try await consoleRows(
            token: token,
            """
            SELECT to_jsonb(p)::text FROM ad.learned_patterns p
             ORDER BY p.source_name, p.metric, p.measure, p.direction
            """)
    }

    /// The latest `limit` adjustments behind them (ad.scoring_adjustments, operators only), standing or not, with
    /// the source's name and who undid each.
    public func consoleAdjustments(token: String, limit: Int) async throws(APIFailure) -> ConsoleRows {
        try await consoleRows(
            token: token,
            """
            SELECT (to_jsonb(a) || jsonb_build_object(
                      'source_name', s.name, 'undone_by_name', u.name,
                      'standing', a.undone_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now())))::text
              FROM ad.scoring_adjustments a
              JOIN ad.data_sources s ON s.id = a.source_id
              LEFT JOIN ad.users u ON u.id = a.undone_by
             ORDER BY a.id DESC LIMIT \(limit)
            """)
    }

    /// Undoes a learned adjustment with ad.undo_adjustment (its checks, its audit row, its attribution); returns
    /// what it said ("undone" or "already undone").
    public func undoAdjustment(token: String, id: Int64, notes: String?) async throws(APIFailure) -> String {
        try await asCaller(token: token) { [logger] connection, _ in
            let rows = try await Self.texts(
                connection.query("SELECT ad.undo_adjustment(\(id), \(notes))", logger: logger))
            return rows.first ?? ""
        }
    }

    /// The anomalies detected after `since` less `overlap` seconds, oldest first, at most `limit`, but for those in
    /// `skipping` (the ones the stream sent already): the live feed's poll. The overlap is there because an
    /// anomaly's detected_at is its transaction's start, so one committed late can carry a time before rows
    /// already sent.
    public func consoleFeed(
        token: String, since: Date, overlap: Double, limit: Int, skipping: [UUID]
    ) async throws(APIFailure) -> [ConsoleFeedItem] {
        try await asCaller(token: token) { [logger] connection, _ in
            let rows = try await connection.query(
                """
                SELECT to_jsonb(d)::text, d.anomaly_id, d.detected_at
                  FROM ad.anomaly_details d
                 WHERE d.detected_at > \(since)::timestamptz - make_interval(secs => \(overlap))
                   AND NOT (d.anomaly_id = ANY(\(skipping)::uuid[]))
                 ORDER BY d.detected_at, d.anomaly_id LIMIT \(limit)
                """, logger: logger)
            var out: [ConsoleFeedItem] = []
            for try await (json, id, at) in rows.decode((String, UUID, Date).self) {
                out.append(ConsoleFeedItem(json: json, id: id, detectedAt: at))
            }
            return out
        }
    }

    // MARK: helpers

    /// The rows of `query` (one JSON text each) read as the caller, with the caller and the database's clock; none
    /// is `notFound` when that message is given.
    private func consoleRows(
        token: String, notFound: String? = nil, _ query: PostgresQuery
    ) async throws(APIFailure)
        -> ConsoleRows
    {
        try await asCaller(token: token) { [logger] connection, caller in
            let rows = try await Self.texts(connection.query(query, logger: logger))
            if rows.isEmpty, let notFound { throw APIFailure(.notFound, notFound) }
            return ConsoleRows(caller: caller, now: try await Self.now(on: connection, logger: logger), rows: rows)
        }
    }

    static func texts(_ rows: PostgresRowSequence) async throws -> [String] {
        var out: [String] = []
        for try await text in rows.decode(String.self) { out.append(text) }
        return out
    }

    static func now(on connection: PostgresConnection, logger: Logger) async throws -> Date {
        for try await now in try await connection.query("SELECT now()", logger: logger).decode(Date.self) {
            return now
        }
        return Date()
    }
}
