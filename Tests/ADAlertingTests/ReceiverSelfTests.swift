import ADCore
import ADDBTestSupport
import Foundation
import Testing

// The test receivers themselves: before a channel test trusts a verdict, these prove the receivers accept what
// the services accept and refuse what they refuse. No database needed.

@Suite("HTTP test receiver")
struct HTTPReceiverSelfTests {
    static let alertID = "5f0c2b7e-3a41-4d7c-9e2a-0b1c2d3e4f50"

    /// A webhook body that follows ad.alert.v1.
    static func webhookBody(score: Double = 0.93, alertID: String = alertID) -> JSONValue {
        .object([
            ("schema", .string("ad.alert.v1")),
            ("event", .string("trigger")),
            ("sent_at", .string("2026-01-01T00:05:00Z")),
            (
                "alert",
                .object([
                    ("id", .string(alertID)),
                    ("status", .string("open")),
                    ("severity", .string("high")),
                    ("title", .string("cpu anomaly on src-a")),
                    ("message", .string("x = 97 (expected 40..60)")),
                    (
                        "rule",
                        .object([("id", .string("00000000-0000-0000-0000-0000000000f1")), ("name", .string("cpu"))])
                    ),
                    (
                        "source",
                        .object([("id", .string("00000000-0000-0000-0000-00000000000a")), ("name", .string("src-a"))])
                    ),
                    ("metric", .string("x")),
                    ("occurrences", .number(1)),
                    ("first_seen_at", .string("2026-01-01T00:04:00Z")),
                    ("last_seen_at", .string("2026-01-01T00:04:00.250+00:00")),
                ])
            ),
            (
                "anomaly",
                .object([
                    ("id", .string("9b2f3c1d-0000-4000-8000-000000000001")),
                    ("point_timestamp", .string("2026-01-01T00:04:00Z")),
                    ("score", .number(score)),
                    ("severity", .string("high")),
                    ("detector", .string("zscore")),
                    ("actual", .number(97)),
                    ("expected", .number(50)),
                    ("expected_low", .number(40)),
                    ("expected_high", .null),
                ])
            ),
        ])
    }

    static func webhookHeaders(alertID: String = alertID) -> [String: String] {
        ["Content-Type": "application/json", "Idempotency-Key": "delivery-1", "X-AD-Alert-Id": alertID]
    }

    /// Posts `body` signed with `secret` at `timestamp` (the receiver's rule: HMAC-SHA256 over "<ts>.<body>").
    static func postSigned(
        _ receiver: HTTPReceiver, name: String, body: JSONValue, secret: String,
        timestamp: Int = Int(Date().timeIntervalSince1970)
    ) async throws -> HTTPResponse {
        let raw = Data(body.render().utf8)
        let signature = try hmacSHA256Hex(secret: secret, Data("\(timestamp).".utf8) + raw)
        var headers = webhookHeaders()
        headers["X-AD-Timestamp"] = String(timestamp)
        headers["X-AD-Signature"] = "v1=\(signature)"
        return try await TestHTTP.send("POST", receiver.url("/webhook/\(name)"), headers: headers, body: raw)
    }

