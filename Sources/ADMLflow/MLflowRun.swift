import Foundation

/// One finished training, as exported: a run in the experiment, its artifact, a version of the registered model.
public struct MLflowRun: Sendable {
    /// The registered model's name in MLflow (`/` and `:`, which MLflow refuses there, become `_`).
    public var modelName: String
    /// Our registry's version of this model: the run is named "<modelName> v<version>"; tag `ad.model_version`.
    public var version: Int
    /// Our model's id: tag `ad.model_id` on the run and on the model version; what makes a second export of the
    /// same model find the first one instead of adding a version.
    public var modelID: UUID
    public var algorithm: String
    public var source: String
    /// Logged as the run's params (hyperparameters, training window, split…). Keys are made acceptable to MLflow
    /// (`MLflowLimits.key`), values cut to 6000 characters.
    public var parameters: [String: String]
    /// Logged as the run's metrics (precision, recall, f1, roc_auc, counts…), at `finishedAt`, step 0. NaN and
    /// infinities are sent as MLflow's JSON spells them.
    public var metrics: [String: Double]
    /// Extra run tags (values cut to 8000 characters). Names starting `ad.` (ours) or `mlflow.` (MLflow's) are
    /// reserved: such tags are left out.
    public var tags: [String: String]
    /// The model's artifact, uploaded as `artifactName` at the run's artifact root.
    public var artifact: [UInt8]
    public var artifactName: String
    public var startedAt: Date
    public var finishedAt: Date
    /// The run ends FAILED instead of FINISHED (and no model version is registered for it).
    public var failed: Bool

    public init(
        modelName: String, version: Int, modelID: UUID, algorithm: String, source: String,
        parameters: [String: String] = [:], metrics: [String: Double] = [:], tags: [String: String] = [:],
        artifact: [UInt8], artifactName: String = "model.adm", startedAt: Date, finishedAt: Date, failed: Bool = false
    ) {
        self.modelName = modelName
        self.version = version
        self.modelID = modelID
        self.algorithm = algorithm
        self.source = source
        self.parameters = parameters
        self.metrics = metrics
        self.tags = tags
        self.artifact = artifact
        self.artifactName = artifactName
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.failed = failed
    }
}

/// Where the export landed.
public struct MLflowExport: Sendable, Equatable {
    public var experimentID: String
    public var runID: String
    /// The registered model's name as MLflow has it.
    public var registeredModel: String
    /// The model version MLflow gave ("1", "2", …); nil for a failed run, which is not registered.
    public var modelVersion: String?
    /// True when this model id had been exported before and that export was found and completed, not repeated.
    public var reused: Bool

    public init(
        experimentID: String, runID: String, registeredModel: String, modelVersion: String?, reused: Bool = false
    ) {
        self.experimentID = experimentID
        self.runID = runID
        self.registeredModel = registeredModel
        self.modelVersion = modelVersion
        self.reused = reused
    }
}

/// An export step that failed. `reason` is ours, or MLflow's error code and at most 200 characters of its message
/// with control characters removed; never a response body beyond that, never a header or credential.
public struct MLflowError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done, e.g. "create the run".
    public var operation: String
    public var reason: String
    public var httpStatus: Int?
    /// MLflow's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`, `INVALID_PARAMETER_VALUE`), when it sent one.
    public var errorCode: String?
    /// Trying again later may help (timeouts, connection failures, 5xx, 429); false for what MLflow refused.
    public var retryable: Bool
    /// The tracking server, without credentials.
    public var server: String

    public init(
        operation: String, reason: String, httpStatus: Int? = nil, errorCode: String? = nil, retryable: Bool,
        server: String
    ) {
        self.operation = operation
        self.reason = reason
        self.httpStatus = httpStatus
        self.errorCode = errorCode
        self.retryable = retryable
        self.server = server
    }

    public var description: String { "MLflow at \(server): could not \(operation): \(reason)" }

    /// At most `limit` characters, control characters as spaces, trimmed.
    static func sanitise(_ text: String, limit: Int = 200) -> String {
        let cleaned = String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        return String(cleaned.prefix(limit)).trimmingCharacters(in: .whitespaces)
    }
}
