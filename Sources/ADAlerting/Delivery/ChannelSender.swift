import ADCore
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Sends one delivery to its channel and says how it went. Never throws: every failure is a `SendResult`, so the
/// delivery loop always has something to record.
///
/// Every send is bounded in all: `deadline(job)` seconds cover resolving the name, the outbound policy's check,
/// connecting, the request, the answer's head and body (at most `DeliveryLimits.responseBytes` of it is read, and
/// none of it recorded), or the whole SMTP conversation. Redirects are never followed.
public struct ChannelSender: Sendable {
    public let clients: PinnedHTTPClients
    public let logger: Logger
    /// Sends email; replaceable in tests of the loop.
    public let email: @Sendable (DeliveryJob, OutboundPolicy) async -> SendResult
    /// The clock (tests inject one).
    public let now: @Sendable () -> Date
    /// The longest a send may take (`AD_DELIVERY_MAX_SEND`); a channel's `timeout_seconds` is cut to it.
    public let maxSend: Double

    public init(
        clients: PinnedHTTPClients, logger: Logger, maxSend: Double = DeliveryLimits.maxChannelTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        email: (@Sendable (DeliveryJob, OutboundPolicy) async -> SendResult)? = nil
    ) {
        self.clients = clients
        self.logger = logger
        self.now = now
        self.maxSend = maxSend
        self.email =
            email ?? { job, policy in await EmailChannel.send(job, policy: policy, logger: logger, now: now()) }
    }

    /// The channel's total deadline: its `timeout_seconds` (default 10 s for HTTP, 60 s for email), at most
    /// `maxSend`.
    public func deadline(_ job: DeliveryJob) -> Double {
        var t = job.channel.type == "email" ? DeliveryLimits.defaultEmailTimeout : DeliveryLimits.defaultHTTPTimeout
        if case .number(let s)? = job.channel.config["timeout_seconds"], s > 0 { t = s }
        return min(t, maxSend)
    }

    public func send(_ job: DeliveryJob, policy: OutboundPolicy) async -> SendResult {
        let seconds = deadline(job)
        let this = self
        return await withDeadline(seconds: seconds) {
            await this.sendNow(job, policy: policy, seconds: seconds)
        } onTimeout: {
            .failed("timed out after \(AlertText.format(seconds)) s (the whole send: connect, request and answer)")
        }
    }

    func sendNow(_ job: DeliveryJob, policy: OutboundPolicy, seconds: Double) async -> SendResult {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let json = [("Content-Type", "application/json")]
        let extra = job.channel.headers + job.channel.secretHeaders
        switch job.channel.type {
        case "webhook":
            let at = now()  // one instant for sent_at and the signed X-AD-Timestamp
            let body = Payloads.webhook(job, sentAt: at)
            var headers = Payloads.webhookHeaders(job, body: body, now: at)
            headers.insert(contentsOf: job.channel.secretHeaders, at: job.channel.headers.count)
            return await post(
                job.channel.target, body: body, headers: headers, policy: policy, seconds: seconds, deadline: deadline)
        case "slack":
            // A Slack incoming-webhook URL is a secret: kept in the secret store, it replaces the target.
            let url = job.channel.secret.flatMap { $0.isEmpty ? nil : $0 } ?? job.channel.target
            return await post(
                url, body: Payloads.slack(job), headers: extra + json, policy: policy, seconds: seconds,
                deadline: deadline)
        case "pagerduty":
            guard let key = job.channel.secret, !key.isEmpty else {
                return .failed(
                    "channel \"\(job.channel.name)\" has no routing key: SELECT ad.set_channel_secret('\(job.channel.name)', '<integration key>')"
                )
            }
            return await post(
                job.channel.target, body: Payloads.pagerDuty(job, routingKey: key, now: now()),
                headers: extra + json, policy: policy, seconds: seconds, deadline: deadline)
        case "alertmanager":
            var ends = 86_400.0
            if case .number(let s)? = job.channel.config["ends_after_seconds"] { ends = s }
            let url =
                job.channel.target.hasSuffix("/")
                ? job.channel.target + "api/v2/alerts" : job.channel.target + "/api/v2/alerts"
            return await post(
                url, body: Payloads.alertmanager(job, now: now(), endsAfter: ends), headers: extra + json,
                policy: policy, seconds: seconds, deadline: deadline)
        case "email":
            return await email(job, policy)
        default:
            return .failed("unknown channel type \"\(job.channel.type)\"")
        }
    }

    /// POSTs `body` to the checked address of `url`'s host; 2xx is sent, anything else failed with the status and
    /// its standard reason phrase (never the receiver's words: its phrase and body are not recorded).
    func post(
        _ url: String, body: String, headers: [(String, String)], policy: OutboundPolicy, seconds: Double,
        deadline: ContinuousClock.Instant
    ) async -> SendResult {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let rawHost = parsed.host, !rawHost.isEmpty
        else {
            return .failed("the channel's URL cannot be used (not an http or https URL)", final: true)
        }
        let host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        let address: IPAddress
        switch await OutboundResolver.pick(host, policy: policy) {
        case .success(let a): address = a
        case .failure(let f): return .failed(f.reason, final: f.final)
        }
        let http = await clients.client(host: host, address: address)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (k, v) in headers { request.headers.replaceOrAdd(name: k, value: v) }
        request.headers.replaceOrAdd(name: "User-Agent", value: "adworker")
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .milliseconds(Int64(seconds * 1000)))
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            return .failed("timed out after \(AlertText.format(seconds)) s (\(error))")
        } catch {
            return .failed(Self.sanitise("\(error)"))
        }
        let status = Int(response.status.code)
        // The head decides the outcome. Read a little of the body (so the connection can serve the next request),
        // at most `responseBytes` and for at most `drainSeconds` (and within the send's deadline); never recorded.
        // A receiver that stalls after its head costs that much, not the send.
        let budget = min(DeliveryLimits.drainSeconds, max(0, (deadline - .now) / .seconds(1) - 0.25))
        if budget > 0 {
            await withDeadline(seconds: budget) {
                var read = 0
                do {
                    for try await chunk in response.body {
                        read += chunk.readableBytes
                        if read >= DeliveryLimits.responseBytes { break }
                    }
                } catch {}
            } onTimeout: {
            }
        }
        if (200..<300).contains(status) { return .sent(httpStatus: status) }
        let phrase = HTTPResponseStatus(statusCode: status).reasonPhrase
        let why =
            (300..<400).contains(status)
            ? ": a redirect, not followed (point the channel at the final URL)" : ""
        return .failed(
            "HTTP \(status)\(Self.sanitise(phrase).isEmpty ? "" : " " + Self.sanitise(phrase))\(why)",
            httpStatus: status)
    }

    /// At most 200 printable characters, no line breaks or control characters.
    static func sanitise(_ text: String) -> String {
        let cleaned = text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) }
        return String(String(cleaned).prefix(200)).trimmingCharacters(in: .whitespaces)
    }
}