    @Test func correctlySignedWebhookIsAccepted() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: ["ops": "s3cret-Ω"])
        defer { receiver.stop() }

        let r = try await Self.postSigned(receiver, name: "ops", body: Self.webhookBody(), secret: "s3cret-Ω")
        #expect(r.status == 200, "\(r.text)")
        #expect(try r.json()["ok"] == .bool(true))

        let got = try await receiver.records()
        try #require(got.count == 1)
        #expect(got[0].verdict == .ok, "\(got[0].reasons)")
        #expect(got[0].status == 200)
        #expect(got[0].path == "/webhook/ops")
        #expect(got[0].method == "POST")
        #expect(got[0].header("x-ad-alert-id") == Self.alertID)
        #expect(got[0].header("IDEMPOTENCY-KEY") == "delivery-1")
        #expect(got[0].json["alert"]?["id"] == .string(Self.alertID))
        #expect(got[0].body == Self.webhookBody().render())
    }

    @Test func badOrStaleSignatureIsRefusedWith401() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: ["ops": "s3cret"])
        defer { receiver.stop() }

        let wrongKey = try await Self.postSigned(
            receiver, name: "ops", body: Self.webhookBody(), secret: "not-the-secret")
        #expect(wrongKey.status == 401)
        let stale = try await Self.postSigned(
            receiver, name: "ops", body: Self.webhookBody(), secret: "s3cret",
            timestamp: Int(Date().timeIntervalSince1970) - 301)
        #expect(stale.status == 401)
        var headers = Self.webhookHeaders()
        headers["X-AD-Timestamp"] = String(Int(Date().timeIntervalSince1970))
        let unsigned = try await TestHTTP.send(
            "POST", receiver.url("/webhook/ops"), json: Self.webhookBody(), headers: headers)
        #expect(unsigned.status == 401)

        let got = try await receiver.records()
        #expect(got.map(\.verdict) == [.badSignature, .badSignature, .badSignature])
        #expect(got.map(\.status) == [401, 401, 401])
        #expect(got[1].reasons.contains { $0.contains("300 s") }, "\(got[1].reasons)")
    }

    @Test func unsignedEndpointChecksHeadersAndSchema() async throws {
        let receiver = HTTPReceiver()
        try receiver.start()
        defer { receiver.stop() }

        let fine = try await TestHTTP.send(
            "POST", receiver.url("/webhook/plain"), json: Self.webhookBody(),
            headers: Self.webhookHeaders())
        #expect(fine.status == 200, "\(fine.text)")

        // Score out of range, alert id not the header's, no Idempotency-Key.
        var headers = Self.webhookHeaders()
        headers["Idempotency-Key"] = nil
        let bad = try await TestHTTP.send(
            "POST", receiver.url("/webhook/plain"),
            json: Self.webhookBody(score: 1.5, alertID: "5f0c2b7e-3a41-4d7c-9e2a-0b1c2d3e4f51"),
            headers: headers)
        #expect(bad.status == 400)
        let got = try await receiver.records()
        try #require(got.count == 2)
        #expect(got[0].verdict == .ok)
        #expect(got[1].verdict == .invalid)
        let reasons = got[1].reasons.joined(separator: "\n")
        #expect(reasons.contains("anomaly.score"), "\(reasons)")
        #expect(reasons.contains("differs from X-AD-Alert-Id"), "\(reasons)")
        #expect(reasons.contains("Idempotency-Key"), "\(reasons)")
    }

    @Test func slackPayloads() async throws {
        let receiver = HTTPReceiver()
        try receiver.start()
        defer { receiver.stop() }

        let good: JSONValue = .object([
            ("text", .string("High anomaly on src-a: x = 97")),
            (
                "blocks",
                .array([
                    .object([
                        ("type", .string("header")),
                        ("text", .object([("type", .string("plain_text")), ("text", .string("High anomaly"))])),
                    ]),
                    .object([
                        ("type", .string("section")),
                        (
                            "fields",
                            .array([
                                .object([("type", .string("mrkdwn")), ("text", .string("*Source*\nsrc-a"))]),
                                .object([("type", .string("mrkdwn")), ("text", .string("*Score*\n0.93"))]),
                            ])
                        ),
                    ]),
                    .object([("type", .string("divider"))]),
                    .object([
                        ("type", .string("context")),
                        ("elements", .array([.object([("type", .string("mrkdwn")), ("text", .string("adworker"))])])),
                    ]),
                ])
            ),
        ])
        let ok = try await TestHTTP.send("POST", receiver.url("/slack/ops"), json: good)
        #expect(ok.status == 200)
        #expect(ok.text == "ok")

        let longHeader = String(repeating: "h", count: 151)
        let malformed: [JSONValue] = [
            .object([("blocks", .array([]))]),  // no text
            .object([("text", .string("x")), ("blocks", .array([.object([("type", .string("table"))])]))]),
            .object([
                ("text", .string("x")),
                (
                    "blocks",
                    .array([
                        .object([
                            ("type", .string("header")),
                            ("text", .object([("type", .string("plain_text")), ("text", .string(longHeader))])),
                        ])
                    ])
                ),
            ]),
            .object([
                ("text", .string("x")),
                (
                    "blocks",
                    .array([
                        .object([
                            ("type", .string("section")),
                            (
                                "fields",
                                .array(
                                    Array(
                                        repeating: .object([("type", .string("mrkdwn")), ("text", .string("f"))]),
                                        count: 11))
                            ),
                        ])
                    ])
                ),
            ]),
        ]
        for payload in malformed {
            let r = try await TestHTTP.send("POST", receiver.url("/slack/ops"), json: payload)
            #expect(r.status == 400, "\(payload.render())")
            #expect(r.text == "invalid_payload")
        }
        let notJSON = try await TestHTTP.send(
            "POST", receiver.url("/slack/ops"), headers: ["Content-Type": "application/json"],
            body: Data("{text:".utf8))
        #expect(notJSON.status == 400)

        let got = try await receiver.records(under: "/slack/")
        #expect(got.map(\.verdict) == [.ok] + Array(repeating: .invalid, count: 5))
        #expect(got.dropFirst().allSatisfy { !$0.reasons.isEmpty })
    }

    @Test func pagerDutyEvents() async throws {
        let receiver = HTTPReceiver()
        try receiver.start()
        defer { receiver.stop() }
        let url = receiver.url("/pagerduty/v2/enqueue")
        let key: JSONValue = .string("0123456789abcdef0123456789abcdef")

        let trigger = try await TestHTTP.send(
            "POST", url,
            json: .object([
                ("routing_key", key), ("event_action", .string("trigger")), ("dedup_key", .string("ad-alert-1")),
                (
                    "payload",
                    .object([
                        ("summary", .string("High anomaly on src-a")), ("source", .string("src-a")),
                        ("severity", .string("error")),
                        ("timestamp", .string("2026-01-01T00:04:00Z")), ("component", .string("x")),
                        ("custom_details", .object([("score", .number(0.93))])),
                    ])
                ),
            ]))
        #expect(trigger.status == 202)
        #expect(try trigger.json()["status"] == .string("success"))
        #expect(try trigger.json()["dedup_key"] == .string("ad-alert-1"))

        let noSummary = try await TestHTTP.send(
            "POST", url,
            json: .object([
                ("routing_key", key), ("event_action", .string("trigger")),
                ("payload", .object([("source", .string("src-a")), ("severity", .string("error"))])),
            ]))
        #expect(noSummary.status == 400)
        #expect(try noSummary.json()["status"] == .string("invalid event"))
        guard case .array(let errors)? = try noSummary.json()["errors"] else { Issue.record("no errors list"); return }
        #expect(errors.contains { if case .string(let s) = $0 { s.contains("summary") } else { false } })

        let resolveWithoutKey = try await TestHTTP.send(
            "POST", url,
            json: .object([
                ("routing_key", key), ("event_action", .string("resolve")),
            ]))
        #expect(resolveWithoutKey.status == 400)
        let resolve = try await TestHTTP.send(
            "POST", url,
            json: .object([
                ("routing_key", key), ("event_action", .string("resolve")), ("dedup_key", .string("ad-alert-1")),
            ]))
        #expect(resolve.status == 202)
        let badSeverity = try await TestHTTP.send(
            "POST", url,
            json: .object([
                ("routing_key", .string("")), ("event_action", .string("trigger")),
                (
                    "payload",
                    .object([("summary", .string("s")), ("source", .string("src-a")), ("severity", .string("high"))])
                ),
            ]))
        #expect(badSeverity.status == 400)

        let got = try await receiver.records()
        #expect(got.map(\.verdict) == [.ok, .invalid, .invalid, .ok, .invalid])
        #expect(got[4].reasons.count == 2, "\(got[4].reasons)")  // empty routing_key, severity "high"
    }

    @Test func forcedFailuresAndHangs() async throws {
        let receiver = HTTPReceiver()
        try receiver.start()
        defer { receiver.stop() }
        let url = receiver.url("/slack/ops")
        let payload: JSONValue = .object([("text", .string("hello"))])

        try await receiver.fail(status: 503, count: 2)
        var statuses: [Int] = []
        for _ in 0..<3 { statuses.append(try await TestHTTP.send("POST", url, json: payload).status) }
        #expect(statuses == [503, 503, 200])
        #expect(try await receiver.records().map(\.verdict) == [.forcedFailure, .forcedFailure, .ok])
        #expect(try await receiver.records().map(\.status) == [503, 503, 200])

        try await receiver.fail(status: 500, seconds: 60)
        #expect(try await TestHTTP.send("POST", url, json: payload).status == 500)
        #expect(try await TestHTTP.send("POST", url, json: payload).status == 500)
        try await receiver.reset()
        #expect(try await TestHTTP.send("POST", url, json: payload).status == 200)

        // A timed outage ends by itself. Its length is generous, so a busy machine cannot get past it before the
        // first request; the answer after it is waited for, not timed.
        try await receiver.fail(status: 502, seconds: 5)
        #expect(try await TestHTTP.send("POST", url, json: payload).status == 502)
        var after = 0
        var answered = 0
        while answered != 200 && after < 60 {
            try await Task.sleep(for: .milliseconds(500))
            answered = try await TestHTTP.send("POST", url, json: payload).status
            after += 1
        }
        #expect(answered == 200, "the 5 s outage never ended")

        // A hang longer than the client's timeout: the client gives up; the next request is answered at once.
        // (No wall-clock bounds here: the suite runs on busy machines.)
        try await receiver.hang(seconds: 2, count: 1)
        await #expect(throws: (any Error).self) { try await TestHTTP.send("POST", url, json: payload, timeout: 0.5) }
        #expect(try await TestHTTP.send("POST", url, json: payload).status == 200)
        // The hung request is recorded once the receiver gets to answer it.
        let all = try await receiver.waitForRecords(9 + after, under: "/slack/")
        #expect(all.count == 9 + after)
        #expect(receiver.stderr.isEmpty, "\(receiver.stderr)")
    }

    @Test func aReceiverThatCannotStartSaysWhy() throws {
        let receiver = HTTPReceiver()
        defer { receiver.stop() }
        // An empty endpoint name makes the script refuse its arguments (argparse exits 2).
        let error = #expect(throws: ReceiverError.self) { try receiver.start(secrets: ["": "x"]) }
        #expect(error?.description.contains("exited with status 2") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("--secret wants NAME=VALUE") == true, "\(error?.description ?? "")")
        #expect(receiver.port == nil)
    }

    @Test func stopEndsTheProcess() async throws {
        let receiver = HTTPReceiver()
        try receiver.start()
        let base = receiver.baseURL
        #expect(try await TestHTTP.send("GET", base.appendingPathComponent("_records")).status == 200)
        receiver.stop()
        await #expect(throws: (any Error).self) {
            try await TestHTTP.send("GET", base.appendingPathComponent("_records"), timeout: 2)
        }
        receiver.stop()  // twice is fine
    }
}

