import ADAlerting
import ADCore
import Foundation
import Testing

/// A delivery job like the ones ad_internal.claim_deliveries() returns.
func sampleJob(_ event: DeliveryJob.Event = .trigger, type: String = "webhook", secret: String? = nil) -> DeliveryJob {
    let alert = try! JSONDecoder().decode(
        JSONValue.self,
        from: Data(
            """
            {"id": "6f1d2c3b-0000-4000-8000-000000000001", "status": "pending", "severity": "high",
             "title": "[HIGH] cpu on web-1: 97 (expected 40) - rule cpu-high", "message": "Anomaly on web-1 <b>.\\nline two",
             "metric": "cpu", "occurrences": 2, "first_seen_at": "2026-03-04T10:00:00+00:00",
             "last_seen_at": "2026-03-04T10:05:00+00:00", "created_at": "2026-03-04T10:00:01+00:00",
             "resolved_at": null, "acknowledged_at": null, "notes": null,
             "rule": {"id": "6f1d2c3b-0000-4000-8000-000000000002", "name": "cpu-high"},
             "source": {"id": "6f1d2c3b-0000-4000-8000-000000000003", "name": "web-1"},
             "anomaly": {"id": "6f1d2c3b-0000-4000-8000-000000000004", "point_timestamp": "2026-03-04T10:00:00+00:00",
                         "score": 0.99995, "severity": "high", "detector": "robust",
                         "explanation": {"detector": "robust", "metric": "cpu", "actual": 97, "expected": 40,
                                         "expected_range": [30, 50], "top_contributions": []}}}
            """.utf8))
    return DeliveryJob(
        deliveryID: UUID(uuidString: "6f1d2c3b-0000-4000-8000-0000000000dd")!, event: event, attempt: 1,
        alert: alert,
        channel: .init(
            name: "ch", type: type, target: "http://127.0.0.1:9/x",
            headers: [("X-Team", "ops")], secret: secret))
}

func decode(_ s: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(s.utf8)) }

@Suite struct ChannelPayloads {
    let now = Date(timeIntervalSince1970: 1_772_618_460)

