import ADCore
import Crypto
import Foundation

/// What each channel type is sent: pure functions of a delivery job and the time, unit-tested without I/O.
public enum Payloads {
    /// The generic webhook's body, schema `ad.alert.v1` (README, "Webhook payload").
    public static func webhook(_ job: DeliveryJob, sentAt: Date) -> String {
        let a = job.alert
        let e = job.explanation
        func number(_ x: Double?) -> JSONValue { x.map(JSONValue.number) ?? .null }
        let alert = JSONValue.object([
            ("id", a["id"] ?? .null), ("status", a["status"] ?? .null), ("severity", a["severity"] ?? .null),
            ("title", a["title"] ?? .null), ("message", a["message"] ?? .null),
            ("rule", a["rule"] ?? .null), ("source", a["source"] ?? .null), ("metric", a["metric"] ?? .null),
            ("occurrences", a["occurrences"] ?? .null), ("first_seen_at", a["first_seen_at"] ?? .null),
            ("last_seen_at", a["last_seen_at"] ?? .null), ("created_at", a["created_at"] ?? .null),
            ("acknowledged_at", a["acknowledged_at"] ?? .null), ("resolved_at", a["resolved_at"] ?? .null),
            ("notes", a["notes"] ?? .null),
        ])
        let an = a["anomaly"] ?? .object([])
        let anomaly = JSONValue.object([
            ("id", an["id"] ?? .null), ("point_timestamp", an["point_timestamp"] ?? .null),
            ("score", an["score"] ?? .null),
            ("severity", an["severity"] ?? .null), ("detector", an["detector"] ?? .null),
            ("actual", number(e?.actual)), ("expected", number(e?.expected)),
            ("expected_low", number(e?.expectedRange?.low)), ("expected_high", number(e?.expectedRange?.high)),
            ("explanation", e?.json ?? .null),
        ])
        return JSONValue.object([
            ("schema", .string("ad.alert.v1")), ("event", .string(job.event.rawValue)),
            ("sent_at", .string(iso(sentAt))), ("alert", alert), ("anomaly", anomaly),
        ]).render()
    }

    /// The idempotency key: the alert id for the alert's first notice; the alert id and the event (and, for
    /// repeated notices, the delivery id) otherwise, so a receiver deduplicating on it drops only true repeats.
    public static func idempotencyKey(_ job: DeliveryJob) -> String {
        switch job.event {
        case .trigger: job.alertID
        case .renotify: "\(job.alertID):renotify:\(job.deliveryID.uuidString.lowercased())"
        case .escalate, .acknowledge, .resolve: "\(job.alertID):\(job.event.rawValue)"
        }
    }

