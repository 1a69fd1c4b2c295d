import ADCore
import Foundation
import Logging
import PostgresNIO

/// A training job a worker holds (`ad_internal.claim_training`).
public struct TrainingJob: Sendable {
    public var ref: ModelRef
    public var source: UUID
    public var parameters: JSONValue
    public var attempt: Int
    public var retrainOf: UUID?
    /// When this worker claimed it (an MLflow run's start).
    public var claimedAt = Date()
}

/// Every SQL statement of training jobs and of the production models the scoring loop uses (sql/100_models.sql
/// holds the functions they call).
public struct TrainingStore: Sendable {
    public var logger: Logger
    public init(logger: Logger) { self.logger = logger }

    /// Claims the oldest training job nobody holds, for `lease` seconds.
    public func claim(_ conn: PostgresConnection, worker: String, lease: Double) async throws -> TrainingJob? {
        let rows = try await conn.query(
            """
            SELECT id, name, version, algorithm, source_id, parameters::text, attempts, retrain_of
              FROM ad_internal.claim_training(\(worker), make_interval(secs => \(lease)))
            """, logger: logger)
        for try await (id, name, version, algorithm, source, parameters, attempts, retrainOf) in rows.decode(
            (UUID, String, Int, String, UUID, String, Int, UUID?).self)
        {
            let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(parameters.utf8))) ?? .object([])
            return TrainingJob(
                ref: ModelRef(id: id, name: name, version: version, algorithm: algorithm), source: source,
                parameters: json, attempt: attempts, retrainOf: retrainOf)
        }
        return nil
    }

    /// Reports progress and renews the lease; false when the job is no longer this worker's.
    public func progress(
        _ conn: PostgresConnection, job: TrainingJob, worker: String, status: String, text: String, lease: Double
    ) async throws -> Bool {
        let rows = try await conn.query(
            """
            SELECT ad_internal.training_progress(\(job.ref.id), \(worker), \(status), \(text),
                                                 make_interval(secs => \(lease)))
            """, logger: logger)
        for try await held in rows.decode(Bool.self) { return held }
        return false
    }

    /// Whether the job is still this worker's (not cancelled, not taken over): a read, once a second while it trains.
    public func stillHeld(_ conn: PostgresConnection, job: TrainingJob, worker: String) async throws -> Bool {
        for try await held in try await conn.query(
            """
            SELECT claimed_by = \(worker) AND status IN ('training', 'evaluating') FROM ad.ml_models
             WHERE id = \(job.ref.id)
            """, logger: logger
        ).decode(Bool.self) { return held }
        return false
    }

    /// Stores the model and registers it: "registered", "promoted" (a drift retraining the owner lets promote
    /// itself), or "lost" (the job is no longer this worker's; nothing was stored).
    public func finish(
        _ conn: PostgresConnection, job: TrainingJob, worker: String, outcome: TrainingOutcome
    ) async throws -> String {
        let artifact = ByteBuffer(bytes: outcome.model.artifact())
        let rows = try await conn.query(
            """
            SELECT ad_internal.finish_training(\(job.ref.id), \(worker), \(artifact), \(outcome.metrics.render())::jsonb,
                                               \(outcome.parameters.render())::jsonb)
            """, logger: logger)
        for try await result in rows.decode(String.self) { return result }
        return "lost"
    }

    public func fail(_ conn: PostgresConnection, job: TrainingJob, worker: String, error: String) async throws {
        try await conn.query(
            "SELECT ad_internal.fail_training(\(job.ref.id), \(worker), \(error))", logger: logger
        ).decode(Bool.self).reduce(()) { _, _ in }
    }

    public func recordMLflow(_ conn: PostgresConnection, model: UUID, record: JSONValue) async throws {
        try await conn.query(
            "SELECT ad_internal.record_mlflow(\(model), \(record.render())::jsonb)", logger: logger
        ).decode(String?.self).reduce(()) { _, _ in }
    }

    /// A problem with the job's data (too many points, no usable metric): the job fails with it.
    public struct DataProblem: Error, CustomStringConvertible {
        public var description: String
    }

    /// The training window's rows of the job's source: the metrics present on at least half of them, each row's
    /// values, whether people labelled it anomalous (a labelled incident, or an anomaly they confirmed; one they
    /// marked a false positive is normal), and the live score it got; and the source's `low` threshold.
    public func rows(
        _ conn: PostgresConnection, source: UUID, from: Date, to: Date, maxRows: Int, maxValues: Int = 20_000_000
    ) async throws -> (rows: TrainingRows, threshold: Double) {
        let low = try await lowThreshold(conn, source: source)
        var counts: [(metric: String, rows: Int)] = []
        var total = 0
        for try await (metric, n, all) in try await conn.query(
            """
            SELECT k, count(*), (SELECT count(*) FROM ad.data_points p
                                  WHERE p.source_id = \(source) AND p."timestamp" >= \(from) AND p."timestamp" < \(to))
              FROM ad.data_points p, jsonb_object_keys(p.values) k
             WHERE p.source_id = \(source) AND p."timestamp" >= \(from) AND p."timestamp" < \(to)
             GROUP BY k
            """, logger: logger
        ).decode((String, Int, Int).self) {
            counts.append((metric, n)); total = all
        }
        guard total <= maxRows else {
            throw DataProblem(
                description:
                    "the window has \(total) points; a training job reads at most \(maxRows) (AD_TRAINING_MAX_ROWS): narrow train_from..train_to"
            )
        }
        let metrics: [String]
        do { metrics = try TrainingPipeline.chooseMetrics(counts: counts, totalRows: total) } catch {
            throw DataProblem(description: error.message)
        }
        // Memory: each value held costs about 16 bytes, and the worker scores beside it.
        guard total * metrics.count <= maxValues else {
            throw DataProblem(
                description:
                    "the window has \(total) points of \(metrics.count) metrics (\(total * metrics.count) values); a training job holds at most \(maxValues): narrow train_from..train_to"
            )
        }
        return (
            try await values(conn, source: source, from: from, to: to, metrics: metrics, maxRows: maxRows),
            low
        )
    }

    /// The points of `source` in [from, to), oldest first, at most `maxRows`: each one's values of `metrics` (nil
    /// where absent), whether people labelled it anomalous, and its live score.
    public func values(
        _ conn: PostgresConnection, source: UUID, from: Date, to: Date, metrics: [String], maxRows: Int
    ) async throws -> TrainingRows {
        var rows = TrainingRows(metrics: metrics)
        let query: PostgresQuery = """
            SELECT \(unescaped: ScoringQueries.micros("p.\"timestamp\"")),
                   (SELECT array_agg(CASE WHEN jsonb_typeof(p.values -> u.k) = 'number'
                                          THEN (p.values ->> u.k)::float8 ELSE 'NaN' END ORDER BY u.o)
                      FROM unnest(\(metrics)::text[]) WITH ORDINALITY AS u(k, o)),
                   p.anomaly_score,
                   EXISTS (SELECT FROM ad.labelled_incidents l
                            WHERE l.source_id = p.source_id AND p."timestamp" >= l.starts_at
                              AND p."timestamp" < l.ends_at)
                   OR EXISTS (SELECT FROM ad.anomalies a
                               WHERE a.source_id = p.source_id AND a.point_timestamp = p."timestamp"
                                 AND a.status = 'confirmed')
              FROM ad.data_points p
             WHERE p.source_id = \(source) AND p."timestamp" >= \(from) AND p."timestamp" < \(to)
             ORDER BY p."timestamp"
             LIMIT \(maxRows)
            """
        for try await (us, values, score, anomalous) in try await conn.query(query, logger: logger).decode(
            (Int64, [Double], Double?, Bool).self)
        {
            // The door admits finite numbers only: NaN here is "absent on this row".
            rows.append(
                micros: us, values: values.map { $0.isNaN ? nil : $0 }, anomalous: anomalous, liveScore: score)
        }
        return rows
    }

    /// The `low` threshold of a source's config (the defaults' when it has none usable).
    public func lowThreshold(_ conn: PostgresConnection, source: UUID) async throws -> Double {
        for try await text in try await conn.query(
            "SELECT config::text FROM ad.data_sources WHERE id = \(source)", logger: logger
        ).decode(String.self) {
            // The catalog's own parse: a config it cannot use scores with the defaults, here as there.
            if let parsed = try? SourceCatalog.Parsed(text: text).config.get() { return parsed.thresholds.low }
        }
        return SourceConfig.defaults.thresholds.low
    }

    /// The source's production model, if it has one (other than `excluding`).
    public func incumbent(
        _ conn: PostgresConnection, source: UUID, excluding: UUID
    ) async throws
        -> TrainingPipeline.Incumbent?
    {
        for try await (id, name, version, algorithm, artifact) in try await conn.query(
            """
            SELECT id, name, version, algorithm, artifact FROM ad.ml_models
             WHERE source_id = \(source) AND status = 'production' AND id <> \(excluding) AND artifact IS NOT NULL
            """, logger: logger
        ).decode((UUID, String, Int, String, ByteBuffer).self) {
            let ref = ModelRef(id: id, name: name, version: version, algorithm: algorithm)
            do {
                return .init(ref: ref, model: try TrainedModel(artifact: Array(buffer: artifact)))
            } catch {
                logger.warning("production model \(ref.label) has an artifact this worker cannot read: \(error)")
            }
        }
        return nil
    }

    /// Every source's production model, keyed by source. Models already decoded (`reuse`, by model id) are kept,
    /// so a refresh reads only the ids unless a model changed. One whose artifact cannot be read is logged and
    /// left out: its source keeps the streaming scorer.
    public static func productionModels(
        _ conn: PostgresConnection, reuse: [UUID: LiveModel], logger: Logger
    ) async throws -> [UUID: LiveModel] {
        var out: [UUID: LiveModel] = [:]
        var missing: [UUID] = []
        // By model id, built once: a refresh looks each production model up, every few seconds.
        let reused = Dictionary(reuse.values.map { ($0.ref.id, $0) }, uniquingKeysWith: { first, _ in first })
        for try await (id, source) in try await conn.query(
            """
            SELECT id, source_id FROM ad.ml_models
             WHERE status = 'production' AND source_id IS NOT NULL AND artifact IS NOT NULL
            """, logger: logger
        ).decode((UUID, UUID).self) {
            if let known = reused[id] {
                out[source] = known
            } else {
                missing.append(id)
            }
        }
        guard !missing.isEmpty else { return out }
        for try await (id, name, version, algorithm, source, artifact) in try await conn.query(
            """
            SELECT id, name, version, algorithm, source_id, artifact FROM ad.ml_models
             WHERE id = ANY(\(missing)) AND status = 'production'
            """, logger: logger
        ).decode((UUID, String, Int, String, UUID, ByteBuffer).self) {
            let ref = ModelRef(id: id, name: name, version: version, algorithm: algorithm)
            do {
                out[source] = LiveModel(ref: ref, model: try TrainedModel(artifact: Array(buffer: artifact)))
                logger.info("scoring source \(source) with its production model \(ref.label)")
            } catch {
                logger.error(
                    "production model \(ref.label) has an artifact this worker cannot read (\(error)); its source keeps the streaming scorer"
                )
            }
        }
        return out
    }
}
