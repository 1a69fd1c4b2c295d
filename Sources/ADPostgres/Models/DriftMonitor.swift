import ADCore
import Foundation
import Logging
import PostgresNIO

/// The drift monitor: for each production model whose last check is older than `drift_check_every`, compares the
/// model's input features over the recent window (`drift_recent_window`) with the same features over its training
/// window (population stability index and Kolmogorov–Smirnov, per feature), and its recent anomaly rate with the
/// rate on its evaluation split; writes an `ad.drift_reports` row; past `drift_psi_threshold` the SQL asks for
/// retraining (`ad_internal.record_drift`).
public struct DriftMonitor: Sendable {
    public var maxRows: Int
    public var logger: Logger
    /// Fewer recent points than this give a report without statistics (too few to say anything).
    public static let minRecentPoints = 30

    public init(maxRows: Int, logger: Logger) { self.maxRows = maxRows; self.logger = logger }

    public struct Report: Sendable, Equatable {
        public var model: UUID
        public var maxPSI: Double?
        public var drifted: Bool
        public var retraining: UUID?
    }

    /// Checks every model that is due; returns the reports written.
    public func pass(_ conn: PostgresConnection, now: Date = Date()) async throws -> [Report] {
        var due: [(UUID, UUID, String, String, Double)] = []
        for try await (id, source, parameters, metrics, windowSeconds) in try await conn.query(
            """
            SELECT id, source_id, parameters::text, metrics::text, extract(epoch FROM recent_window)::float8
              FROM ad_internal.models_due_for_drift()
            """, logger: logger
        ).decode((UUID, UUID, String, String, Double).self) {
            due.append((id, source, parameters, metrics, windowSeconds))
        }
        var reports: [Report] = []
        for (id, source, parametersText, metricsText, windowSeconds) in due {
            // One worker checks a model at a time: the check holds a transaction lock, and a model another worker
            // checked meanwhile is no longer due.
            try await conn.query("BEGIN", logger: logger)
            do {
                var mine = false
                for try await ok in try await conn.query(
                    "SELECT ad_internal.begin_drift_check(\(id))", logger: logger
                ).decode(Bool.self) { mine = ok }
                if mine,
                    let r = try await check(
                        conn, model: id, source: source, parametersText: parametersText, metricsText: metricsText,
                        recent: now.addingTimeInterval(-windowSeconds)..<now)
                {
                    reports.append(r)
                }
                try await conn.query("COMMIT", logger: logger)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        return reports
    }

    /// A report without statistics (the model cannot be checked), so the model is not due again until the next
    /// interval rather than at every poll.
    private func recordUnchecked(_ conn: PostgresConnection, model: UUID, recent: Range<Date>) async throws -> Report? {
        for try await (_, drifted, retrain) in try await conn.query(
            """
            SELECT report, drifted, retrain_model_id FROM ad_internal.record_drift(
                \(model), \(recent.lowerBound), \(recent.upperBound), 0, '[]', NULL, NULL, NULL, NULL)
            """, logger: logger
        ).decode((Int64, Bool, UUID?).self) {
            return Report(model: model, maxPSI: nil, drifted: drifted, retraining: retrain)
        }
        return nil
    }

    private func check(
        _ conn: PostgresConnection, model id: UUID, source: UUID, parametersText: String, metricsText: String,
        recent: Range<Date>
    ) async throws -> Report? {
        let store = TrainingStore(logger: logger)
        var artifact: ByteBuffer?
        for try await a in try await conn.query(
            "SELECT artifact FROM ad.ml_models WHERE id = \(id)", logger: logger
        ).decode(ByteBuffer.self) { artifact = a }
        guard let artifact else { return nil }
        let model: TrainedModel
        do { model = try TrainedModel(artifact: Array(buffer: artifact)) } catch {
            logger.error("drift: model \(id) has an artifact this worker cannot read: \(error); not checked")
            return try await recordUnchecked(conn, model: id, recent: recent)
        }
        let parameters = (try? JSONDecoder().decode(JSONValue.self, from: Data(parametersText.utf8))) ?? .null
        let metrics = (try? JSONDecoder().decode(JSONValue.self, from: Data(metricsText.utf8))) ?? .null
        guard case .string(let fromText)? = parameters["train_from"],
            case .string(let toText)? = parameters["train_to"],
            let request = try? TrainingRequest.parse(
                algorithm: model.algorithm.rawValue,
                parameters: .object([("train_from", .string(fromText)), ("train_to", .string(toText))]))
        else {
            logger.error("drift: model \(id) has no readable training window; not checked")
            return try await recordUnchecked(conn, model: id, recent: recent)
        }
        let reference = try await store.values(
            conn, source: source, from: request.trainFrom, to: request.trainTo, metrics: model.metrics,
            maxRows: maxRows)
        let latest = try await store.values(
            conn, source: source, from: recent.lowerBound, to: recent.upperBound, metrics: model.metrics,
            maxRows: maxRows)
        let low = try await store.lowThreshold(conn, source: source)
        let outcome = DriftCheck.compare(model: model, reference: reference, recent: latest, threshold: low)
        var referenceRate: Double?
        if case .number(let flagged)? = metrics["evaluation"]?["flagged_points"],
            case .number(let points)? = metrics["evaluation"]?["points"], points > 0
        {
            referenceRate = flagged / points
        }
        for try await (report, drifted, retrain) in try await conn.query(
            """
            SELECT report, drifted, retrain_model_id FROM ad_internal.record_drift(
                \(id), \(recent.lowerBound), \(recent.upperBound), \(Int64(latest.count)),
                \(outcome.features.render())::jsonb, \(outcome.maxPSI), \(outcome.maxKS), \(outcome.anomalyRate),
                \(referenceRate))
            """, logger: logger
        ).decode((Int64, Bool, UUID?).self) {
            logger.info(
                "drift check of model \(id): report \(report), max PSI \(outcome.maxPSI.map { String(format: "%.3f", $0) } ?? "n/a")\(drifted ? ", drifted" : "")\(retrain.map { "; retraining as \($0)" } ?? "")"
            )
            return Report(model: id, maxPSI: outcome.maxPSI, drifted: drifted, retraining: retrain)
        }
        return nil
    }
}

/// The statistics of one drift check, without I/O.
public enum DriftCheck {
    public struct Outcome: Sendable {
        /// `[{"feature", "psi", "ks", "ks_p_value"}, ...]`.
        public var features: JSONValue
        public var maxPSI: Double?
        public var maxKS: Double?
        public var anomalyRate: Double?
    }

    public static func compare(
        model: TrainedModel, reference: TrainingRows, recent: TrainingRows, threshold: Double
    )
        -> Outcome
    {
        let names = model.featureNames
        let ref = model.features(TrainingData(metrics: model.metrics, rows: reference.values)).compactMap { $0 }
        let now = model.features(TrainingData(metrics: model.metrics, rows: recent.values)).compactMap { $0 }
        let scored = model.scores(TrainingData(metrics: model.metrics, rows: recent.values)).compactMap { $0 }
        let rate = scored.isEmpty ? nil : Double(scored.filter { $0.score >= threshold }.count) / Double(scored.count)
        guard now.count >= DriftMonitor.minRecentPoints, ref.count >= DriftMonitor.minRecentPoints else {
            return Outcome(features: .array([]), maxPSI: nil, maxKS: nil, anomalyRate: rate)
        }
        var items: [JSONValue] = []
        var maxPSI = 0.0, maxKS = 0.0
        for (j, name) in names.enumerated() {
            let a = ref.map { $0[j] }, b = now.map { $0[j] }
            let psi = Drift.populationStabilityIndex(reference: a, recent: b)
            let ks = Drift.kolmogorovSmirnov(reference: a, recent: b)
            maxPSI = max(maxPSI, psi); maxKS = max(maxKS, ks.statistic)
            items.append(
                .object([
                    ("feature", .string(name)), ("psi", .rounded(psi, 6)), ("ks", .rounded(ks.statistic, 6)),
                    ("ks_p_value", .rounded(ks.pValue, 6)),
                ]))
        }
        return Outcome(features: .array(items), maxPSI: maxPSI, maxKS: maxKS, anomalyRate: rate)
    }
}
