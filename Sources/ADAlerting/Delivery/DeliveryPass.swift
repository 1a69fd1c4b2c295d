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

    static let claimQuery = """
        SELECT delivery_id, kind, attempt, alert::text, channel_name, channel_type, target, headers::text, config::text, secret
          FROM ad_internal.claim_deliveries($1::int, make_interval(secs => $2::float8))
        """
    /// Records a pass's outcomes in one round trip, in claim order.
    static let recordQuery = """
        SELECT ad_internal.record_delivery(u.id, u.attempt, u.started, u.finished, u.outcome, nullif(u.http_status, 0),
                                          nullif(u.smtp_reply, ''), nullif(u.error, ''),
                                          CASE WHEN u.retry_s > 0 THEN to_timestamp(u.retry_s) END)
          FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::int[], $7::text[],
                      $8::text[], $9::float8[]) WITH ORDINALITY
               AS u(id, attempt, started, finished, outcome, http_status, smtp_reply, error, retry_s, n)
         ORDER BY u.n
        """

    /// Runs one pass; `pass.claimed == settings.deliveryConcurrency` means more may be due at once.
    /// `housekeeping` (escalation and re-notification) is for the caller to run about once per poll interval,
    /// not on every pass of a backlog.
    public func pass(_ connection: PostgresConnection, housekeeping: Bool = true) async throws -> Pass {
        var pass = Pass()
        if housekeeping {
            pass.escalated = try await scalar(connection, "SELECT ad_internal.escalate_due()")
            pass.renotified = try await scalar(connection, "SELECT ad_internal.renotify_due()")
            if pass.escalated > 0 { logger.info("escalated \(pass.escalated) alert(s)") }
        }

        var claim = PostgresQuery(unsafeSQL: Self.claimQuery)
        claim.binds.append(settings.deliveryConcurrency)
        claim.binds.append(settings.deliveryLease)
        var jobs: [DeliveryJob] = []
        let rows = try await connection.query(claim, logger: logger)
            .decode((UUID, String, Int, String, String, String, String, String, String, String?).self)
        for try await (id, kind, attempt, alertText, name, type, target, headersText, configText, secret) in rows {
            let alert = (try? JSONDecoder().decode(JSONValue.self, from: Data(alertText.utf8))) ?? .object([])
            let config = (try? JSONDecoder().decode(JSONValue.self, from: Data(configText.utf8))) ?? .object([])
            var headers: [(String, String)] = []
            if case .object(let pairs)? = try? JSONDecoder().decode(JSONValue.self, from: Data(headersText.utf8)) {
                for (k, v) in pairs { if case .string(let s) = v { headers.append((k, s)) } }
            }
            let job = DeliveryJob(deliveryID: id, event: DeliveryJob.Event(rawValue: kind) ?? .trigger, attempt: attempt,
                                  alert: alert, channel: .init(name: name, type: type, target: target, headers: headers,
                                                               config: config, secret: secret))
            if let problem = job.explanationProblem {
                logger.warning("alert \(job.alertID): its anomaly's explanation cannot be read, so it is sent without its details: \(problem)")
            }
            jobs.append(job)
        }
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
        var ids: [UUID] = [], attempts: [Int] = [], starts: [Date] = [], ends: [Date] = [], kinds: [String] = []
        // postgres-nio binds no arrays of optionals: 0, "" and 0 stand for NULL (nullif in the query).
        var statuses: [Int] = [], replies: [String] = [], errors: [String] = [], retries: [Double] = []
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
                    logger.warning("delivery to \(job.channel.name) (\(job.event.rawValue), alert \(job.alertID)) failed, attempt \(job.attempt): \(result.error ?? "?"); retrying at \(at)")
                case .giveUp:
                    outcome = "failed"; pass.failed += 1
                    logger.error("delivery to \(job.channel.name) (\(job.event.rawValue), alert \(job.alertID)) gave up after \(job.attempt) attempts: \(result.error ?? "?")")
                }
            }
            ids.append(job.deliveryID); attempts.append(job.attempt); starts.append(started); ends.append(finished)
            kinds.append(outcome); statuses.append(result.httpStatus ?? 0); replies.append(result.smtpReply ?? "")
            errors.append(result.error.map { String($0.prefix(2000)) } ?? ""); retries.append(retryAt?.timeIntervalSince1970 ?? 0)
        }
        var record = PostgresQuery(unsafeSQL: Self.recordQuery)
        record.binds.append(ids); record.binds.append(attempts); record.binds.append(starts); record.binds.append(ends)
        record.binds.append(kinds); record.binds.append(statuses); record.binds.append(replies); record.binds.append(errors)
        record.binds.append(retries)
        try await connection.query(record, logger: logger)
        return pass
    }

    private func scalar(_ connection: PostgresConnection, _ sql: String) async throws -> Int {
        for try await n in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) {
            return n
        }
        return 0
    }
}
