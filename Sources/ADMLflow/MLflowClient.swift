import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// Exports finished trainings to MLflow's tracking server and model registry over its REST API 2.0.
///
/// `export` is safe to repeat (at-least-once callers): a model id already registered is found by its tag
/// `ad.model_id` and returned as it is; a run left behind by an interrupted export (same tag) is completed instead of
/// a second run being created; and when two exports of the same model run at once, the later version and its run are
/// removed so one of each remains.
///
/// The `HTTPClient` is the caller's (and shut down by the caller). It should not follow redirects, or a redirect
/// could carry the Authorization header elsewhere: `MLflowClient.makeHTTPClient()` makes one configured so.
public struct MLflowClient: Sendable {
    public let settings: MLflowSettings
    let transport: MLflowTransport
    let logger: Logger

    public init(settings: MLflowSettings, httpClient: HTTPClient, logger: Logger) {
        self.settings = settings
        self.logger = logger
        var base = settings.trackingURI.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        transport = MLflowTransport(
            base: base, headers: settings.headers, timeout: settings.timeout, http: httpClient, logger: logger)
    }

    /// An HTTP client for `MLflowClient`: never follows a redirect; connect timeout 10 s (each request also has
    /// its settings' total deadline). The caller shuts it down.
    public static func makeHTTPClient() -> HTTPClient {
        HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10))))
    }

    /// The tag that names our model on a run and on a model version.
    public static let modelIDTag = "ad.model_id"

    /// Logs `run` to the experiment (created if missing): params, metrics, tags, artifact, final status; then, unless
    /// the run failed, registers it as a version of the registered model `run.modelName` (created if missing), with
    /// source `runs:/<run_id>/<artifactName>`. Throws `MLflowError` naming the step that failed.
    public func export(_ run: MLflowRun) async throws(MLflowError) -> MLflowExport {
        let modelID = run.modelID.uuidString.lowercased()
        let registered = MLflowLimits.registeredModelName(run.modelName)
        let artifactName = try artifactPath(run.artifactName)
        let experimentID = try await experiment()

        // Already registered (a repeated export): nothing to add.
        if !run.failed, let existing = try await registeredVersion(modelID: modelID, name: registered) {
            logger.info(
                "mlflow: model already exported",
                metadata: [
                    "model_id": "\(modelID)", "run_id": "\(existing.run_id ?? "")", "version": "\(existing.version)",
                ])
            return MLflowExport(
                experimentID: experimentID, runID: existing.run_id ?? "", registeredModel: registered,
                modelVersion: existing.version, reused: true)
        }

        // A run from an interrupted export of the same model is completed, not doubled.
        let found = try await existingRun(experimentID: experimentID, modelID: modelID)
        let info: MLflowRunInfo
        if let found {
            info = found
        } else {
            let created: RunResponse = try await transport.post(
                "runs/create",
                CreateRunRequest(
                    experiment_id: experimentID, start_time: Self.millis(run.startedAt),
                    run_name: MLflowLimits.truncated(
                        "\(run.modelName) v\(run.version)", to: MLflowLimits.tagValueLength),
                    tags: runTags(run, modelID: modelID)),
                "create the run")
            info = created.run.info
        }
        let runID = info.run_id
        try await logBatches(run, runID: runID, modelID: modelID)

        if !run.artifact.isEmpty {
            let root = try artifactRoot(info, experimentID: experimentID)
            try await transport.putArtifact(
                "\(root)/\(artifactName)", run.artifact, "upload the artifact \(artifactName)")
        }
        let _: Empty = try await transport.post(
            "runs/update",
            UpdateRunRequest(
                run_id: runID, status: run.failed ? "FAILED" : "FINISHED", end_time: Self.millis(run.finishedAt)),
            "end the run")
        guard !run.failed else {
            logger.info("mlflow: failed run exported", metadata: ["model_id": "\(modelID)", "run_id": "\(runID)"])
            return MLflowExport(
                experimentID: experimentID, runID: runID, registeredModel: registered, modelVersion: nil,
                reused: found != nil)
        }

        try await registeredModel(registered, run: run)
        let version: ModelVersionResponse = try await transport.post(
            "model-versions/create",
            CreateModelVersionRequest(
                name: registered, source: "runs:/\(runID)/\(artifactName)", run_id: runID,
                tags: [
                    MLflowTag(key: Self.modelIDTag, value: modelID),
                    MLflowTag(key: "ad.model_version", value: String(run.version)),
                    MLflowTag(
                        key: "ad.algorithm",
                        value: MLflowLimits.truncated(run.algorithm, to: MLflowLimits.tagValueLength)),
                ],
                description: MLflowLimits.truncated(
                    "\(run.algorithm) on \(run.source), version \(run.version) of \(run.modelName) (adworker)",
                    to: MLflowLimits.tagValueLength)),
            "create a version of the registered model \(MLflowError.sanitise(registered, limit: 80))")
        // Two exports of the same model at once (a lease that expired mid-export) both got here: the lowest version
        // tagged with the model id stays; a later one, and its run, are removed, and both callers report the first.
        if let first = try await registeredVersion(modelID: modelID, name: registered),
            first.version != version.model_version.version
        {
            let _: Empty = try await transport.call(
                .DELETE, "model-versions/delete",
                DeleteModelVersionRequest(name: registered, version: version.model_version.version),
                "remove a second version of the same model")
            if let firstRun = first.run_id, firstRun != runID {
                let _: Empty = try await transport.post(
                    "runs/delete", DeleteRunRequest(run_id: runID), "remove a second run of the same model")
            }
            logger.info(
                "mlflow: a concurrent export of the same model registered first; this one's version was removed",
                metadata: ["model_id": "\(modelID)", "version": "\(first.version)"])
            return MLflowExport(
                experimentID: experimentID, runID: first.run_id ?? runID, registeredModel: registered,
                modelVersion: first.version, reused: true)
        }
        logger.info(
            "mlflow: run exported",
            metadata: [
                "model_id": "\(modelID)", "run_id": "\(runID)", "registered_model": "\(registered)",
                "version": "\(version.model_version.version)",
            ])
        return MLflowExport(
            experimentID: experimentID, runID: runID, registeredModel: registered,
            modelVersion: version.model_version.version, reused: found != nil)
    }

    // MARK: - Steps

    /// The experiment's id, creating it when missing (and finding it when another exporter created it meanwhile).
    func experiment() async throws(MLflowError) -> String {
        let name = settings.experiment
        let operation = "find the experiment '\(MLflowError.sanitise(name, limit: 80))'"
        if let found = try await experimentByName(name, operation) { return found }
        do throws(MLflowError) {
            let created: CreateExperimentResponse = try await transport.post(
                "experiments/create", CreateExperimentRequest(name: name),
                "create the experiment '\(MLflowError.sanitise(name, limit: 80))'")
            return created.experiment_id
        } catch  where error.errorCode == "RESOURCE_ALREADY_EXISTS" {
            if let found = try await experimentByName(name, operation) { return found }
            throw error
        }
    }

    private func experimentByName(_ name: String, _ operation: String) async throws(MLflowError) -> String? {
        do throws(MLflowError) {
            let r: GetExperimentResponse = try await transport.get(
                "experiments/get-by-name", query: [("experiment_name", name)], operation)
            if r.experiment.lifecycle_stage == "deleted" {
                throw transport.failure(
                    operation,
                    "the experiment is deleted: restore it (mlflow experiments restore) or set MLFLOW_EXPERIMENT_NAME "
                        + "to another name",
                    retryable: false)
            }
            return r.experiment.experiment_id
        } catch  where error.errorCode == "RESOURCE_DOES_NOT_EXIST" {
            return nil
        }
    }

    /// The model version already registered for `modelID` under `name`, if any.
    func registeredVersion(modelID: String, name: String) async throws(MLflowError) -> MLflowModelVersion? {
        // The model id is a UUID: safe inside the filter's quotes.
        let r: SearchModelVersionsResponse = try await transport.get(
            "model-versions/search",
            query: [("filter", "tags.`\(Self.modelIDTag)` = '\(modelID)'"), ("max_results", "100")],
            "look for a model version tagged \(Self.modelIDTag) = \(modelID)")
        return (r.model_versions ?? []).filter { $0.name == name }.min {
            (Int($0.version) ?? .max) < (Int($1.version) ?? .max)
        }
    }

    /// A live run of this experiment tagged with `modelID` (the oldest), if any.
    func existingRun(experimentID: String, modelID: String) async throws(MLflowError) -> MLflowRunInfo? {
        let r: SearchRunsResponse = try await transport.post(
            "runs/search",
            SearchRunsRequest(
                experiment_ids: [experimentID], filter: "tags.`\(Self.modelIDTag)` = '\(modelID)'",
                run_view_type: "ACTIVE_ONLY", max_results: 10),
            "look for a run tagged \(Self.modelIDTag) = \(modelID)")
        return r.runs?.last?.info
    }

    /// Params in batches of 100, tags in batches of 100, metrics in batches of 1000 (MLflow's limits per request).
    private func logBatches(_ run: MLflowRun, runID: String, modelID: String) async throws(MLflowError) {
        let params = MLflowLimits.fit(run.parameters, valueLimit: MLflowLimits.paramValueLength)
        let extraTags = MLflowLimits.fit(
            run.tags.filter { !$0.key.hasPrefix("ad.") && !$0.key.hasPrefix("mlflow.") },
            valueLimit: MLflowLimits.tagValueLength)
        var metricKeys = Set<String>()
        var metrics: [MLflowMetric] = []
        let at = Self.millis(run.finishedAt)
        for (key, value) in run.metrics.sorted(by: { $0.key < $1.key }) {
            var name = MLflowLimits.key(key), n = 2
            while metricKeys.contains(name) {
                name = MLflowLimits.truncated(MLflowLimits.key(key), to: MLflowLimits.keyLength - 4) + "_\(n)"
                n += 1
            }
            metricKeys.insert(name)
            metrics.append(MLflowMetric(key: name, value: value, timestamp: at, step: 0))
        }
        var tags = extraTags.entries.map { MLflowTag(key: $0.key, value: $0.value) }
        let adjusted = params.renamed + params.truncated + extraTags.renamed + extraTags.truncated
        if !adjusted.isEmpty {
            logger.warning(
                "mlflow: some names or values were adjusted to MLflow's limits",
                metadata: [
                    "renamed": "\(params.renamed + extraTags.renamed)",
                    "truncated": "\(params.truncated + extraTags.truncated)",
                ])
        }
        if !params.truncated.isEmpty {
            tags.append(
                MLflowTag(
                    key: "ad.truncated_params",
                    value: MLflowLimits.truncated(
                        params.truncated.joined(separator: ", "), to: MLflowLimits.tagValueLength)))
        }
        let operation = "log the run's params, metrics and tags"
        for chunk in MLflowLimits.chunks(params.entries, of: MLflowLimits.paramsPerBatch) {
            let _: Empty = try await transport.post(
                "runs/log-batch",
                LogBatchRequest(
                    run_id: runID, metrics: [], params: chunk.map { MLflowParam(key: $0.key, value: $0.value) },
                    tags: []), operation)
        }
        for chunk in MLflowLimits.chunks(tags, of: MLflowLimits.tagsPerBatch) {
            let _: Empty = try await transport.post(
                "runs/log-batch", LogBatchRequest(run_id: runID, metrics: [], params: [], tags: chunk), operation)
        }
        for chunk in MLflowLimits.chunks(metrics, of: MLflowLimits.metricsPerBatch) {
            let _: Empty = try await transport.post(
                "runs/log-batch", LogBatchRequest(run_id: runID, metrics: chunk, params: [], tags: []), operation)
        }
    }

    private func registeredModel(_ name: String, run: MLflowRun) async throws(MLflowError) {
        do throws(MLflowError) {
            let _: Empty = try await transport.post(
                "registered-models/create",
                CreateRegisteredModelRequest(
                    name: name,
                    tags: [
                        MLflowTag(
                            key: "ad.algorithm",
                            value: MLflowLimits.truncated(run.algorithm, to: MLflowLimits.tagValueLength))
                    ],
                    description: "Trained by adworker (anomaly detection)."),
                "create the registered model \(MLflowError.sanitise(name, limit: 80))")
        } catch  where error.errorCode == "RESOURCE_ALREADY_EXISTS" {
            // Registered by an earlier training of this model: versions are added to it.
        }
    }

    private func runTags(_ run: MLflowRun, modelID: String) -> [MLflowTag] {
        let limit = MLflowLimits.tagValueLength
        return [
            MLflowTag(key: Self.modelIDTag, value: modelID),
            MLflowTag(key: "ad.model_name", value: MLflowLimits.truncated(run.modelName, to: limit)),
            MLflowTag(key: "ad.model_version", value: String(run.version)),
            MLflowTag(key: "ad.algorithm", value: MLflowLimits.truncated(run.algorithm, to: limit)),
            MLflowTag(key: "ad.source", value: MLflowLimits.truncated(run.source, to: limit)),
            MLflowTag(key: "mlflow.source.name", value: "adworker"),
            MLflowTag(key: "mlflow.source.type", value: "JOB"),
        ]
    }

    /// The run's artifact root as a path under the server's artifacts destination: from `mlflow-artifacts:/<path>`
    /// or `mlflow-artifacts://host/<path>` (what a server proxying artifacts reports). Any other root (a server
    /// started with `--no-serve-artifacts`, clients writing to S3 or a file store themselves) cannot be written
    /// through the REST API: refused with what to change.
    func artifactRoot(_ info: MLflowRunInfo, experimentID: String) throws(MLflowError) -> String {
        let uri = info.artifact_uri ?? ""
        guard let c = URLComponents(string: uri), c.scheme == "mlflow-artifacts" else {
            throw transport.failure(
                "upload the artifact",
                "the run's artifact location '\(MLflowError.sanitise(uri, limit: 120))' is not served by the tracking "
                    + "server: start `mlflow server` with --serve-artifacts (the default) and an --artifacts-destination",
                retryable: false)
        }
        let path = c.path.split(separator: "/").joined(separator: "/")
        guard !path.isEmpty, !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw transport.failure(
                "upload the artifact",
                "the run's artifact location '\(MLflowError.sanitise(uri, limit: 120))' has no usable path",
                retryable: false)
        }
        return path
    }

    /// The artifact's file name: one plain path segment.
    private func artifactPath(_ name: String) throws(MLflowError) -> String {
        let ok =
            !name.isEmpty && name.unicodeScalars.count <= 200 && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { s in
                (s.properties.isAlphabetic || s.properties.numericType != nil || s == "_" || s == "-" || s == ".")
            }
        guard ok else {
            throw transport.failure(
                "upload the artifact",
                "the artifact name '\(MLflowError.sanitise(name, limit: 60))' is not one file name of letters, "
                    + "digits, '_', '-' and '.'",
                retryable: false)
        }
        return name
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}
