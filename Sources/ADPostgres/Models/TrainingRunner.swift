import ADCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Runs training jobs: claims one (`TrainingStore.claim`, SKIP LOCKED with a lease), reads its window, fits and
/// evaluates it off the async threads (`TrainingPipeline`), and registers the model, or records why it failed. While
/// it trains a second task reports progress and renews the lease, so only a stopped worker lets the lease lapse
/// (another worker then takes the job over: at-least-once, and a job that never finishes is failed after three
/// claims by `ad_internal.claim_training`).
public struct TrainingRunner: Sendable {
    public var worker: String
    public var lease: Double
    public var maxRows: Int
    public var logger: Logger
    /// Called once a model is registered, and once a job fails (the MLflow export); each returns what to record
    /// in `ad.ml_models.mlflow`.
    public var registered: @Sendable (TrainingJob, TrainingOutcome, _ sourceName: String) async -> JSONValue?
    public var failed: @Sendable (TrainingJob, _ reason: String, _ sourceName: String) async -> JSONValue?

    public init(
        worker: String, lease: Double, maxRows: Int, logger: Logger,
        registered: @escaping @Sendable (TrainingJob, TrainingOutcome, String) async -> JSONValue? = { _, _, _ in nil },
        failed: @escaping @Sendable (TrainingJob, String, String) async -> JSONValue? = { _, _, _ in nil }
    ) {
        self.worker = worker; self.lease = lease; self.maxRows = maxRows; self.logger = logger
        self.registered = registered; self.failed = failed
    }

    public enum Result: Sendable, Equatable {
        case registered(UUID, promoted: Bool)
        case failed(UUID, reason: String)
        /// Another worker took the job over (this one's lease lapsed); nothing was stored.
        case lost(UUID)
    }

    /// Runs one job if one is waiting; nil when none is.
    public func runOne(_ conn: PostgresConnection) async throws -> Result? {
        let store = TrainingStore(logger: logger)
        guard let job = try await store.claim(conn, worker: worker, lease: lease) else { return nil }
        logger.info("training \(job.ref.label) (\(job.ref.algorithm), attempt \(job.attempt))")
        let request: TrainingRequest
        do {
            request = try TrainingRequest.parse(algorithm: job.ref.algorithm, parameters: job.parameters)
        } catch {
            return try await fail(conn, store, job, error.field.map { "\($0): \(error.message)" } ?? error.message)
        }
        let heartbeat = Heartbeat()
        heartbeat.set("training", "reading the training window")
        guard
            try await store.progress(
                conn, job: job, worker: worker, status: "training", text: "reading the training window", lease: lease)
        else { return .lost(job.ref.id) }
        // Read, fit and evaluate while a second task reports progress and renews the lease. The arithmetic runs on
        // a thread of its own: minutes of it must not hold one of the few threads the async tasks share.
        let outcome: Swift.Result<TrainingOutcome, ModelError>
        do {
            outcome = try await withThrowingTaskGroup(of: Swift.Result<TrainingOutcome, ModelError>?.self) { group in
                group.addTask {
                    let (rows, threshold) = try await store.rows(
                        conn, source: job.source, from: request.trainFrom, to: request.trainTo, maxRows: maxRows)
                    let incumbent = try await store.incumbent(conn, source: job.source, excluding: job.ref.id)
                    heartbeat.set("training", "read \(rows.count) points of \(rows.metrics.count) metrics")
                    return await Self.offThread {
                        Swift.Result { () throws(ModelError) in
                            try TrainingPipeline.run(
                                request, rows: rows, threshold: threshold, incumbent: incumbent,
                                progress: { heartbeat.set($0, $1) })
                        }
                    }
                }
                group.addTask {
                    try await beat(conn, store, job, heartbeat)
                    return nil
                }
                while let next = try await group.next() {
                    if let result = next {
                        group.cancelAll()
                        return result
                    }
                    throw Lost()  // the heartbeat ended: the job is no longer ours
                }
                throw Lost()
            }
        } catch is Lost {
            logger.warning("training \(job.ref.label): another worker took the job over; dropping this run")
            return .lost(job.ref.id)
        } catch let problem as TrainingStore.DataProblem {
            return try await fail(conn, store, job, problem.description)
        }
        switch outcome {
        case .failure(let error):
            return try await fail(conn, store, job, error.field.map { "\($0): \(error.message)" } ?? error.message)
        case .success(let trained):
            let result = try await store.finish(conn, job: job, worker: worker, outcome: trained)
            guard result != "lost" else { return .lost(job.ref.id) }
            logger.info(
                "registered \(job.ref.label): \(trained.metrics["evaluation"]?.render() ?? "{}")\(result == "promoted" ? "; promoted (drift retraining)" : "")"
            )
            let sourceName = try await self.sourceName(conn, job.source)
            if let record = await registered(job, trained, sourceName) {
                try await store.recordMLflow(conn, model: job.ref.id, record: record)
            }
            return .registered(job.ref.id, promoted: result == "promoted")
        }
    }

    private func sourceName(_ conn: PostgresConnection, _ id: UUID) async throws -> String {
        for try await name in try await conn.query(
            "SELECT name FROM ad.data_sources WHERE id = \(id)", logger: logger
        ).decode(String.self) { return name }
        return id.uuidString.lowercased()
    }

    private struct Lost: Error {}

    private func fail(
        _ conn: PostgresConnection, _ store: TrainingStore, _ job: TrainingJob, _ reason: String
    )
        async throws -> Result
    {
        logger.error("training \(job.ref.label) failed: \(reason)")
        try await store.fail(conn, job: job, worker: worker, error: reason)
        if let record = await failed(job, reason, try await sourceName(conn, job.source)) {
            try await store.recordMLflow(conn, model: job.ref.id, record: record)
        }
        return .failed(job.ref.id, reason: reason)
    }

    /// What the training thread is doing, read by the heartbeat.
    final class Heartbeat: Sendable {
        private let state = Mutex<(status: String, text: String, changed: Bool)>(("training", "", false))
        func set(_ status: String, _ text: String) { state.withLock { $0 = (status, text, true) } }
        func take() -> (status: String, text: String, changed: Bool) {
            state.withLock { s in
                let out = s
                s.changed = false
                return out
            }
        }
    }

    /// Reports progress when it changes (at most every second) and renews the lease every third of it; returns
    /// when the job is no longer this worker's.
    private func beat(
        _ conn: PostgresConnection, _ store: TrainingStore, _ job: TrainingJob, _ h: Heartbeat
    )
        async throws
    {
        var sinceRenewal = 0.0
        while true {
            try await Task.sleep(for: .seconds(1))
            sinceRenewal += 1
            let now = h.take()
            guard now.changed || sinceRenewal >= lease / 3 else { continue }
            sinceRenewal = 0
            guard
                try await store.progress(
                    conn, job: job, worker: worker, status: now.status, text: now.text, lease: lease)
            else { return }
        }
    }

    /// Runs `work` on a new thread and resumes with its result.
    static func offThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }
}
