import ADAlerting
import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

let sourceA = "00000000-0000-0000-0000-00000000000a"

/// A migrated scratch database with source src-a. The tests' receivers listen on loopback, which the outbound
/// policy refuses: unless `allowLoopback` is false, the owner (the test, connected as the database's owner) allows
/// it, the documented step (README, "Outbound policy").
func withAlertDatabase<T: Sendable>(
    allowLoopback: Bool = true, _ body: (DatabaseURL) async throws -> T
) async throws -> T {
    try await withScratchDatabase { url in
        try await migrate(url)
        try await sql(url, "INSERT INTO ad.data_sources (id, name) VALUES ('\(sourceA)', 'src-a')")
        if allowLoopback {
            try await sql(
                url,
                """
                INSERT INTO ad_internal.outbound_allowlist (network, note)
                VALUES ('127.0.0.0/8', 'test receivers'), ('::1/128', 'test receivers')
                """)
        }
        return try await body(url)
    }
}

/// Inserts an anomaly on src-a at `minute` minutes after 2026-01-01 and returns its id.
func insertAnomaly(
    _ url: DatabaseURL, minute: Int, metric: String = "x", severity: String = "high", score: Double = 0.9999
) async throws -> String {
    try await strings(
        url,
        """
        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
        VALUES (gen_random_uuid(), timestamptz '2026-01-01 00:00Z' + \(minute) * interval '1 minute', '\(sourceA)', '\(metric)',
                'robust', '\(severity)', \(score), '{"actual": 500, "expected": 52, "expected_range": [40, 64]}')
        RETURNING id::text
        """)[0]
}

