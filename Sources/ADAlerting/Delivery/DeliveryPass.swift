import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The delivery loop over the outbox: escalate what waited too long, queue re-notifications, claim due deliveries
/// under a lease, send them, and record every attempt. Sends run side by side and the loop never waits for all of
/// them: each send has its own total deadline, each is recorded as soon as it ends, and a free slot is filled by the
/// next claim at once. A channel has at most `deliveryPerChannel` sends in flight, so a receiver that stalls holds
/// only its own slots: every other channel's deliveries, escalations and re-notifications go on. Each step is its
/// own short statement: nothing is held open while a channel is slow. If the worker dies between sending and
/// recording, the lease (always longer than the longest send) runs out and the delivery is sent again with the same
/// idempotency key (at-least-once).
public struct DeliveryPass: Sendable {
    public var settings: WorkerSettings
    public var sender: ChannelSender
    public var logger: Logger
    /// The random source for retry jitter (tests pin it).
    public var random: @Sendable () -> Double = { Double.random(in: 0...1) }

    public init(settings: WorkerSettings, sender: ChannelSender, logger: Logger) {
        self.settings = settings; self.sender = sender; self.logger = logger
    }

    /// A send that ended, waiting to be recorded.
    struct Finished: Sendable {
        var job: DeliveryJob, started: Date, finished: Date, result: SendResult
    }

    /// Runs until `stop()` says so, then lets the sends in flight end (each within its deadline) and records them.
    /// `wake` is signalled by notifications and by every send that ends; `wait(seconds)` waits for it (the caller
    /// ends the wait early on shutdown).
    public func run(
        _ connection: PostgresConnection, wake: WakeSignal, stop: @escaping @Sendable () -> Bool,
        wait: @escaping @Sendable (Double) async -> Void
    ) async throws {
        let queue = DeliveryQueue(logger: logger)
        let done = Locked<[Finished]>([])
        var inFlight: [String: Int] = [:]  // channel name -> sends in flight
        var total = 0
        var lastHousekeeping = ContinuousClock.now - .seconds(3600)
        let sender = sender

        func recordFinished() async throws {
            let finished = done.withLock { d in
                let f = d
                d = []
                return f
            }
            guard !finished.isEmpty else { return }
            for f in finished {
                inFlight[f.job.channel.name, default: 1] -= 1
                if inFlight[f.job.channel.name] == 0 { inFlight[f.job.channel.name] = nil }
                total -= 1
            }
            let attempts = finished.map(attempt)
            try await queue.record(connection, attempts)
            for (f, a) in zip(finished, attempts) { Self.count(f, outcome: a.outcome) }
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            while !stop() {
                try await recordFinished()
                if ContinuousClock.now - lastHousekeeping >= .seconds(settings.deliveryPoll) {
                    lastHousekeeping = .now
                    let escalated = try await queue.escalateDue(connection)
                    _ = try await queue.renotifyDue(connection)
                    if escalated > 0 { logger.info("escalated \(escalated) alert(s)") }
                }
                let free = settings.deliveryConcurrency - total
                var full = false
                if free > 0 {
                    let busy = inFlight.filter { $0.value >= settings.deliveryPerChannel }.map(\.key)
                    let policy = try await outboundPolicy(queue, connection)
                    let claimed = try await queue.claim(
                        connection, limit: free, lease: settings.deliveryLease, busyChannels: busy,
                        perChannel: settings.deliveryPerChannel)
                    full = claimed.count == free
                    var unreadable: [DeliveryQueue.Attempt] = []
                    for c in claimed {
                        guard let parsed = readable(c, into: &unreadable) else { continue }
                        let job = try await complete(parsed, queue, connection)
                        inFlight[job.channel.name, default: 0] += 1
                        total += 1
                        group.addTask {
                            let started = Date()
                            let result = await sender.send(job, policy: policy)
                            done.withLock {
                                $0.append(Finished(job: job, started: started, finished: Date(), result: result))
                            }
                            wake.signal()
                        }
                    }
                    try await queue.record(connection, unreadable)
                }
                if full { continue }  // more may be due at once
                await wait(jittered(settings.deliveryPoll, random: random()))
            }
            // Shutting down: no new claims; the sends in flight end within their deadlines and are recorded.
            while total > 0 {
                _ = await wake.wait(timeout: .seconds(1))
                try await recordFinished()
            }
            try await group.waitForAll()
        }
    }

    /// Counts a recorded attempt (`ad_alert_deliveries_total`) and, for a trigger sent, how long after its alert was
    /// created it went out (`ad_alert_delivery_latency_seconds`).
    static func count(_ f: Finished, outcome: String) {
        var latency: Double?
        if outcome == "sent", f.job.event == .trigger, case .string(let created)? = f.job.alert["created_at"],
            let at = RuleConditions.parseTimestamp(created)
        {
            latency = f.finished.timeIntervalSince(at)
        }
        WorkerMetrics.delivery(channelType: f.job.channel.type, outcome: outcome, latency: latency)
    }

