import ADAlerting
import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import Testing

/// One contribution as the alert message prints it.
func messageItem(_ c: Explanation.Contribution) -> String {
    "\(c.metric)/\(c.feature) \(c.value.map(AlertText.format) ?? "?") (surprise \(c.surprise.map(AlertText.format) ?? "?"))"
}

@Suite struct PayloadsReadTheTypedExplanation {
    @Test func theWebhookCarriesTheDecodedExplanationAndItsNumbers() throws {
        let job = sampleJob()
        #expect(job.explanation?.actual == 97 && job.explanationProblem == nil)
        let body = try decode(Payloads.webhook(job, sentAt: Date(timeIntervalSince1970: 0)))
        #expect(try Explanation(json: try #require(body["anomaly"]?["explanation"])) == job.explanation)
        #expect(
            body["anomaly"]?["explanation"]?["version"] == .number(0),
            "a row from before the version field, re-encoded as such")
    }

    @Test func anExplanationThatCannotBeReadIsReportedAndSentWithoutDetails() throws {
        let good = sampleJob()
        guard case .object(var alert) = good.alert, case .object(var anomaly)? = good.alert["anomaly"] else {
            Issue.record("sample job is not an object"); return
        }
        anomaly.removeAll { $0.0 == "explanation" }
        anomaly.append(
            ("explanation", .object([("actual", .string("high")), ("expected_range", .array([.number(1)]))])))
        alert.removeAll { $0.0 == "anomaly" }
        alert.append(("anomaly", .object(anomaly)))
        let job = DeliveryJob(
            deliveryID: good.deliveryID, event: .trigger, attempt: 1, alert: .object(alert), channel: good.channel)
        #expect(job.explanation == nil)
        #expect(
            job.explanationProblem?.contains("actual") == true, "\(job.explanationProblem ?? "no problem reported")")
        let body = try decode(Payloads.webhook(job, sentAt: Date(timeIntervalSince1970: 0)))
        #expect(body["anomaly"]?["explanation"] == .null)
        #expect(body["anomaly"]?["actual"] == .null)
        #expect(body["alert"]?["message"] == good.alert["message"], "the message raised with the alert is still sent")
        _ = Payloads.slack(job)  // renders without the details
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct AnAlertExplainsARealScoredAnomaly {
    /// The real worker scores a spike; the explanation it stores, the alert message it raises and the webhook it
    /// sends all carry every top contribution, and the reason.
    @Test func theStoredExplanationTheAlertMessageAndTheWebhookNameEveryContribution() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: [:])
        defer { receiver.stop() }
        try await withAlertDatabase { url in
            try await script(
                url,
                """
                INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', '\(receiver.url("/webhook/hook"))');
                INSERT INTO ad.alert_rules (name, conditions) VALUES ('r', '{"min_severity": "low", "metrics": ["x"]}');
                SELECT ad.add_rule_channel('r', 'hook');
                """)
            let worker = try WorkerProcess(url, name: "w", environment: fastDelivery)
            defer { Task { await worker.stop() } }
            try await insertPoints(url, from: 0, count: 40, value: "50 + (g % 5)")
            try await insertPoints(url, from: 40, count: 1, value: "500")
            let hooks = try await receiver.waitForRecords(1, timeout: .seconds(30))

            let stored = try await strings(url, "SELECT explanation::text FROM ad.anomalies")
            try #require(stored.count == 1, "\(worker.output)")
            let e = try JSONDecoder().decode(Explanation.self, from: Data(stored[0].utf8))
            #expect(e.version == Explanation.currentVersion && e.metric == "x" && e.actual == 500)
            #expect(e.topContributions.count >= 2, "\(stored[0])")
            let reason = try #require(e.reason, "\(stored[0])")
            #expect(reason.contains("the \(e.decidedBy ?? "?") stream of x"), "\(reason)")
            // The view reads the same keys.
            let view = try await strings(url, "SELECT actual::text || ' ' || expected::text FROM ad.anomaly_details")
            #expect(view.first.map { $0.split(separator: " ").compactMap { Double($0) } } == [e.actual!, e.expected!])

            let message = try await strings(url, "SELECT message FROM ad.alerts")
            try #require(message.count == 1)
            #expect(message[0].contains("Why: " + reason), "\(message[0])")
            for c in e.topContributions {
                #expect(message[0].contains(messageItem(c)), "\(messageItem(c)) not in\n\(message[0])")
            }

            let hook = try #require(hooks.first)
            #expect(hook.json["alert"]?["message"] == .string(message[0]))
            // Once, under TimescaleDB on a loaded machine, the webhook came with a null explanation: say whether the
            // claim lost the anomaly (its id null too) or the worker could not read its explanation (the log says).
            try #require(
                hook.json["anomaly"]?["id"] != .null && hook.json["anomaly"]?["explanation"] != .null,
                "the webhook's anomaly: \(hook.body)\nworker:\n\(worker.output)")
            let sent = try Explanation(json: try #require(hook.json["anomaly"]?["explanation"]))
            #expect(sent == e)
            #expect(hook.json["anomaly"]?["expected_low"] == e.expectedRange?.low.map(JSONValue.number))
            for c in e.topContributions {
                #expect(
                    hook.body.contains(#""metric":"\#(c.metric)","feature":"\#(c.feature)""#),
                    "\(c.feature) not in \(hook.body)")
            }
            await worker.stop()
        }
    }

    /// The delivery claim's safeguard: an alert document whose anomaly came back empty gets it again by its key.
    @Test func anAlertWhoseClaimLostItsAnomalyGetsItBackByItsKey() async throws {
        try await withAlertDatabase { url in
            try await sql(
                url, #"INSERT INTO ad.alert_rules (name, conditions) VALUES ('r', '{"min_severity": "low"}')"#)
            let anomaly = try await insertAnomaly(url, minute: 7)
            _ = try await raise(url, [anomaly])
            let alert = try #require(try await strings(url, "SELECT id::text FROM ad.alerts").first)
            let lostDoc = #"{"id": "\#(alert)", "title": "t", "anomaly": {"id": null, "explanation": null}}"#
            let lost = DeliveryJob(
                deliveryID: UUID(), event: .trigger, attempt: 1,
                alert: try JSONDecoder().decode(JSONValue.self, from: Data(lostDoc.utf8)),
                channel: .init(name: "hook", type: "webhook", target: "http://127.0.0.1:9/x"))
            #expect(lost.lostItsAnomaly)
            let found = try await Database.withConnection(url, logger: TestServer.logger) { conn in
                try await DeliveryQueue(logger: TestServer.logger).anomaly(
                    conn, alertID: try #require(UUID(uuidString: alert)))
            }
            let job = lost.with(anomaly: try #require(found))
            let doc = job.alert, text = doc.render()
            #expect(!job.lostItsAnomaly)
            #expect(doc["anomaly"]?["id"] == .string(anomaly), "\(text)")
            #expect(doc["anomaly"]?["explanation"]?["actual"] == .number(500), "\(text)")
            #expect(job.explanation?.actual == 500, "\(text)")
            #expect(doc["title"] == .string("t") && doc["id"] == .string(alert))
        }
    }
}
