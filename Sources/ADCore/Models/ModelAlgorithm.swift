/// The trained-model algorithms `ad.train_model` accepts.
public enum ModelAlgorithm: String, Sendable, CaseIterable, Codable {
    case isolationForest = "isolation_forest", autoencoder, pca
}

/// A problem with a training request or an artifact; `field` names the argument or hyperparameter
/// (for example "hyperparameters.trees"), message says what is wrong and what is allowed.
public struct ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String?
    public var message: String
    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

/// One documented hyperparameter: name, kind ("integer" | "number" | "boolean"), default, inclusive bounds, doc.
public struct HyperparameterSpec: Sendable, Equatable {
    public var name: String, kind: String, defaultValue: Double, minimum: Double, maximum: Double, doc: String
    public init(name: String, kind: String, defaultValue: Double, minimum: Double, maximum: Double, doc: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.minimum = minimum
        self.maximum = maximum
        self.doc = doc
    }
}

extension ModelAlgorithm {
    /// The documented hyperparameters of this algorithm, shared ones first (the lead mirrors them in an SQL table;
    /// a test compares). Every bound is inclusive; the bounds also bound training time and the artifact's size.
    public var hyperparameters: [HyperparameterSpec] {
        let shared = ModelAlgorithm.sharedHyperparameters
        switch self {
        case .isolationForest:
            return shared + [
                .init(
                    name: "trees", kind: "integer", defaultValue: 100, minimum: 1, maximum: 1000,
                    doc: "Isolation trees in the forest (scikit-learn's n_estimators)."),
                .init(
                    name: "sample_size", kind: "integer", defaultValue: 256, minimum: 2, maximum: 4096,
                    doc:
                        "Rows drawn without replacement to grow each tree, at most the training rows (scikit-learn's"
                        + " max_samples); trees are ceil(log2(sample_size)) deep."),
            ]
        case .autoencoder:
            return shared + [
                .init(
                    name: "hidden", kind: "integer", defaultValue: 0, minimum: 0, maximum: 256,
                    doc:
                        "Units of the two hidden tanh layers (inputs -> hidden -> code -> hidden -> inputs); 0: as"
                        + " many as the metrics (at least 2)."),
                .init(
                    name: "code", kind: "integer", defaultValue: 0, minimum: 0, maximum: 64,
                    doc:
                        "Units of the tanh bottleneck layer, best below the number of metrics; 0: half the metrics,"
                        + " rounded up."),
                .init(
                    name: "epochs", kind: "integer", defaultValue: 60, minimum: 1, maximum: 500,
                    doc: "Passes over the training rows (at most max_rows of them)."),
                .init(
                    name: "batch_size", kind: "integer", defaultValue: 32, minimum: 1, maximum: 1024,
                    doc: "Rows per Adam step (mini-batch), shuffled each epoch."),
                .init(
                    name: "learning_rate", kind: "number", defaultValue: 0.003, minimum: 0.00001, maximum: 0.1,
                    doc: "Adam's step size (beta1 0.9, beta2 0.999, epsilon 1e-8)."),
                .init(
                    name: "l2", kind: "number", defaultValue: 0.0001, minimum: 0, maximum: 0.1,
                    doc: "L2 weight decay added to the mean squared error's gradient (weights, not biases)."),
                .init(
                    name: "max_rows", kind: "integer", defaultValue: 10000, minimum: 100, maximum: 100000,
                    doc:
                        "Training uses at most this many rows, drawn at random (seeded) from the training part: with"
                        + " epochs it bounds training time to about epochs x max_rows x 6 x weights operations."),
            ]
        case .pca:
            return shared + [
                .init(
                    name: "variance", kind: "number", defaultValue: 0.95, minimum: 0.01, maximum: 1,
                    doc:
                        "Keep the fewest principal components whose variances sum to this fraction of the"
                        + " standardised training variance (ignored when components is set)."),
                .init(
                    name: "components", kind: "integer", defaultValue: 0, minimum: 0, maximum: 256,
                    doc: "Keep exactly this many principal components (at most the metrics); 0: chosen by variance."),
            ]
        }
    }

    static let sharedHyperparameters: [HyperparameterSpec] = [
        .init(
            name: "input_window", kind: "integer", defaultValue: 20, minimum: 1, maximum: 1000,
            doc:
                "Each metric's input is the mean of its last input_window values, the current one last (1: the"
                + " value itself). Noisy sensors and sustained faults need it: 20 is SKAB's recipe."),
        .init(
            name: "score_window", kind: "integer", defaultValue: 1, minimum: 1, maximum: 1000,
            doc:
                "A point's raw score is the mean of the last score_window rows' raw scores (1: its own). A point"
                + " needs input_window + score_window - 1 consecutive complete rows."),
        .init(
            name: "calibration_fraction", kind: "number", defaultValue: 0.25, minimum: 0.05, maximum: 0.5,
            doc:
                "The last fraction of the training rows, in time order, is held out: the model is fitted on the"
                + " rows before and its scores are calibrated on these."),
        .init(
            name: "tail_fraction", kind: "number", defaultValue: 0.2, minimum: 0.01, maximum: 0.5,
            doc:
                "Calibration: an exponential tail is fitted to the top fraction of the held-out raw scores (at"
                + " least 2 of them); beyond them, tail probabilities come from it."),
        .init(
            name: "robust_scaling", kind: "boolean", defaultValue: 0, minimum: 0, maximum: 1,
            doc:
                "Standardise each metric by its training median and MAD x 1.4826 (1) instead of its mean and"
                + " sample standard deviation (0, the default)."),
    ]

    /// Checks the user's hyperparameters against the catalogue and fills in defaults. Unknown keys, a non-integer
    /// for an integer, a boolean other than 0/1, non-finite and out-of-range values throw, naming the key.
    public func effectiveHyperparameters(_ given: [String: Double]) throws(ModelError) -> [String: Double] {
        let specs = hyperparameters
        var out: [String: Double] = [:]
        for spec in specs { out[spec.name] = spec.defaultValue }
        for key in given.keys.sorted() {
            let value = given[key]!
            guard let spec = specs.first(where: { $0.name == key }) else {
                throw ModelError(
                    field: "hyperparameters.\(key)",
                    message:
                        "unknown hyperparameter for \(rawValue); allowed: \(specs.map(\.name).joined(separator: ", "))"
                )
            }
            let range = "\(spec.kind) from \(Self.format(spec.minimum)) to \(Self.format(spec.maximum))"
            guard value.isFinite else {
                throw ModelError(field: "hyperparameters.\(key)", message: "must be a finite \(range)")
            }
            if spec.kind == "integer" || spec.kind == "boolean", value != value.rounded() {
                throw ModelError(
                    field: "hyperparameters.\(key)",
                    message: "\(Self.format(value)) is not an integer; allowed: \(range)"
                )
            }
            guard value >= spec.minimum, value <= spec.maximum else {
                throw ModelError(
                    field: "hyperparameters.\(key)", message: "\(Self.format(value)) is out of range; allowed: \(range)"
                )
            }
            out[key] = value
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