    /// The owner's allowlist as a policy; a row that cannot be read is logged and allows nothing.
    func outboundPolicy(_ queue: DeliveryQueue, _ connection: PostgresConnection) async throws -> OutboundPolicy {
        let (policy, problems) = OutboundPolicy.fromAllowlist(try await queue.allowlist(connection))
        for p in problems { logger.error("ad_internal.outbound_allowlist: \(p) is not a network; it allows nothing") }
        return policy
    }

    /// The job of a claimed delivery, or nil (and an attempt that fails it, saying why, in `unreadable`).
    func readable(_ c: DeliveryQueue.Claimed, into unreadable: inout [DeliveryQueue.Attempt]) -> DeliveryJob? {
        // Our own SQL wrote these texts, so they always parse; if one ever does not, the delivery fails, saying
        // why, rather than go out as an empty alert or as the wrong kind of event.
        guard let job = Self.job(c) else {
            let now = Date()
            let why = "the claimed delivery cannot be read (event \(c.kind)); it is not sent"
            logger.error("delivery \(c.deliveryID) to \(c.channelName): \(why)")
            unreadable.append(
                .init(
                    deliveryID: c.deliveryID, attempt: c.attempt, started: now, finished: now, outcome: "failed",
                    error: why))
            return nil
        }
        return job
    }

    /// The job as it is sent: when the claim returned its alert without the anomaly (`DeliveryJob.lostItsAnomaly`),
    /// with the anomaly read again by its key (a warning says whether it was found); and a warning when its
    /// explanation cannot be read (it is sent without the details).
    func complete(
        _ parsed: DeliveryJob, _ queue: DeliveryQueue, _ connection: PostgresConnection
    ) async throws -> DeliveryJob {
        var job = parsed
        if job.lostItsAnomaly, let id = UUID(uuidString: job.alertID) {
            if let anomaly = try await queue.anomaly(connection, alertID: id) {
                logger.warning(
                    "alert \(job.alertID): the delivery claim returned no anomaly; read again by its key, it was there")
                job = job.with(anomaly: anomaly)
            } else {
                logger.warning("alert \(job.alertID): the delivery claim returned no anomaly, nor did reading it again")
            }
        }
        if let problem = job.explanationProblem {
            logger.warning(
                "alert \(job.alertID): its anomaly's explanation cannot be read, so it is sent without its details: \(problem)"
            )
        }
        return job
    }

    /// The attempt to record for a send that ended: sent, retry (with backoff and jitter) or failed (out of
    /// attempts, or a failure retrying cannot help).
    func attempt(_ f: Finished) -> DeliveryQueue.Attempt {
        let job = f.job, result = f.result
        var outcome = "sent"
        var retryAt: Date? = nil
        if !result.ok {
            let decision: RetryPolicy.Decision =
                result.final
                ? .giveUp : settings.deliveryRetry.decide(afterAttempt: job.attempt, now: f.finished, random: random())
            switch decision {
            case .retry(let at):
                outcome = "retry"; retryAt = at
                logger.warning(
                    "delivery to \(job.channel.name) (\(job.event.rawValue), alert \(job.alertID)) failed, attempt \(job.attempt): \(result.error ?? "?"); retrying at \(at)"
                )
            case .giveUp:
                outcome = "failed"
                logger.error(
                    "delivery to \(job.channel.name) (\(job.event.rawValue), alert \(job.alertID)) gave up after \(job.attempt) attempt(s): \(result.error ?? "?")"
                )
            }
        }
        return .init(
            deliveryID: job.deliveryID, attempt: job.attempt, started: f.started, finished: f.finished,
            outcome: outcome, httpStatus: result.httpStatus, smtpReply: result.smtpReply, error: result.error,
            retryAt: retryAt)
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
            case .object(let pairs)? = object(c.headersText),
            case .object(let secretPairs)? = object(c.secretHeadersText)
        else { return nil }
        var headers: [(String, String)] = [], secretHeaders: [(String, String)] = []
        for (k, v) in pairs { if case .string(let s) = v { headers.append((k, s)) } }
        for (k, v) in secretPairs { if case .string(let s) = v { secretHeaders.append((k, s)) } }
        return DeliveryJob(
            deliveryID: c.deliveryID, event: event, attempt: c.attempt, alert: alert,
            channel: .init(
                name: c.channelName, type: c.channelType, target: c.target, headers: headers,
                config: config, secret: c.secret, secretHeaders: secretHeaders))
    }
}
