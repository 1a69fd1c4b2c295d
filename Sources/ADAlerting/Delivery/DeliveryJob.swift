import ADCore
import Foundation

/// One claimed delivery: what to send (an alert event) and where (a channel), as `ad_internal.claim_deliveries()`
/// returns it.
public struct DeliveryJob: Sendable {
    /// The kind of message: trigger, renotify, escalate, acknowledge or resolve.
    public enum Event: String, Sendable, CaseIterable {
        case trigger, renotify, escalate, acknowledge, resolve
    }

    public struct Channel: Sendable {
        public var name: String
        public var type: String
        public var target: String
        public var headers: [(String, String)]
        public var config: JSONValue
        /// HMAC key, routing key, Slack webhook URL or SMTP password; never logged.
        public var secret: String?
        /// Headers kept in the secret store (Authorization, API keys); never logged.
        public var secretHeaders: [(String, String)]

        public init(
            name: String, type: String, target: String, headers: [(String, String)] = [],
            config: JSONValue = .object([]),
            secret: String? = nil, secretHeaders: [(String, String)] = []
        ) {
            self.name = name; self.type = type; self.target = target; self.headers = headers; self.config = config
            self.secret = secret; self.secretHeaders = secretHeaders
        }
    }

    public var deliveryID: UUID
    public var event: Event
    /// Attempt number, from 1 (counted when claimed).
    public var attempt: Int
    /// The alert, its rule, source and opening anomaly (see `claim_deliveries`).
    public var alert: JSONValue
    public var channel: Channel

    /// The opening anomaly's explanation, decoded from `alert`; nil when the alert has none (its anomaly was
    /// deleted) or when it cannot be read, and then `explanationProblem` says why (the delivery loop logs it, and
    /// the channels send the alert without the explanation's details).
    public let explanation: Explanation?
    public let explanationProblem: String?

    public init(deliveryID: UUID, event: Event, attempt: Int, alert: JSONValue, channel: Channel) {
        self.deliveryID = deliveryID; self.event = event; self.attempt = attempt; self.alert = alert;
        self.channel = channel
        switch alert["anomaly"]?["explanation"] {
        case nil, .null?:
            (explanation, explanationProblem) = (nil, nil)
        case let json?:
            do { (explanation, explanationProblem) = (try Explanation(json: json), nil) } catch {
                (explanation, explanationProblem) = (nil, "\(error)")
            }
        }
    }

    /// Whether the alert document came without its anomaly. An alert always has one (a NOT NULL foreign key, ON
    /// DELETE CASCADE), yet once, under TimescaleDB on a loaded machine, the claim's join returned none and a
    /// webhook went out with its anomaly all null; `DeliveryPass` then reads it again (`with(anomaly:)`).
    public var lostItsAnomaly: Bool { alert["anomaly"]?["id"] == .null }

    /// This job with `anomaly` as its alert's anomaly (and the explanation read from it).
    public func with(anomaly: JSONValue) -> DeliveryJob {
        guard case .object(var pairs) = alert else { return self }
        pairs.removeAll { $0.0 == "anomaly" }
        pairs.append(("anomaly", anomaly))
        return DeliveryJob(
            deliveryID: deliveryID, event: event, attempt: attempt, alert: .object(pairs), channel: channel)
    }

    // Convenience reads of the alert document.
    public var alertID: String { string(alert["id"]) ?? "" }
    public var title: String { string(alert["title"]) ?? "" }
    public var message: String { string(alert["message"]) ?? "" }
    public var severity: String { string(alert["severity"]) ?? "low" }
    public var metric: String { string(alert["metric"]) ?? "" }
    public var sourceName: String { string(alert["source"]?["name"]) ?? "" }
    public var ruleName: String { string(alert["rule"]?["name"]) ?? "" }

    func string(_ v: JSONValue?) -> String? {
        if case .string(let s)? = v { return s }
        return nil
    }
}

/// How one attempt ended, as recorded in ad.delivery_attempts.
public struct SendResult: Sendable, Equatable {
    public var ok: Bool
    public var httpStatus: Int?
    public var smtpReply: String?
    public var error: String?
    /// A failure that retrying cannot help (the outbound policy refused the destination): recorded as failed at
    /// once.
    public var final: Bool = false

    public static func sent(httpStatus: Int? = nil, smtpReply: String? = nil) -> SendResult {
        SendResult(ok: true, httpStatus: httpStatus, smtpReply: smtpReply, error: nil)
    }

    public static func failed(
        _ error: String, httpStatus: Int? = nil, smtpReply: String? = nil, final: Bool = false
    ) -> SendResult {
        SendResult(ok: false, httpStatus: httpStatus, smtpReply: smtpReply, error: error, final: final)
    }
}