/// Runs the worker's rule matching and alert raising for the given anomalies, in one transaction.
func raise(_ url: DatabaseURL, _ anomalyIDs: [String]) async throws -> (opened: Int, grouped: Int) {
    try await Database.withConnection(url, logger: TestServer.logger) { conn in
        var fresh: [NewAnomaly] = []
        let list = anomalyIDs.map { "'\($0)'" }.joined(separator: ",")
        for try await (id, source, metric, sev, score, detector, time, expl) in try await conn.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT a.id, a.source_id, a.metric, a.severity, a.score, a.detector, a.point_timestamp, a.explanation::text
                      FROM ad.anomalies a WHERE a.id IN (\(list)) ORDER BY a.point_timestamp
                    """), logger: TestServer.logger
        ).decode((UUID, UUID, String, String, Double, String, Date, String).self) {
            fresh.append(
                NewAnomaly(
                    anomalyID: id,
                    facts: AnomalyFacts(
                        sourceID: source, sourceName: "src-a", metric: metric,
                        severity: Severity(rawValue: sev)!, score: score, detector: detector, time: time),
                    explanation: try JSONDecoder().decode(Explanation.self, from: Data(expl.utf8))))
        }
        try await conn.query("BEGIN", logger: TestServer.logger)
        let r = try await AlertRaiser(logger: TestServer.logger).raise(conn, anomalies: fresh)
        try await conn.query("COMMIT", logger: TestServer.logger)
        return r
    }
}

/// The server's error for a statement that must fail, or nil if it succeeded.
func failure(_ url: DatabaseURL, _ statement: String) async -> String? {
    do { try await sql(url, statement); return nil } catch { return "\(error)" }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct AlertRulesInSQL {
    @Test(arguments: badRuleConditions)
    func malformedRulesAreRejectedNamingTheField(_ bad: (json: String, field: String)) async throws {
        try await withAlertDatabase { url in
            let problem = try await strings(
                url, "SELECT coalesce(ad.rule_problem($$\(bad.json)$$::jsonb), 'accepted')")[0]
            #expect(fieldOf(problem) == bad.field, "\(bad.json): \(problem)")
            // Arrays are valid jsonb but not objects: the column's CHECK refuses them before the trigger.
            if bad.json.hasPrefix("{") {
                let error = await failure(
                    url, "INSERT INTO ad.alert_rules (name, conditions) VALUES ('r', $$\(bad.json)$$)")
                #expect(error?.contains(bad.field + ":") == true, "\(error ?? "accepted")")
            }
            #expect(try await integer(url, "SELECT count(*) FROM ad.alert_rules") == 0)
        }
    }

    @Test func channelsAreCheckedAndUnknownOnesNamed() async throws {
        try await withAlertDatabase { url in
            let cases: [(String, String)] = [
                (
                    "INSERT INTO ad.channels (name, type, target) VALUES ('c', 'webhook', 'not a url')",
                    "target: \"not a url\" is not an http:// or https:// URL"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target) VALUES ('c', 'webhook', 'http://127.0.0.1:70000/x')",
                    "has a port above 65535"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, headers) VALUES ('c', 'webhook', 'http://h/x', '{\"X-A\": \"1\\r\\nX-B: 2\"}')",
                    "headers.X-A: must be a string without line breaks"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, headers) VALUES ('c', 'webhook', 'http://h/x', '{\"Idempotency-Key\": \"1\"}')",
                    "headers.Idempotency-Key: set by adworker itself"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target) VALUES ('c', 'email', 'ops@example.com')",
                    "config.smtp_host: required"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, config) VALUES ('c', 'email', 'ops@example.com, nobody', '{\"smtp_host\": \"h\", \"from\": \"a@b.c\"}')",
                    "target: \"nobody\" is not an email address"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, config) VALUES ('c', 'slack', 'https://hooks.example.com/x', '{\"tls\": \"starttls\"}')",
                    "config.tls: unknown setting for a slack channel"
                ),
            ]
            for (statement, expected) in cases {
                let error = await failure(url, statement)
                #expect(error?.contains(expected) == true, "\(statement): \(error ?? "accepted")")
            }
            try await sql(url, "INSERT INTO ad.alert_rules (name) VALUES ('r')")
            let unknown = await failure(url, "SELECT ad.add_rule_channel('r', 'nope')")
            #expect(unknown?.contains("unknown channel \"nope\"") == true, "\(unknown ?? "accepted")")
            try await sql(
                url, "INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', 'http://127.0.0.1:9/x')")
            try await sql(url, "SELECT ad.add_rule_channel('r', 'hook')")
            let inUse = await failure(url, "DELETE FROM ad.channels WHERE name = 'hook'")
            #expect(inUse?.contains("foreign key") == true, "deleting a channel in use: \(inUse ?? "allowed")")
        }
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct AlertGroupingAndOutbox {
    /// Rule "r" (30-minute grouping window, `set` applied after) notifying channel "hook".
    func setUpRule(_ url: DatabaseURL, conditions: String = "{}", set: String? = nil) async throws {
        try await sql(
            url,
            "INSERT INTO ad.alert_rules (name, conditions, group_window) VALUES ('r', $$\(conditions)$$, '30 minutes')")
        if let set { try await sql(url, "UPDATE ad.alert_rules SET \(set)") }
        try await sql(
            url, "INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', 'http://127.0.0.1:9/x')")
        try await sql(url, "SELECT ad.add_rule_channel('r', 'hook')")
    }

    @Test func repeatsWithinTheWindowGroupAndLaterOnesOpenANewAlert() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(url)
            let a1 = try await insertAnomaly(url, minute: 0, severity: "medium")
            let a2 = try await insertAnomaly(url, minute: 10, severity: "critical")
            let a3 = try await insertAnomaly(url, minute: 20, severity: "low")
            #expect(try await raise(url, [a1]) == (1, 0))
            #expect(try await raise(url, [a2, a3]) == (0, 2))
            #expect(
                try await strings(url, "SELECT format('%s %s %s', status, severity, occurrences) FROM ad.alerts") == [
                    "pending critical 3"
                ])
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.alert_deliveries") == 1,
                "grouped anomalies are not sent again")
            // 70 minutes later: more than the 30-minute window after the last one.
            let a4 = try await insertAnomaly(url, minute: 90)
            #expect(try await raise(url, [a4]) == (1, 0))
            #expect(
                try await strings(
                    url, "SELECT format('%s %s', status, occurrences) FROM ad.alerts ORDER BY created_at, status DESC")
                    == ["resolved 3", "pending 1"])
            #expect(try await integer(url, "SELECT count(*) FROM ad.alert_deliveries WHERE kind = 'trigger'") == 2)
        }
    }

    @Test func twoWorkersRaisingTheSameGroupAtOnceMakeOneAlert() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(url)
            var ids: [String] = []
            for m in 0..<8 { ids.append(try await insertAnomaly(url, minute: m)) }
            let half1 = Array(ids[0..<4]), half2 = Array(ids[4...])
            async let r1 = raise(url, half1)
            async let r2 = raise(url, half2)
            let (x, y) = try await (r1, r2)
            #expect(x.opened + y.opened == 1)
            #expect(x.grouped + y.grouped == 7)
            #expect(try await strings(url, "SELECT occurrences::text FROM ad.alerts") == ["8"])
        }
    }

    @Test func conditionsFilterAndMinimumOccurrencesWait() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(
                url, conditions: #"{"min_severity": "high", "min_occurrences": 3, "within_seconds": 600}"#)
            let low = try await insertAnomaly(url, minute: 0, severity: "medium")
            let h1 = try await insertAnomaly(url, minute: 1)
            let h2 = try await insertAnomaly(url, minute: 2)
            #expect(try await raise(url, [low, h1, h2]) == (0, 0), "two matching anomalies are not three")
            let far = try await insertAnomaly(url, minute: 30)
            #expect(try await raise(url, [far]) == (0, 0), "the earlier two are outside the 10 minutes")
            let h3 = try await insertAnomaly(url, minute: 5)
            #expect(try await raise(url, [h3]) == (1, 0), "three within 10 minutes: fires")
        }
    }

    @Test func silencedAnomaliesRaiseNothing() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(
                url,
                conditions:
                    #"{"silences": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "reason": "maintenance"}]}"#
            )
            #expect(try await raise(url, [try await insertAnomaly(url, minute: 30)]) == (0, 0))
            #expect(try await raise(url, [try await insertAnomaly(url, minute: 60)]) == (1, 0))
        }
    }

    @Test func escalationHappensOnceToTheEscalationChannels() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(url, set: "escalate_after = '1 minute'")
            try await sql(
                url,
                "INSERT INTO ad.channels (name, type, target) VALUES ('boss', 'webhook', 'http://127.0.0.1:9/boss')")
            try await sql(url, "SELECT ad.add_rule_channel('r', 'boss', 'escalate')")
            _ = try await raise(url, [try await insertAnomaly(url, minute: 0)])
            #expect(try await integer(url, "SELECT ad_internal.escalate_due()") == 0, "not yet due")
            try await sql(url, "UPDATE ad.alerts SET created_at = now() - interval '61 seconds'")  // a minute on
            #expect(try await integer(url, "SELECT ad_internal.escalate_due()") == 1)
            #expect(try await integer(url, "SELECT ad_internal.escalate_due()") == 0, "escalates once")
            #expect(
                try await strings(
                    url,
                    "SELECT c.name || ' ' || d.kind FROM ad.alert_deliveries d JOIN ad.channels c ON c.id = d.channel_id ORDER BY d.kind"
                )
                    == ["boss escalate", "hook trigger"])
            // Acknowledging drops a queued escalation.
            try await sql(url, "INSERT INTO ad.users (name, db_role) VALUES ('Root Operator', session_user)")
            try await sql(url, "UPDATE ad.alerts SET status = 'acknowledged'")
            #expect(
                try await strings(url, "SELECT status FROM ad.alert_deliveries WHERE kind = 'escalate'") == [
                    "cancelled"
                ])
        }
    }

    @Test func openAlertsAreSentAgainAfterTheRenotifyInterval() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(url, set: "renotify_interval = '1 second'")
            _ = try await raise(url, [try await insertAnomaly(url, minute: 0)])
            #expect(try await integer(url, "SELECT ad_internal.renotify_due()") == 0, "pending alerts are not re-sent")
            #expect(
                try await strings(
                    url,
                    "SELECT ad_internal.record_delivery(delivery_id, attempt, now(), now(), 'sent', 200, NULL, NULL, NULL) FROM ad_internal.claim_deliveries(10, '1 minute')"
                ) == ["sent"])
            try await sql(url, "UPDATE ad.alerts SET last_notified_at = now() - interval '2 seconds'")
            try await sql(url, "UPDATE ad.alert_deliveries SET created_at = now() - interval '2 seconds'")
            #expect(try await integer(url, "SELECT ad_internal.renotify_due()") == 1)
            #expect(try await integer(url, "SELECT ad_internal.renotify_due()") == 0, "one re-notification at a time")
        }
    }

    @Test func aLeaseThatRunsOutMakesTheDeliveryDueAgainAndALateReportIsOnlyHistory() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(url)
            _ = try await raise(url, [try await insertAnomaly(url, minute: 0)])
            #expect(
                try await strings(url, "SELECT attempt::text FROM ad_internal.claim_deliveries(10, '1 minute')") == [
                    "1"
                ])
            #expect(
                try await strings(url, "SELECT attempt::text FROM ad_internal.claim_deliveries(10, '1 minute')") == [],
                "leased")
            // The lease runs out (moved back rather than slept through, so a slow machine cannot fail the step above).
            try await sql(url, "UPDATE ad.alert_deliveries SET next_attempt_at = now() - interval '1 second'")
            #expect(
                try await strings(url, "SELECT attempt::text FROM ad_internal.claim_deliveries(10, '1 minute')") == [
                    "2"
                ])
            // The first (dead) holder reports late: recorded, but it does not move the delivery on.
            #expect(
                try await strings(
                    url,
                    "SELECT ad_internal.record_delivery(id, 1, now(), now(), 'sent', 200, NULL, NULL, NULL) FROM ad.alert_deliveries"
                ) == ["stale"])
            #expect(
                try await strings(
                    url,
                    "SELECT ad_internal.record_delivery(id, 2, now(), now(), 'sent', 200, NULL, NULL, NULL) FROM ad.alert_deliveries"
                ) == ["sent"])
            #expect(try await integer(url, "SELECT count(*) FROM ad.delivery_attempts") == 2)
            #expect(try await strings(url, "SELECT status FROM ad.alerts") == ["sent"])
        }
    }

    @Test func everyStateChangeIsAuditedWithWhoDidIt() async throws {
        try await withAlertDatabase { url in
            try await setUpRule(url)
            try await sql(url, "INSERT INTO ad.users (name, db_role) VALUES ('Root Operator', session_user)")
            _ = try await raise(url, [try await insertAnomaly(url, minute: 0)])
            try await sql(url, "UPDATE ad.alerts SET status = 'acknowledged', notes = 'looking'")
            try await sql(url, "UPDATE ad.alerts SET status = 'resolved'")
            #expect(
                try await strings(
                    url,
                    """
                    SELECT format('%s %s->%s %s', a.action, a.old_value->>'status', a.new_value->>'status', u.name)
                      FROM ad.audit_log a LEFT JOIN ad.users u ON u.id = a.user_id WHERE a.entity = 'alert' ORDER BY a.id
                    """)
                    == [
                        "alert_opened <NULL>->pending Root Operator",
                        "status_change pending->acknowledged Root Operator",
                        "status_change acknowledged->resolved Root Operator",
                    ].map { $0.replacingOccurrences(of: "<NULL>", with: "") })
        }
    }
}