    /// `X-AD-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with `X-AD-Timestamp`.
    public static func signature(secret: String, timestamp: Int, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Headers of a webhook request (the channel's own headers first, ours last so they win).
    public static func webhookHeaders(_ job: DeliveryJob, body: String, now: Date) -> [(String, String)] {
        var h = job.channel.headers
        h.append(("Content-Type", "application/json"))
        h.append(("Idempotency-Key", idempotencyKey(job)))
        h.append(("X-AD-Alert-Id", job.alertID))
        h.append(("X-AD-Event", job.event.rawValue))
        if let secret = job.channel.secret, !secret.isEmpty {
            let ts = Int(now.timeIntervalSince1970)
            h.append(("X-AD-Timestamp", String(ts)))
            h.append(("X-AD-Signature", signature(secret: secret, timestamp: ts, body: body)))
        }
        return h
    }

    /// A Slack incoming-webhook message: a readable header, the facts as fields, and how to act in psql.
    public static func slack(_ job: DeliveryJob) -> String {
        let a = job.alert
        let e = job.explanation
        let prefix: String =
            switch job.event {
            case .trigger: ""
            case .renotify: "Still open: "
            case .escalate: "Escalated: "
            case .acknowledge: "Acknowledged: "
            case .resolve: "Resolved: "
            }
        let headline = clip(prefix + job.title, 150)
        var fields: [(String, String)] = [
            ("Severity", job.severity.uppercased()), ("Source", job.sourceName), ("Metric", job.metric),
        ]
        if case .number(let s)? = a["anomaly"]?["score"] { fields.append(("Score", String(format: "%.6f", s))) }
        if let x = e?.actual {
            var v = AlertText.format(x)
            if let exp = e?.expected { v += " (expected \(AlertText.format(exp)))" }
            fields.append(("Actual", v))
        }
        if case .number(let n)? = a["occurrences"] { fields.append(("Occurrences", String(Int(n)))) }
        let id = job.alertID
        return JSONValue.object([
            ("text", .string(headline)),
            (
                "blocks",
                .array([
                    .object([
                        ("type", .string("header")),
                        ("text", .object([("type", .string("plain_text")), ("text", .string(headline))])),
                    ]),
                    .object([
                        ("type", .string("section")),
                        (
                            "fields",
                            .array(
                                fields.prefix(10).map { f in
                                    .object([
                                        ("type", .string("mrkdwn")),
                                        ("text", .string(clip("*\(f.0)*\n\(slackEscape(f.1))", 2000))),
                                    ])
                                })
                        ),
                    ]),
                    .object([
                        ("type", .string("section")),
                        (
                            "text",
                            .object([
                                ("type", .string("mrkdwn")), ("text", .string(clip(slackEscape(job.message), 3000))),
                            ])
                        ),
                    ]),
                    .object([
                        ("type", .string("context")),
                        (
                            "elements",
                            .array([
                                .object([
                                    ("type", .string("mrkdwn")),
                                    (
                                        "text",
                                        .string(
                                            clip(
                                                "Rule *\(slackEscape(job.ruleName))* · alert `\(id)` · psql: "
                                                    + "`UPDATE ad.alerts SET status = 'acknowledged' WHERE id = '\(id)';`",
                                                2000))
                                    ),
                                ])
                            ])
                        ),
                    ]),
                ])
            ),
        ]).render()
    }

    /// A PagerDuty Events API v2 event: trigger with a payload, or acknowledge/resolve by dedup_key.
    public static func pagerDuty(_ job: DeliveryJob, routingKey: String, now: Date) -> String {
        let action: String =
            switch job.event {
            case .trigger, .renotify, .escalate: "trigger"
            case .acknowledge: "acknowledge"
            case .resolve: "resolve"
            }
        var pairs: [(String, JSONValue)] = [
            ("routing_key", .string(routingKey)), ("event_action", .string(action)),
            ("dedup_key", .string(job.alertID)),
        ]
        if action == "trigger" {
            let sev: String =
                switch job.severity {
                case "critical": "critical"
                case "high": "error"
                case "medium": "warning"
                default: "info"
                }
            let a = job.alert
            pairs.append(
                (
                    "payload",
                    .object([
                        ("summary", .string(clip(job.title, 1024))), ("source", .string(job.sourceName)),
                        ("severity", .string(sev)),
                        ("timestamp", a["anomaly"]?["point_timestamp"] ?? .string(iso(now))),
                        ("component", .string(job.metric)), ("group", .string(job.ruleName)),
                        ("class", .string("anomaly")),
                        (
                            "custom_details",
                            .object([
                                ("message", .string(job.message)), ("alert_id", .string(job.alertID)),
                                ("occurrences", a["occurrences"] ?? .null), ("score", a["anomaly"]?["score"] ?? .null),
                                ("detector", a["anomaly"]?["detector"] ?? .null),
                                ("event", .string(job.event.rawValue)),
                            ])
                        ),
                    ])
                ))
            pairs.append(("client", .string("adworker")))
        }
        return JSONValue.object(pairs).render()
    }

    /// Prometheus Alertmanager API v2: one alert, firing until `endsAt`, or resolved (endsAt = now).
    public static func alertmanager(_ job: DeliveryJob, now: Date, endsAfter: Double) -> String {
        let a = job.alert
        let ends = job.event == .resolve ? now : now.addingTimeInterval(endsAfter)
        var labels: [(String, JSONValue)] = [
            ("alertname", .string(job.ruleName)), ("source", .string(job.sourceName)), ("metric", .string(job.metric)),
            ("severity", .string(job.severity)), ("alert_id", .string(job.alertID)),
        ]
        labels.sort { $0.0 < $1.0 }
        return JSONValue.array([
            .object([
                ("labels", .object(labels)),
                ("annotations", .object([("summary", .string(job.title)), ("description", .string(job.message))])),
                ("startsAt", a["created_at"] ?? .string(iso(now))),
                ("endsAt", .string(iso(ends))),
            ])
        ]).render()
    }

    /// The email's subject and bodies (plain text and HTML).
    public static func email(_ job: DeliveryJob) -> (subject: String, text: String, html: String) {
        let verb: String =
            switch job.event {
            case .trigger: ""
            case .renotify: "Still open: "
            case .escalate: "ESCALATED: "
            case .acknowledge: "Acknowledged: "
            case .resolve: "Resolved: "
            }
        let subject = verb + job.title
        let hint = "Acknowledge in psql:\n  UPDATE ad.alerts SET status = 'acknowledged' WHERE id = '\(job.alertID)';"
        let text = "\(subject)\n\n\(job.message)\n\nAlert \(job.alertID), rule \(job.ruleName).\n\n\(hint)\n"
        let html = """
            <html><body>
            <h2>\(htmlEscape(subject))</h2>
            <p>\(htmlEscape(job.message).replacingOccurrences(of: "\n", with: "<br>\n"))</p>
            <p>Alert <code>\(htmlEscape(job.alertID))</code>, rule <b>\(htmlEscape(job.ruleName))</b>.</p>
            <p>Acknowledge in psql:<br><code>UPDATE ad.alerts SET status = 'acknowledged' WHERE id = '\(htmlEscape(job.alertID))';</code></p>
            </body></html>
            """
        return (subject, text, html)
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    static func slackEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    static func htmlEscape(_ s: String) -> String {
        slackEscape(s).replacingOccurrences(of: "\"", with: "&quot;")
    }
}
