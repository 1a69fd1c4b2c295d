import ADCore
import ADMLflow
import ADPostgres
import Foundation
import Logging

/// Logs each training run to MLflow (`MLFLOW_TRACKING_URI`): a registered model as a FINISHED run with its
/// parameters, metrics and artifact, registered as a model version; a failed job as a FAILED run. An MLflow that
/// is down or refuses never fails the training: a retryable failure is tried again twice (after 2 and 4 s), and the
/// outcome, exported or the error, is recorded in `ad.ml_models.mlflow`.
struct MLflowExporter: Sendable {
    let client: MLflowClient
    let logger: Logger

    func registered(_ job: TrainingJob, _ outcome: TrainingOutcome, _ source: String) async -> JSONValue? {
        var parameters = Self.parameters(job.parameters)
        for (k, v) in Self.flatten(outcome.parameters, prefix: "") { parameters[k] = v }
        return await export(
            MLflowRun(
                modelName: job.ref.name, version: job.ref.version, modelID: job.ref.id, algorithm: job.ref.algorithm,
                source: source, parameters: parameters, metrics: Self.metrics(outcome.metrics),
                artifact: outcome.model.artifact(), startedAt: job.claimedAt, finishedAt: Date()))
    }

    func failed(_ job: TrainingJob, _ reason: String, _ source: String) async -> JSONValue? {
        var parameters = Self.parameters(job.parameters)
        parameters["error"] = reason
        return await export(
            MLflowRun(
                modelName: job.ref.name, version: job.ref.version, modelID: job.ref.id, algorithm: job.ref.algorithm,
                source: source, parameters: parameters, artifact: [], startedAt: job.claimedAt, finishedAt: Date(),
                failed: true))
    }

    private func export(_ run: MLflowRun) async -> JSONValue {
        var attempt = 1
        while true {
            do {
                let e = try await client.export(run)
                logger.info(
                    "MLflow: \(run.modelName) v\(run.version) logged as run \(e.runID)\(e.modelVersion.map { ", model version \($0)" } ?? "")"
                )
                var pairs: [(String, JSONValue)] = [
                    ("experiment_id", .string(e.experimentID)), ("run_id", .string(e.runID)),
                    ("registered_model", .string(e.registeredModel)),
                ]
                if let v = e.modelVersion { pairs.append(("model_version", .string(v))) }
                return .object(pairs)
            } catch {
                if error.retryable && attempt < 3 {
                    try? await Task.sleep(for: .seconds(2 << (attempt - 1)))
                    attempt += 1
                    continue
                }
                logger.error("MLflow: \(run.modelName) v\(run.version) not logged: \(error)")
                return .object([("error", .string("\(error)")), ("retryable", .bool(error.retryable))])
            }
        }
    }

    /// The request's settings and hyperparameters as MLflow params (`hyperparameters.trees` becomes `trees`).
    static func parameters(_ json: JSONValue) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in flatten(json, prefix: "") {
            out[k.hasPrefix("hyperparameters.") ? String(k.dropFirst("hyperparameters.".count)) : k] = v
        }
        return out
    }

    /// Nested objects as dotted keys, values as text (arrays joined with commas).
    static func flatten(_ json: JSONValue, prefix: String) -> [(String, String)] {
        switch json {
        case .object(let pairs):
            return pairs.flatMap { flatten($0.1, prefix: prefix.isEmpty ? $0.0 : prefix + "." + $0.0) }
        case .array(let items):
            return [
                (prefix, items.map { v in if case .string(let s) = v { s } else { v.render() } }.joined(separator: ","))
            ]
        case .string(let s): return [(prefix, s)]
        case .null: return []
        default: return [(prefix, json.render())]
        }
    }

    /// The evaluation's numbers as MLflow metrics: `precision`, `f1`, ... for the model, `production_f1`, ... for
    /// what production scored on the same split, `split_*` and `training_*` for the rest.
    static func metrics(_ json: JSONValue) -> [String: Double] {
        var out: [String: Double] = [:]
        func add(_ section: String, _ prefix: String) {
            guard case .object(let pairs)? = json[section] else { return }
            for (k, v) in pairs { if case .number(let x) = v { out[prefix + k] = x } }
        }
        add("evaluation", ""); add("production_on_split", "production_"); add("split", "split_")
        add("training", "training_")
        return out
    }
}
