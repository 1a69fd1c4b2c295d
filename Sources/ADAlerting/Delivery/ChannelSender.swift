import ADCore
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Sends one delivery to its channel and says how it went. Never throws: every failure is a `SendResult`, so the
/// delivery loop always has something to record.
public struct ChannelSender: Sendable {
    public let http: HTTPClient
    public let logger: Logger
    /// Sends email; replaceable in tests of the loop.
    public let email: @Sendable (DeliveryJob) async -> SendResult
    /// The clock (tests inject one).
    public let now: @Sendable () -> Date

    public init(
        http: HTTPClient, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
        email: (@Sendable (DeliveryJob) async -> SendResult)? = nil
    ) {
        self.http = http
        self.logger = logger
        self.now = now
        self.email = email ?? { job in await EmailChannel.send(job, logger: logger, now: now()) }
    }

    public func send(_ job: DeliveryJob) async -> SendResult {
        let timeout = Self.timeout(job.channel.config)
        switch job.channel.type {
        case "webhook":
            let at = now()  // one instant for sent_at and the signed X-AD-Timestamp
            let body = Payloads.webhook(job, sentAt: at)
            return await post(
                job.channel.target, body: body, headers: Payloads.webhookHeaders(job, body: body, now: at),
                timeout: timeout)
        case "slack":
            return await post(
                job.channel.target, body: Payloads.slack(job),
                headers: job.channel.headers + [("Content-Type", "application/json")], timeout: timeout)
        case "pagerduty":
            guard let key = job.channel.secret, !key.isEmpty else {
                return .failed(
                    "channel \"\(job.channel.name)\" has no routing key: SELECT ad.set_channel_secret('\(job.channel.name)', '<integration key>')"
                )
            }
            return await post(
                job.channel.target, body: Payloads.pagerDuty(job, routingKey: key, now: now()),
                headers: job.channel.headers + [("Content-Type", "application/json")], timeout: timeout)
        case "alertmanager":
            var ends = 86_400.0
            if case .number(let s)? = job.channel.config["ends_after_seconds"] { ends = s }
            let url =
                job.channel.target.hasSuffix("/")
                ? job.channel.target + "api/v2/alerts" : job.channel.target + "/api/v2/alerts"
            return await post(
                url, body: Payloads.alertmanager(job, now: now(), endsAfter: ends),
                headers: job.channel.headers + [("Content-Type", "application/json")], timeout: timeout)
        case "email":
            return await email(job)
        default:
            return .failed("unknown channel type \"\(job.channel.type)\"")
        }
    }

    static func timeout(_ config: JSONValue) -> Double {
        if case .number(let s)? = config["timeout_seconds"], s > 0 { return s }
        return 10
    }

    /// POSTs `body`; 2xx is sent, anything else failed with the status and the start of the response body.
    func post(_ url: String, body: String, headers: [(String, String)], timeout: Double) async -> SendResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (k, v) in headers { request.headers.replaceOrAdd(name: k, value: v) }
        request.headers.replaceOrAdd(name: "User-Agent", value: "adworker")
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await http.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let status = Int(response.status.code)
            let text = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            if (200..<300).contains(status) { return .sent(httpStatus: status) }
            let snippet = text.prefix(500).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failed(
                "HTTP \(status) \(response.status.reasonPhrase)" + (snippet.isEmpty ? "" : ": \(snippet)"),
                httpStatus: status)
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            return .failed("timed out after \(AlertText.format(timeout)) s (\(error))")
        } catch {
            return .failed("\(error)")
        }
    }
}
