import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

/// The operator corpus's drift (`OperatorCase.queueDrift`, the demo's queue), through the real worker: a queue 200
/// above normal for twelve hours must be one open alert whose severity follows the fault up to `critical`, and kept
/// going while it lasts, not a few `low` anomalies that each open and close their own.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct ALastingFaultKeepsItsAlertOpenAndSevere {
    static let queue = "00000000-0000-0000-0000-0000000000e1"

    /// In one batch (a catch-up: alerts are raised and sustained in the order things happened) and point by point
    /// in small batches (live).
    @Test(arguments: ["5000", "25"])
    func theDemoQueueDriftIsOneSevereAlertThatLastsWithTheFault(batch: String) async throws {
        try await withWorkerDatabase { url in
            let c = OperatorCase.queueDrift
            try await sql(url, "INSERT INTO ad.data_sources (id, name) VALUES ('\(Self.queue)', 'queue-1')")
            // Every anomaly (grouped within the default hour), and a rule that wants `high` or worse.
            try await sql(
                url,
                """
                INSERT INTO ad.alert_rules (name, conditions) VALUES
                    ('every anomaly', '{}'), ('severe only', '{"min_severity": "high"}')
                """)
            try await sql(
                url,
                "INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', 'https://hooks.example.com/ad')"
            )
            try await sql(url, "SELECT ad.add_rule_channel('every anomaly', 'hook')")
            let values = c.values.map { String(format: "%.17g", $0) }.joined(separator: ",")
            try await sql(
                url,
                """
                INSERT INTO ad.data_points (source_id, "timestamp", values)
                SELECT '\(Self.queue)', timestamptz '2026-03-01 00:00:00+00' + (u.n - 1) * interval '1 minute',
                       jsonb_build_object('depth', u.v)
                  FROM unnest(ARRAY[\(values)]::float8[]) WITH ORDINALITY AS u(v, n)
                """)
            let w = try WorkerProcess(
                url, name: "sustain",
                // No delivery loop: whether it had tried the hook (unresolvable: failed, so a rise queues a renotify)
                // before the rise would decide what is queued. This test is about what scoring queues.
                environment: ["AD_POLL_INTERVAL": "0.1", "AD_BATCH_SIZE": batch, "AD_DELIVERY": "false"])
            #expect(
                try await eventually(timeout: .seconds(240)) {
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.data_points WHERE source_id = '\(Self.queue)' AND anomaly_score IS NULL"
                    ) == 0
                }, "not scored: \(w.output)")
            await w.stop()
            let start = "(timestamptz '2026-03-01 00:00:00+00' + interval '\(c.fault.lowerBound) minutes')"
            let end = "(timestamptz '2026-03-01 00:00:00+00' + interval '\(c.fault.upperBound) minutes')"
            // Each rule: one alert over the drift, critical, seen from its start to well past its peak.
            let alerts = try await strings(
                url,
                """
                SELECT r.name || ' ' || al.severity || ' ' || al.status || ' '
                       || round(extract(epoch FROM al.first_seen_at - \(start)) / 3600, 1) || ' '
                       || round(extract(epoch FROM al.last_seen_at - \(start)) / 3600, 1)
                  FROM ad.alerts al JOIN ad.alert_rules r ON r.id = al.rule_id
                 WHERE al.source_id = '\(Self.queue)' AND al.last_seen_at >= \(start) AND al.first_seen_at < \(end)
                 ORDER BY r.name, al.first_seen_at
                """)
            let anomalies = try await strings(
                url,
                """
                SELECT to_char(point_timestamp, 'DD HH24:MI') || ' ' || severity || ' ' || round(score::numeric, 3) || ' '
                       || coalesce(explanation ->> 'decided_by', '') || ' ' || coalesce(explanation ->> 'summary', '')
                  FROM ad.anomalies WHERE source_id = '\(Self.queue)' ORDER BY point_timestamp
                """)
            let context = "alerts: \(alerts)\nanomalies: \(anomalies)"
            let every = alerts.filter { $0.hasPrefix("every anomaly ") }
            let severe = alerts.filter { $0.hasPrefix("severe only ") }
            #expect(every.count == 1, "\(context)")
            #expect(severe.count == 1, "\(context)")
            for a in every + severe {
                let f = a.split(separator: " ").suffix(4).map(String.init)
                #expect(f[0] == "critical", "\(context)")
                #expect(f[1] != "resolved", "\(context)")
                // Seen from within the first hour of the drift to at least six hours into it (the peak).
                #expect((Double(f[2]) ?? 99) < 1.5 && (Double(f[3]) ?? 0) >= 6, "\(context)")
            }
            // It rose from low: retitled. Its trigger is still queued (no delivery loop runs here), so that send
            // carries the critical alert and no second one is queued beside it (Tests/sql/009_sustain_alerts.sql
            // has the re-notification after a sent trigger).
            let told = try await strings(
                url,
                """
                SELECT al.title || ' | ' || string_agg(d.kind, ',' ORDER BY d.created_at)
                  FROM ad.alerts al JOIN ad.alert_rules r ON r.id = al.rule_id AND r.name = 'every anomaly'
                  JOIN ad.alert_deliveries d ON d.alert_id = al.id
                 WHERE al.source_id = '\(Self.queue)' AND al.last_seen_at >= \(start)
                 GROUP BY al.id, al.title
                """)
            #expect(told.count == 1 && told[0].hasPrefix("[CRITICAL] depth on queue-1"), "\(told)\n\(context)")
            #expect(told.first?.hasSuffix(" | trigger") == true, "\(told)")
            // The drift's first anomaly is the demo's: a small step up, surprising but not far: low.
            let first = try await strings(
                url,
                """
                SELECT severity || ' ' || (explanation -> 'severity_basis' ->> 'by_size' IS NULL)
                  FROM ad.anomalies WHERE source_id = '\(Self.queue)' AND point_timestamp >= \(start)
                 ORDER BY point_timestamp LIMIT 1
                """)
            #expect(first.first?.hasPrefix("low ") == true, "\(context)")
            // Nothing above low outside the drift.
            #expect(
                try await integer(
                    url,
                    """
                    SELECT count(*) FROM ad.anomalies WHERE source_id = '\(Self.queue)' AND severity <> 'low'
                       AND (point_timestamp < \(start) OR point_timestamp >= \(end))
                    """) == 0, "\(context)")
        }
    }
}
