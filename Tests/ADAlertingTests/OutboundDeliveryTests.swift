import ADCore
import ADDBTestSupport
import Foundation
import Testing

/// Issue 18's outbound reproductions against real receivers and a real worker: SSRF, redirects, response bodies in
/// the history, a receiver that stalls after its headers, and secrets that follow their destination.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct OutboundDelivery {
    /// Deliveries of channel `name` as "status attempts".
    func deliveries(_ url: DatabaseURL, _ name: String) async throws -> [String] {
        try await strings(
            url,
            """
            SELECT d.status || ' ' || d.attempts FROM ad.alert_deliveries d JOIN ad.channels c ON c.id = d.channel_id
             WHERE c.name = '\(name)' ORDER BY d.created_at, d.id
            """)
    }

    func errors(_ url: DatabaseURL, _ name: String) async throws -> [String] {
        try await strings(
            url,
            """
            SELECT coalesce(a.error, '') || ' [' || a.outcome || ' ' || coalesce(a.http_status::text, '-') || ']'
              FROM ad.delivery_attempts a JOIN ad.alert_deliveries d ON d.id = a.delivery_id
              JOIN ad.channels c ON c.id = d.channel_id WHERE c.name = '\(name)' ORDER BY a.started_at
            """)
    }

    @Test func inwardDestinationsAreRefusedOnceRecordedAndNeverRetried() async throws {
        try await withAlertDatabase(allowLoopback: false) { url in
            // The issue's targets, the spellings a resolver turns inward, and an SMTP server on loopback.
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target, config) VALUES
                    ('metadata', 'webhook', 'http://169.254.169.254/latest/meta-data/', '{"timeout_seconds": 5}'),
                    ('postgres', 'webhook', 'http://localhost:5432/', '{}'),
                    ('ipv6', 'webhook', 'http://[::1]:9093/', '{}'),
                    ('decimal', 'webhook', 'http://2130706433:8080/', '{}'),
                    ('mapped', 'alertmanager', 'http://[::ffff:127.0.0.1]:9093', '{}'),
                    ('mail', 'email', 'ops@example.com', '{"smtp_host": "127.0.0.1", "smtp_port": 2525, "tls": "none", "from": "a@example.com"}');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', c) FROM unnest(ARRAY['metadata', 'postgres', 'ipv6', 'decimal', 'mapped', 'mail']) c;
                """)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.alert_deliveries WHERE status = 'failed'") == 6
                }, "\(worker.output)")
            for name in ["metadata", "postgres", "ipv6", "decimal", "mapped", "mail"] {
                #expect(try await deliveries(url, name) == ["failed 1"], "\(name): one attempt, not retried")
                let errors = try await errors(url, name)
                #expect(errors.count == 1)
                #expect(
                    errors.first?.contains("refused by the outbound policy") == true
                        && errors.first?.contains("[failed -]") == true, "\(name): \(errors)")
            }
            #expect(try await errors(url, "metadata").first?.contains("cloud metadata") == true)
            #expect(try await errors(url, "decimal").first?.contains("2130706433 (127.0.0.1) is loopback") == true)
            #expect(try await strings(url, "SELECT status FROM ad.alerts") == ["failed"])
            await worker.stop()
        }
    }

    @Test func theOwnersAllowlistLetsLoopbackThroughWithSecretHeadersAndSlackURLs() async throws {
        let receiver = HostileReceiver()
        try receiver.start()
        defer { receiver.stop() }
        try await withAlertDatabase(allowLoopback: false) { url in
            try await script(
                url,
                """
                INSERT INTO ad_internal.outbound_allowlist (network, note) VALUES ('127.0.0.1/32', 'the test receiver');
                INSERT INTO ad.channels (name, type, target) VALUES
                    ('hook', 'webhook', '\(receiver.url("/ok/hook"))'),
                    ('team', 'slack', '\(receiver.url(""))'),
                    ('ipv6', 'webhook', 'http://[::1]:\(receiver.port)/ok/ipv6');
                SELECT ad.set_channel_header_secret('hook', 'Authorization', 'Bearer t0ken-in-the-secret-store');
                SELECT ad.set_channel_secret('team', '\(receiver.url("/ok/slack/T000/B000/secret-path"))');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', c) FROM unnest(ARRAY['hook', 'team', 'ipv6']) c;
                """)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    let hook = try await deliveries(url, "hook"), team = try await deliveries(url, "team")
                    let ipv6 = try await deliveries(url, "ipv6")
                    return hook == ["sent 1"] && team == ["sent 1"] && ipv6 == ["failed 1"]
                }, "\(worker.output)")
            let hits = try await receiver.hits()
            let hook = hits.first { $0.path == "/ok/hook" }
            #expect(hook?.headers["authorization"] == "Bearer t0ken-in-the-secret-store")
            #expect(hits.contains { $0.path == "/ok/slack/T000/B000/secret-path" }, "\(hits.map(\.path))")
            #expect(!hits.contains { $0.path == "/ok/ipv6" }, "::1 is not in 127.0.0.1/32")
            #expect(try await errors(url, "ipv6").first?.contains("::1") == true)
            await worker.stop()
        }
    }

    @Test func redirectsAreNotFollowedAndResponseBodiesNeverReachTheHistory() async throws {
        let receiver = HostileReceiver()
        try receiver.start()
        defer { receiver.stop() }
        try await withAlertDatabase { url in
            let elsewhere = receiver.url("/ok/redirected")
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target) VALUES
                    ('bouncer', 'webhook', '\(receiver.url("/redirect/x"))?to=\(elsewhere)'),
                    ('chatty', 'webhook', '\(receiver.url("/leak/x"))');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', c) FROM unnest(ARRAY['bouncer', 'chatty']) c;
                """)
            var env = fastDelivery
            env["AD_DELIVERY_MAX_ATTEMPTS"] = "2"
            let worker = try WorkerProcess(url, name: "w", environment: env)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    let bouncer = try await deliveries(url, "bouncer"), chatty = try await deliveries(url, "chatty")
                    return bouncer == ["failed 2"] && chatty == ["failed 2"]
                }, "\(worker.output)")
            let hits = try await receiver.hits().map(\.path)
            #expect(!hits.contains("/ok/redirected"), "the redirect was followed: \(hits)")
            #expect(
                try await errors(url, "bouncer").allSatisfy { $0.contains("HTTP 307") && $0.contains("not followed") })
            let chatty = try await errors(url, "chatty")
            #expect(chatty.allSatisfy { $0.hasPrefix("HTTP 500 Internal Server Error [") }, "\(chatty)")
            #expect(
                try await integer(
                    url,
                    """
                    SELECT count(*) FROM ad.delivery_attempts
                     WHERE error LIKE '%\(HostileReceiver.leakMarker)%' OR smtp_reply LIKE '%\(HostileReceiver.leakMarker)%'
                    """) == 0)
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.alert_deliveries WHERE last_error LIKE '%\(HostileReceiver.leakMarker)%'")
                    == 0)
            await worker.stop()
        }
    }

    /// The issue's reproduction: a receiver that answers its headers and then stalls froze every delivery. Now its
    /// sends end (the head said 200: sent) without waiting for the body, and a receiver that does not answer at all
    /// holds at most its own slots (AD_DELIVERY_PER_CHANNEL) for its deadline, while another channel gets every
    /// alert, all before the test releases the stalled receivers.
    @Test func aReceiverThatStallsAfterItsHeadersDelaysOnlyItsOwnDeliveries() async throws {
        let stalling = HostileReceiver()
        try stalling.start()
        defer { stalling.stop() }
        let fine = HTTPReceiver()
        try fine.start()
        defer { fine.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target, config) VALUES
                    ('stuck', 'webhook', '\(stalling.url("/hang/stuck"))', '{"timeout_seconds": 60}'),
                    ('slow-body', 'webhook', '\(stalling.url("/stall/slow-body"))', '{"timeout_seconds": 1}'),
                    ('fine', 'webhook', '\(fine.url("/webhook/fine"))', '{}'),
                    ('esc', 'webhook', '\(fine.url("/webhook/esc"))', '{}');
                INSERT INTO ad.alert_rules (name, escalate_after) VALUES ('r', '1 second');
                SELECT ad.add_rule_channel('r', c) FROM unnest(ARRAY['stuck', 'slow-body', 'fine']) c;
                SELECT ad.add_rule_channel('r', 'esc', 'escalate');
                """)
            var env = fastDelivery
            env["AD_DELIVERY_PER_CHANNEL"] = "2"
            env["AD_DELIVERY_CONCURRENCY"] = "4"
            let worker = try WorkerProcess(url, name: "w", environment: env)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await stalling.hits().contains { $0.path == "/hang/stuck" }
                }, "\(worker.output)")
            // The first stalled send is in flight and stays so; more alerts arrive.
            try await openAlerts2(url, from: 2, count: 6)
            #expect(
                try await eventually(timeout: .seconds(90)) {
                    try await deliveries(url, "fine").filter { $0.hasPrefix("sent") }.count == 7
                }, "every alert reached the healthy channel while the other stalled\n\(worker.output)")
            // Escalation goes on too: nobody acknowledged, so every alert is escalated to its escalation channel.
            #expect(
                try await eventually(timeout: .seconds(90)) {
                    try await deliveries(url, "esc").filter { $0.hasPrefix("sent") }.count == 7
                }, "every alert was escalated while a receiver stalled\n\(worker.output)")
            // The stalled body of a 1 s channel did not hold its send past the deadline: its head said 200.
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await deliveries(url, "slow-body").filter { $0.hasPrefix("sent") }.count >= 1
                }, "\(worker.output)")
            #expect(try await deliveries(url, "stuck").filter { $0.hasPrefix("sent") }.count < 7)
            try await stalling.release()
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await deliveries(url, "stuck").filter { $0.hasPrefix("sent") }.count == 7
                }, "\(worker.output)")
            await worker.stop()
        }
    }

    /// A receiver that never answers at all (no headers) costs its channel's deadline, then a retry.
    @Test func aReceiverThatNeverAnswersTimesOutWithinTheDeadline() async throws {
        let hanging = HostileReceiver()
        try hanging.start()
        defer { hanging.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target, config) VALUES
                    ('hung', 'webhook', '\(hanging.url("/hang/x"))', '{"timeout_seconds": 1}');
                INSERT INTO ad.alert_rules (name) VALUES ('r');
                SELECT ad.add_rule_channel('r', 'hung');
                """)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await errors(url, "hung").contains {
                        $0.contains("timed out after 1 s") && $0.contains("[retry")
                    }
                }, "\(worker.output)")
            try await hanging.release()
            await worker.stop()
        }
    }

    @Test func secretsFollowTheirDestinationAndCredentialsStayOutOfReadableColumns() async throws {
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target) VALUES
                    ('pager', 'pagerduty', 'https://events.pagerduty.com/v2/enqueue'),
                    ('hook', 'webhook', 'https://hooks.example.com/ad');
                INSERT INTO ad.channels (name, type, target, config) VALUES
                    ('mail', 'email', 'ops@example.com', '{"smtp_host": "smtp.example.com", "username": "u", "from": "a@example.com"}');
                SELECT ad.set_channel_secret('pager', 'R0UT1NGKEY'), ad.set_channel_secret('mail', 'pw'),
                       ad.set_channel_secret('hook', 'hmac'), ad.set_channel_header_secret('hook', 'X-Api-Key', 'k');
                """)
            let secrets =
                "SELECT c.name FROM ad_internal.channel_secrets s JOIN ad.channels c ON c.id = s.channel_id ORDER BY 1"
            #expect(try await strings(url, secrets) == ["hook", "mail", "pager"])
            // Harmless changes keep them.
            try await sql(
                url,
                "UPDATE ad.channels SET active = false, config = config || '{\"timeout_seconds\": 5}' WHERE name IN ('pager', 'mail')"
            )
            #expect(try await strings(url, secrets) == ["hook", "mail", "pager"])
            // The issue's reproduction: an operator points the PagerDuty channel at their own host. Its routing key
            // is gone before any alert could carry it there.
            try await sql(
                url, "UPDATE ad.channels SET target = 'https://attacker.example.com/collect' WHERE name = 'pager'")
            #expect(try await strings(url, secrets) == ["hook", "mail"])
            try await sql(
                url,
                "UPDATE ad.channels SET config = config || '{\"smtp_host\": \"mx.attacker.example\"}' WHERE name = 'mail'"
            )
            #expect(try await strings(url, secrets) == ["hook"])
            try await sql(url, "UPDATE ad.channels SET target = 'https://elsewhere.example.com/ad' WHERE name = 'hook'")
            #expect(try await strings(url, secrets) == [])

            let refusals: [(String, String)] = [
                (
                    "INSERT INTO ad.channels (name, type, target, headers) VALUES ('c', 'webhook', 'https://h.example/x', '{\"Authorization\": \"Bearer abc\"}')",
                    "headers.Authorization: looks like a credential"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, headers) VALUES ('c', 'webhook', 'https://h.example/x', '{\"X-Api-Key\": \"abc\"}')",
                    "ad.set_channel_header_secret('<channel>', 'X-Api-Key', '<value>')"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, headers) VALUES ('c', 'webhook', 'https://h.example/x', '{\"X-Custom\": \"Bearer abc\"}')",
                    "headers.X-Custom: looks like a credential"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target) VALUES ('c', 'slack', 'https://hooks.slack.com/services/T0/B0/XXXX')",
                    "a Slack webhook URL is a secret"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, config) VALUES ('c', 'email', 'o@example.com', '{\"smtp_host\": \"h\", \"from\": \"a@b.c\", \"username\": \"u\", \"tls\": \"none\"}')",
                    "config.tls: \"none\" with a username would send the SMTP password in clear"
                ),
                (
                    "INSERT INTO ad.channels (name, type, target, config) VALUES ('c', 'webhook', 'https://h.example/x', '{\"timeout_seconds\": 300}')",
                    "config.timeout_seconds: must be a number from 0.1 to 60"
                ),
            ]
            for (statement, expected) in refusals {
                let error = await failure(url, statement)
                #expect(error?.contains(expected) == true, "\(statement): \(error ?? "accepted")")
            }
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.channels WHERE name = 'c'") == 0, "nothing was stored")
        }
    }
}

/// Opens `count` more alerts for rule "r" on src-a, with metrics numbered from `from` (so none group with earlier
/// ones).
func openAlerts2(_ url: DatabaseURL, from: Int, count: Int) async throws {
    try await sql(
        url,
        """
        WITH a AS (
            INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
            SELECT gen_random_uuid(), timestamptz '2026-01-01' + g * interval '1 minute', '\(sourceA)', 'm' || g, 'robust',
                   'high', 0.9999, '{"actual": 100, "expected": 10, "expected_range": [5, 15]}'
              FROM generate_series(\(from), \(from + count - 1)) g
            RETURNING id, point_timestamp, source_id, metric
        )
        INSERT INTO ad.alerts (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
        SELECT r.id, a.id, a.point_timestamp, a.source_id, a.metric, 'high', 'test ' || a.metric, 'test alert'
          FROM a, ad.alert_rules r WHERE r.name = 'r'
        """)
}
