import ADCore
import ADDBTestSupport
import Foundation
import Testing

/// Worker settings that make retries and polls quick enough for tests.
let fastDelivery = [
    "AD_POLL_INTERVAL": "0.2", "AD_DELIVERY_POLL": "0.1", "AD_DELIVERY_BACKOFF_BASE": "0.2",
    "AD_DELIVERY_BACKOFF_CAP": "0.5",
]

/// Opens `count` alerts at once for rule "r" on src-a, one metric each (so none group), as the scoring transaction would.
func openAlerts(_ url: DatabaseURL, count: Int) async throws {
    try await sql(
        url,
        """
        WITH a AS (
            INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
            SELECT gen_random_uuid(), timestamptz '2026-01-01' + g * interval '1 minute', '\(sourceA)', 'm' || g, 'robust',
                   'high', 0.9999, '{"actual": 100, "expected": 10, "expected_range": [5, 15]}'
              FROM generate_series(1, \(count)) g
            RETURNING id, point_timestamp, source_id, metric
        )
        INSERT INTO ad.alerts (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
        SELECT r.id, a.id, a.point_timestamp, a.source_id, a.metric, 'high', 'test ' || a.metric, 'test alert'
          FROM a, ad.alert_rules r WHERE r.name = 'r'
        """)
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct DeliveryToRealReceivers {
    @Test func anAnomalyReachesWebhookSlackAndPagerDutyAndAcknowledgeAndResolveFollow() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: ["hook": "s3cret"])
        defer { receiver.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target) VALUES
                    ('hook', 'webhook', '\(receiver.url("/webhook/hook"))'),
                    ('team', 'slack', '\(receiver.url("/slack/team"))'),
                    ('pager', 'pagerduty', '\(receiver.url("/pagerduty/v2/enqueue"))');
                SELECT ad.set_channel_secret('hook', 's3cret'), ad.set_channel_secret('pager', 'R0UT1NGKEY0123456789ABCDEFGHIJKL');
                INSERT INTO ad.alert_rules (name, conditions) VALUES ('r', '{"min_severity": "low", "metrics": ["x"]}');
                SELECT ad.add_rule_channel('r', c) FROM unnest(ARRAY['hook', 'team', 'pager']) c;
                """)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            // 40 ordinary points, then a spike: the real scoring path opens the alert.
            try await insertPoints(url, from: 0, count: 40, value: "50 + (g % 5)")
            try await insertPoints(url, from: 40, count: 1, value: "500")
            let triggers = try await receiver.waitForRecords(3, timeout: .seconds(30))
            #expect(
                triggers.allSatisfy { $0.verdict == .ok },
                "\(triggers.map { "\($0.path) \($0.verdict) \($0.reasons)" })\n\(worker.output)")
            let alertID = try await strings(url, "SELECT id::text FROM ad.alerts")
            #expect(alertID.count == 1)
            var hook: ReceivedRequest? = nil
            for r in triggers where r.path.hasPrefix("/webhook/") { hook = r }
            #expect(hook != nil, "\(triggers.map { "\($0.method) \($0.path) \($0.verdict)" })")
            let key = hook?.header("Idempotency-Key"), signature = hook?.header("X-AD-Signature"),
                event = hook?.json["event"]
            #expect(key == alertID.first)
            #expect(signature?.hasPrefix("v1=") == true)
            #expect(event == .string("trigger"))
            #expect(
                triggers.filter { $0.path.hasPrefix("/pagerduty") }.first?.json["dedup_key"]
                    == alertID.first.map(JSONValue.string))
            #expect(try await eventually { try await strings(url, "SELECT status FROM ad.alerts") == ["sent"] })
            // Each send is recorded as it ends (not all of a pass at once): the acknowledgement goes to the channels
            // whose trigger is recorded as sent, so wait for all three records.
            #expect(
                try await eventually {
                    try await integer(
                        url, "SELECT count(*) FROM ad.alert_deliveries WHERE kind = 'trigger' AND status = 'sent'") == 3
                })

            // An operator acknowledges, then resolves, in SQL: PagerDuty and the webhook hear both; Slack the resolve.
            try await sql(url, "INSERT INTO ad.users (name, db_role) VALUES ('Root Operator', session_user)")
            try await sql(url, "UPDATE ad.alerts SET status = 'acknowledged', notes = 'on it'")
            let acked = try await receiver.waitForRecords(5, timeout: .seconds(30))
            #expect(Set(acked.dropFirst(3).map(\.path)) == ["/webhook/hook", "/pagerduty/v2/enqueue"])
            try await sql(url, "UPDATE ad.alerts SET status = 'resolved'")
            let all = try await receiver.waitForRecords(8, timeout: .seconds(30))
            let last = all.dropFirst(5)
            #expect(Set(last.map(\.path)) == ["/webhook/hook", "/pagerduty/v2/enqueue", "/slack/team"])
            #expect(last.allSatisfy { $0.verdict == .ok }, "\(last.map(\.reasons))")
            #expect(last.filter { $0.path.hasPrefix("/pagerduty") }.first?.json["event_action"] == .string("resolve"))
            #expect(
                try await strings(
                    url,
                    "SELECT string_agg(new_value->>'status', ' ' ORDER BY id) FROM ad.audit_log WHERE entity = 'alert'")
                    == ["pending sent acknowledged resolved"])
            await worker.stop()
        }
    }

    @Test func aReceiverDownForAWhileGetsEveryAlertAndTheHistoryShowsTheRetries() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: ["hook": "s3cret"])
        defer { receiver.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', '\(receiver.url("/webhook/hook"))');
                SELECT ad.set_channel_secret('hook', 's3cret');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', 'hook');
                """)
            // An outage counted in requests, not seconds: a worker slow to start (a loaded machine) would otherwise
            // first call after the outage, and the test would see no retry.
            try await receiver.fail(status: 503, count: 10)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 5)
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await integer(url, "SELECT count(*) FROM ad.alert_deliveries WHERE status = 'sent'") == 5
                }, "\(worker.output)")
            let records = try await receiver.records()
            let ok = records.filter { $0.verdict == .ok }
            #expect(ok.count == 5)
            #expect(Set(ok.compactMap { $0.header("Idempotency-Key") }).count == 5, "each alert once with its key")
            #expect(records.contains { $0.verdict == .forcedFailure }, "the outage was seen")
            #expect(
                try await integer(
                    url, "SELECT count(*) FROM ad.delivery_attempts WHERE outcome = 'retry' AND http_status = 503") >= 5
            )
            #expect(try await strings(url, "SELECT DISTINCT status FROM ad.alerts") == ["sent"])
            await worker.stop()
        }
    }

    @Test func anUnreachableChannelRetriesThenFailsAndTheAlertStaysVisible() async throws {
        let port = try freeLoopbackPort()
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target, config) VALUES
                    ('nowhere', 'webhook', 'http://127.0.0.1:\(port)/hook', '{"timeout_seconds": 1}');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', 'nowhere');
                """)
            var env = fastDelivery
            env["AD_DELIVERY_MAX_ATTEMPTS"] = "3"
            let worker = try WorkerProcess(url, name: "w", environment: env)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await strings(url, "SELECT status FROM ad.alerts") == ["failed"]
                }, "\(worker.output)")
            #expect(
                try await strings(url, "SELECT string_agg(outcome, ' ' ORDER BY attempt) FROM ad.delivery_attempts")
                    == ["retry retry failed"])
            #expect(
                try await strings(
                    url, "SELECT status || ': ' || (last_error IS NOT NULL)::text FROM ad.alert_deliveries") == [
                        "failed: true"
                    ])
            await worker.stop()
        }
    }

    @Test func aWorkerKilledBetweenSendingAndRecordingMeansAResendNotALoss() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: [:])
        defer { receiver.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target, config) VALUES ('hook', 'webhook', '\(receiver.url("/webhook/hook"))', '{"timeout_seconds": 30}');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', 'hook');
                """)
            try await receiver.hang(seconds: 3, count: 1)
            var env = fastDelivery
            // The lease must outlast the longest send (AD_DELIVERY_MAX_SEND + 10 s): a short one for a quick test.
            env["AD_DELIVERY_MAX_SEND"] = "2"
            env["AD_DELIVERY_LEASE"] = "12"
            let victim = try WorkerProcess(url, name: "victim", environment: env)
            try await openAlerts(url, count: 1)
            #expect(try await eventually { try await integer(url, "SELECT attempts FROM ad.alert_deliveries") == 1 })
            // The request is on its way within milliseconds of the claim; the receiver holds it for 3 s. Kill the
            // worker while it waits for the answer: sent, but never recorded.
            try await Task.sleep(for: .seconds(1))
            victim.signal(SIGKILL)
            _ = await victim.waitForExit()
            let heir = try WorkerProcess(url, name: "heir", environment: env)
            defer { Task { await heir.stop() } }
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await strings(url, "SELECT status FROM ad.alert_deliveries") == ["sent"]
                }, "\(heir.output)")
            let got = try await receiver.records()
            #expect(got.count == 2, "the first send reached the receiver, then the lease ran out and it was sent again")
            #expect(Set(got.compactMap { $0.header("Idempotency-Key") }).count == 1, "with the same idempotency key")
            #expect(try await integer(url, "SELECT attempts FROM ad.alert_deliveries") == 2)
            await victim.stop()
            await heir.stop()
        }
    }

    @Test func alertmanagerShowsTheAlertAndForgetsItWhenResolved() async throws {
        let am = AlertmanagerProcess()
        try await am.start()
        defer { am.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target) VALUES ('am', 'alertmanager', '\(am.baseURL.absoluteString)');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', 'am');
                """)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            let id = try await strings(url, "SELECT id::text FROM ad.alerts")[0]
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await am.alerts().contains { $0["labels"]?["alert_id"] == .string(id) }
                }, "\(worker.output)\n\(am.output)")
            let shown = try await am.alerts().filter { $0["labels"]?["alert_id"] == .string(id) }.first
            #expect(shown?["labels"]?["alertname"] == .string("r"))
            #expect(shown?["labels"]?["severity"] == .string("high"))
            #expect(shown?["annotations"]?["summary"] == .string("test m1"))
            try await sql(url, "UPDATE ad.alerts SET status = 'resolved'")
            #expect(try await eventually(timeout: .seconds(30)) { try await am.alerts().isEmpty })
            #expect(try await am.metric("alertmanager_alerts_received_total", labels: ["status": "resolved"]) ?? 0 >= 1)
            await worker.stop()
        }
    }
}

/// Runs a test-owned script of several statements, one by one.
func script(_ url: DatabaseURL, _ text: String) async throws {
    for statement in try SQLScript.statements(in: text) { try await sql(url, statement) }
}