@Suite("Alertmanager test receiver")
struct AlertmanagerSelfTests {
    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    @Test func postThenResolve() async throws {
        let am = AlertmanagerProcess()
        try await am.start()
        defer { am.stop() }

        // Keys in sorted order: JSONValue decodes objects that way, so the GET answer compares equal.
        let labels: JSONValue = .object([
            ("alert_id", .string("5f0c2b7e-3a41-4d7c-9e2a-0b1c2d3e4f50")), ("alertname", .string("ADAnomaly")),
            ("severity", .string("high")),
        ])
        let started = Date().addingTimeInterval(-60)
        let fire = try await TestHTTP.send(
            "POST", am.url("/api/v2/alerts"),
            json: .array([
                .object([
                    ("labels", labels), ("annotations", .object([("summary", .string("x = 97 on src-a"))])),
                    ("startsAt", .string(Self.iso(started))), ("generatorURL", .string("http://127.0.0.1/adworker")),
                ])
            ]))
        #expect(fire.status == 200, "\(fire.text)")

        let active = try await am.alerts()
        try #require(active.count == 1, "\(active.map { $0.render() })")
        #expect(active[0]["labels"] == labels)
        #expect(active[0]["status"]?["state"] == .string("active"))
        #expect(active[0]["annotations"]?["summary"] == .string("x = 97 on src-a"))
        #expect(try await am.alerts(filter: ["alert_id=\"5f0c2b7e-3a41-4d7c-9e2a-0b1c2d3e4f50\""]).count == 1)
        #expect(try await am.alerts(filter: ["alert_id=\"other\""]).isEmpty)
        let resolvedBefore =
            try await am.metric("alertmanager_alerts_received_total", labels: ["status": "resolved"]) ?? 0

        // endsAt must not be before startsAt (Alertmanager answers 400 "start time must be before end time").
        let resolve = try await TestHTTP.send(
            "POST", am.url("/api/v2/alerts"),
            json: .array([
                .object([
                    ("labels", labels), ("startsAt", .string(Self.iso(started))),
                    ("endsAt", .string(Self.iso(Date().addingTimeInterval(-1)))),
                ])
            ]))
        #expect(resolve.status == 200, "\(resolve.text)")

        // Resolved alerts vanish from GET /api/v2/alerts at once, whatever active/resolved say.
        #expect(try await am.alerts().isEmpty)
        #expect(try await am.alerts(active: true, resolved: true).isEmpty)
        #expect(try await am.alerts(active: false, resolved: true).isEmpty)
        #expect(
            try await am.metric("alertmanager_alerts_received_total", labels: ["status": "resolved"]) == resolvedBefore
                + 1)
        #expect(try await am.metric("alertmanager_alerts", labels: ["state": "active"]) == 0)

