import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO

/// One pass of the delivery loop over the outbox: escalate what waited too long, queue re-notifications, then
/// claim due deliveries under a lease, send them concurrently, and record every attempt. Each step is its own
/// short transaction: nothing is held open while a channel is slow. If the worker dies between sending and
/// recording, the lease runs out and the delivery is sent again with the same idempotency key (at-least-once).
public struct DeliveryPass: Sendable {
    public var settings: WorkerSettings
    public var sender: ChannelSender
    public var logger: Logger
    /// The random source for retry jitter (tests pin it).
    public var random: @Sendable () -> Double = { Double.random(in: 0...1) }

    public init(settings: WorkerSettings, sender: ChannelSender, logger: Logger) {
        self.settings = settings; self.sender = sender; self.logger = logger
    }

    public struct Pass: Sendable, Equatable {
        public var escalated = 0, renotified = 0, claimed = 0, sent = 0, retried = 0, failed = 0
        public init() {}
    }

    /// Runs one pass; `pass.claimed == settings.deliveryConcurrency` means more may be due at once.
    /// `housekeeping` (escalation and re-notification) is for the caller to run about once per poll interval,
    /// not on every pass of a backlog.
    public func pass(_ connection: PostgresConnection, housekeeping: Bool = true) async throws -> Pass {
        var pass = Pass()
        let queue = DeliveryQueue(logger: logger)
        if housekeeping {
            pass.escalated = try await queue.escalateDue(connection)
            pass.renotified = try await queue.renotifyDue(connection)
            if pass.escalated > 0 { logger.info("escalated \(pass.escalated) alert(s)") }
        }

        var jobs: [DeliveryJob] = []
        var unreadable: [DeliveryQueue.Attempt] = []
        for c in try await queue.claim(connection, limit: settings.deliveryConcurrency, lease: settings.deliveryLease) {
            // Our own SQL wrote these texts, so they always parse; if one ever does not, the delivery fails, saying
            // why, rather than go out as an empty alert or as the wrong kind of event.
            guard let job = Self.job(c) else {
                let now = Date()
                let why = "the claimed delivery cannot be read (event \(c.kind)); it is not sent"
                logger.error("delivery \(c.deliveryID) to \(c.channelName): \(why)")
                unreadable.append(
                    .init(
                        deliveryID: c.deliveryID, attempt: c.attempt, started: now, finished: now,
                        outcome: "failed", error: why))
                pass.failed += 1
                continue
            }
            if let problem = job.explanationProblem {
                logger.warning(
                    "alert \(job.alertID): its anomaly's explanation cannot be read, so it is sent without its details: \(problem)"
                )
            }
            jobs.append(job)
        }
        try await queue.record(connection, unreadable)
        pass.claimed = jobs.count
        guard !jobs.isEmpty else { return pass }

        let sender = sender
        let outcomes = await withTaskGroup(of: (Int, Date, Date, SendResult).self) { group in
            for (i, job) in jobs.enumerated() {
                group.addTask {
                    let started = Date()
                    let result = await sender.send(job)
                    return (i, started, Date(), result)
                }
            }
            var out: [(Int, Date, Date, SendResult)] = []
            for await r in group { out.append(r) }
            return out
        }
        var attempts: [DeliveryQueue.Attempt] = []
        for (i, started, finished, result) in outcomes.sorted(by: { $0.0 < $1.0 }) {
            let job = jobs[i]
            let outcome: String
            var retryAt: Date? = nil
            if result.ok {
                outcome = "sent"; pass.sent += 1
            } else {
                switch settings.deliveryRetry.decide(afterAttempt: job.attempt, now: finished, random: random()) {
                case .retry(let at):
                    outcome = "retry"; retryAt = at; pass.retried += 1
                    logger.warning(
                        "delivery to \(job.channel.name) (\(job.event.rawValue), alert \(job.alertID)) failed, attempt \(job.attempt): \(result.error ?? "?"); retrying at \(at)"
                    )
                case .giveUp:
                    outcome = "failed"; pass.failed += 1
                    logger.error(
                        "delivery to \(job.channel.name) (\(job.event.rawValue), alert \(job.alertID)) gave up after \(job.attempt) attempts: \(result.error ?? "?")"
                    )
                }
            }
            attempts.append(
                .init(
                    deliveryID: job.deliveryID, attempt: job.attempt, started: started, finished: finished,
                    outcome: outcome, httpStatus: result.httpStatus, smtpReply: result.smtpReply,
                    error: result.error, retryAt: retryAt))
        }
        try await queue.record(connection, attempts)
        return pass
    }

    /// A claimed delivery as a job; nil when its alert, channel config or headers are not JSON objects, or its event
    /// is unknown.
    static func job(_ c: DeliveryQueue.Claimed) -> DeliveryJob? {
        func object(_ text: String) -> JSONValue? {
            guard let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), case .object = v else {
                return nil
            }
            return v
        }
        guard let event = DeliveryJob.Event(rawValue: c.kind), let alert = object(c.alertText),
            let config = object(c.configText),
            case .object(let pairs)? = object(c.headersText)
        else { return nil }
        var headers: [(String, String)] = []
        for (k, v) in pairs { if case .string(let s) = v { headers.append((k, s)) } }
        return DeliveryJob(
            deliveryID: c.deliveryID, event: event, attempt: c.attempt, alert: alert,
            channel: .init(
                name: c.channelName, type: c.channelType, target: c.target, headers: headers,
                config: config, secret: c.secret))
    }
}