    @Test func signatureMatchesOpenSSL() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'sekrit'
        #expect(
            Payloads.signature(secret: "sekrit", timestamp: 1_700_000_000, body: #"{"a":1}"#)
                == "v1=ff8c920725a395b303d30eb509b37bc42837a5bdbe05bd224a07d783f101ee46")
    }

    @Test func webhookBodyFollowsSchemaV1() throws {
        let body = try decode(Payloads.webhook(sampleJob(), sentAt: now))
        #expect(body["schema"] == .string("ad.alert.v1"))
        #expect(body["event"] == .string("trigger"))
        #expect(body["sent_at"] == .string("2026-03-04T10:01:00.000Z"))
        #expect(body["alert"]?["id"] == .string("6f1d2c3b-0000-4000-8000-000000000001"))
        #expect(body["alert"]?["rule"]?["name"] == .string("cpu-high"))
        #expect(body["alert"]?["occurrences"] == .number(2))
        #expect(body["anomaly"]?["actual"] == .number(97))
        #expect(body["anomaly"]?["expected_low"] == .number(30))
        #expect(body["anomaly"]?["expected_high"] == .number(50))
    }

    @Test func webhookHeadersSignTheExactBody() {
        let job = sampleJob(secret: "sekrit")
        let body = Payloads.webhook(job, sentAt: now)
        let h = Dictionary(Payloads.webhookHeaders(job, body: body, now: now), uniquingKeysWith: { $1 })
        #expect(h["Idempotency-Key"] == "6f1d2c3b-0000-4000-8000-000000000001")
        #expect(h["X-AD-Alert-Id"] == "6f1d2c3b-0000-4000-8000-000000000001")
        #expect(h["X-AD-Timestamp"] == "1772618460")
        #expect(h["X-AD-Signature"] == Payloads.signature(secret: "sekrit", timestamp: 1_772_618_460, body: body))
        #expect(h["X-Team"] == "ops")
        let unsigned = Dictionary(Payloads.webhookHeaders(sampleJob(), body: body, now: now), uniquingKeysWith: { $1 })
        #expect(unsigned["X-AD-Signature"] == nil)
    }

    @Test func idempotencyKeysDifferPerEventButNotPerAttempt() {
        #expect(Payloads.idempotencyKey(sampleJob(.trigger)) == "6f1d2c3b-0000-4000-8000-000000000001")
        #expect(Payloads.idempotencyKey(sampleJob(.resolve)) == "6f1d2c3b-0000-4000-8000-000000000001:resolve")
        var again = sampleJob(.trigger)
        again.attempt = 4
        #expect(Payloads.idempotencyKey(again) == Payloads.idempotencyKey(sampleJob(.trigger)))
    }

    @Test func slackMessageIsReadableAndWithinLimits() throws {
        let m = try decode(Payloads.slack(sampleJob(type: "slack")))
        guard case .string(let text)? = m["text"], case .array(let blocks)? = m["blocks"] else {
            Issue.record("no text or blocks"); return
        }
        #expect(text.hasPrefix("[HIGH] cpu on web-1"))
        #expect(blocks.first?["type"] == .string("header"))
        guard case .array(let fields)? = blocks[1]["fields"] else { Issue.record("no fields"); return }
        #expect(fields.count <= 10)
        #expect(fields.contains { $0["text"] == .string("*Actual*\n97 (expected 40)") })
        // Slack's control characters are escaped.
        #expect(Payloads.slack(sampleJob(type: "slack")).contains("&lt;b&gt;"))
        let resolved = try decode(Payloads.slack(sampleJob(.resolve, type: "slack")))
        #expect(
            resolved["text"].map { if case .string(let s) = $0 { s.hasPrefix("Resolved: ") } else { false } } == true)
    }

    @Test func pagerDutyEventsV2() throws {
        let t = try decode(Payloads.pagerDuty(sampleJob(type: "pagerduty"), routingKey: "R0UT1NGKEY", now: now))
        #expect(t["routing_key"] == .string("R0UT1NGKEY"))
        #expect(t["event_action"] == .string("trigger"))
        #expect(t["dedup_key"] == .string("6f1d2c3b-0000-4000-8000-000000000001"))
        #expect(t["payload"]?["severity"] == .string("error"))  // high -> error
        #expect(t["payload"]?["source"] == .string("web-1"))
        #expect(t["payload"]?["timestamp"] == .string("2026-03-04T10:00:00+00:00"))
        let r = try decode(
            Payloads.pagerDuty(sampleJob(.resolve, type: "pagerduty"), routingKey: "R0UT1NGKEY", now: now))
        #expect(r["event_action"] == .string("resolve"))
        #expect(r["payload"] == nil)
        #expect(r["dedup_key"] == t["dedup_key"])
    }

    @Test func alertmanagerFiresUntilEndsAtAndResolvesWithTheSameLabels() throws {
        let fire = try decode(Payloads.alertmanager(sampleJob(type: "alertmanager"), now: now, endsAfter: 3600))
        let done = try decode(
            Payloads.alertmanager(sampleJob(.resolve, type: "alertmanager"), now: now, endsAfter: 3600))
        guard case .array(let f) = fire, case .array(let d) = done else { Issue.record("not arrays"); return }
        #expect(f[0]["labels"] == d[0]["labels"])
        #expect(f[0]["labels"]?["alertname"] == .string("cpu-high"))
        #expect(f[0]["endsAt"] == .string("2026-03-04T11:01:00.000Z"))
        #expect(d[0]["endsAt"] == .string("2026-03-04T10:01:00.000Z"))
    }

    @Test func emailHasBothBodiesAndEscapesHTML() {
        let e = Payloads.email(sampleJob(.escalate, type: "email"))
        #expect(e.subject.hasPrefix("ESCALATED: [HIGH]"))
        #expect(e.text.contains("UPDATE ad.alerts SET status = 'acknowledged'"))
        #expect(e.html.contains("&lt;b&gt;"))
        #expect(!e.html.contains("<b>."))
    }
}