        let backwards = try await TestHTTP.send(
            "POST", am.url("/api/v2/alerts"),
            json: .array([
                .object([
                    ("labels", labels), ("startsAt", .string(Self.iso(Date()))), ("endsAt", .string(Self.iso(started))),
                ])
            ]))
        #expect(backwards.status == 400)
    }

    @Test func stopEndsAlertmanager() async throws {
        let am = AlertmanagerProcess()
        try await am.start()
        let ready = am.url("/-/ready")
        #expect(try await TestHTTP.send("GET", ready).status == 200)
        am.stop()
        await #expect(throws: (any Error).self) { try await TestHTTP.send("GET", ready, timeout: 2) }
    }
}

/// HMAC-SHA256 as lowercase hex, computed by openssl (independent of the receiver's Python).
func hmacSHA256Hex(secret: String, _ message: Data) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = ["dgst", "-sha256", "-hmac", secret]
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    try p.run()
    input.fileHandleForWriting.write(message)
    try input.fileHandleForWriting.close()
    let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    // "SHA2-256(stdin)= <hex>" (older openssl: "(stdin)= <hex>")
    guard p.terminationStatus == 0, let hex = out.split(whereSeparator: \.isWhitespace).last, hex.count == 64 else {
        throw ReceiverError("openssl dgst -hmac failed: \(out)")
    }
    return String(hex)
}
