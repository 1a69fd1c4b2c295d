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
    /// The lease taken while the window is read (a single statement, up to the session's statement timeout).
    public var readLease: Double
    public var maxRows: Int
    /// The most values (points × metrics) one job holds in memory.
    public var maxValues: Int
    public var logger: Logger
    /// Called once a model is registered, and once a job fails (the MLflow export); each returns what to record
    /// in `ad.ml_models.mlflow`.
    public var registered: @Sendable (TrainingJob, TrainingOutcome, _ sourceName: String) async -> JSONValue?
    public var failed: @Sendable (TrainingJob, _ reason: String, _ sourceName: String) async -> JSONValue?

    public init(
        worker: String, lease: Double, readLease: Double? = nil, maxRows: Int, maxValues: Int = 20_000_000,
        logger: Logger,
        registered: @escaping @Sendable (TrainingJob, TrainingOutcome, String) async -> JSONValue? = { _, _, _ in nil },
        failed: @escaping @Sendable (TrainingJob, String, String) async -> JSONValue? = { _, _, _ in nil }
    ) {
        self.worker = worker; self.lease = lease; self.readLease = readLease ?? lease; self.maxRows = maxRows
        self.maxValues = maxValues; self.logger = logger
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
        // The read is one long statement on this connection, during which nothing else can renew the lease: the
        // lease is first stretched to cover the longest read (`readLease`).
        guard
            try await store.progress(
                conn, job: job, worker: worker, status: "training", text: "reading the training window",
                lease: max(lease, readLease))
        else { return .lost(job.ref.id) }
        let rows: TrainingRows, threshold: Double, incumbent: TrainingPipeline.Incumbent?
        do {
            (rows, threshold) = try await store.rows(
                conn, source: job.source, from: request.trainFrom, to: request.trainTo, maxRows: maxRows,
                maxValues: maxValues)
            incumbent = try await store.incumbent(conn, source: job.source, excluding: job.ref.id)
        } catch let problem as TrainingStore.DataProblem {
            return try await fail(conn, store, job, problem.description)
        }
        // Fit and evaluate on a thread of its own (minutes of arithmetic must not hold one of the few threads the
        // async tasks share) while this task reports progress and renews the lease. A job that is no longer ours
        // (cancelled, or taken over) is dropped at once: the thread's result, when it comes, is discarded.
        let heartbeat = Heartbeat()
        heartbeat.set("training", "read \(rows.count) points of \(rows.metrics.count) metrics")
        let box = Box()
        let thread = Thread {
            box.put(
                Swift.Result { () throws(ModelError) in
                    try TrainingPipeline.run(
                        request, rows: rows, threshold: threshold, incumbent: incumbent,
                        progress: { heartbeat.set($0, $1) })
                })
        }
        thread.stackSize = 16 << 20
        thread.start()
        var outcome: Swift.Result<TrainingOutcome, ModelError>
        var sinceBeat = ContinuousClock.now, sinceRenewal = ContinuousClock.now
        while true {
            if let done = box.take() {
                outcome = done
                break
            }
            try await Task.sleep(for: .milliseconds(100))
            guard ContinuousClock.now - sinceBeat >= .seconds(1) else { continue }
            sinceBeat = .now
            let now = heartbeat.take()
            let held: Bool
            if now.changed || ContinuousClock.now - sinceRenewal >= .seconds(lease / 3) {
                sinceRenewal = .now
                held = try await store.progress(
                    conn, job: job, worker: worker, status: now.status, text: now.text, lease: lease)
            } else {
                held = try await store.stillHeld(conn, job: job, worker: worker)  // a read: cancelled meanwhile?
            }
            guard held else {
                logger.warning(
                    "training \(job.ref.label): the job is no longer this worker's (cancelled or taken over); dropping this run"
                )
                return .lost(job.ref.id)
            }
        }
        switch outcome {
        case .failure(let error):
            return try await fail(conn, store, job, error.field.map { "\($0): \(error.message)" } ?? error.message)
        case .success(let trained):
            let result = try await store.finish(conn, job: job, worker: worker, outcome: trained)
            guard result != "lost" else {
                logger.warning(
                    "training \(job.ref.label): the job is no longer this worker's (cancelled or taken over); dropping this run"
                )
                return .lost(job.ref.id)
            }
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

    /// The training thread's result, handed to the task that waits for it.
    final class Box: Sendable {
        private let value = Mutex<Swift.Result<TrainingOutcome, ModelError>?>(nil)
        func put(_ r: Swift.Result<TrainingOutcome, ModelError>) { value.withLock { $0 = r } }
        func take() -> Swift.Result<TrainingOutcome, ModelError>? { value.withLock { $0 } }
    }
}
