import Foundation

/// One model version as the worker, the anomalies and the explanations name it.
public struct ModelRef: Sendable, Hashable {
    public var id: UUID
    public var name: String
    public var version: Int
    public var algorithm: String

    public init(id: UUID, name: String, version: Int, algorithm: String) {
        self.id = id; self.name = name; self.version = version; self.algorithm = algorithm
    }

    /// The built-in streaming scorer's row in ad.ml_models (sql/pre_install/030_models.sql): every anomaly it finds
    /// refers to it, so `ad.anomalies.model_id` is never empty.
    public static let streamingID = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
    public static let streaming = ModelRef(id: streamingID, name: "streaming", version: 1, algorithm: "streaming")

    /// "name v3", as people read it.
    public var label: String { "\(name) v\(version)" }
}

/// A training job as `ad.train_model` stored it (`ad.ml_models.algorithm` and `parameters`), checked again: the
/// SQL function checked the arguments, but a row may also be written by hand.
public struct TrainingRequest: Sendable, Equatable {
    public var algorithm: ModelAlgorithm
    public var hyperparameters: [String: Double]
    public var trainFrom: Date
    public var trainTo: Date
    public var testFraction: Double
    public var seed: UInt64
    /// When set, the held-out split is the points from this time on (rather than the last `testFraction`).
    public var testFrom: Date?

    public init(
        algorithm: ModelAlgorithm, hyperparameters: [String: Double], trainFrom: Date, trainTo: Date,
        testFraction: Double, seed: UInt64, testFrom: Date? = nil
    ) {
        self.algorithm = algorithm; self.hyperparameters = hyperparameters; self.trainFrom = trainFrom
        self.trainTo = trainTo; self.testFraction = testFraction; self.seed = seed; self.testFrom = testFrom
    }

    public static func parse(algorithm: String, parameters: JSONValue) throws(ModelError) -> TrainingRequest {
        guard let a = ModelAlgorithm(rawValue: algorithm) else {
            throw ModelError(
                field: "algorithm",
                message:
                    "\"\(algorithm)\" is not one of \(ModelAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var hyper: [String: Double] = [:]
        switch parameters["hyperparameters"] {
        case .object(let pairs)?:
            for (k, v) in pairs {
                guard case .number(let x) = v else {
                    throw ModelError(field: "hyperparameters.\(k)", message: "must be a number")
                }
                hyper[k] = x
            }
        case nil, .null?: break
        default: throw ModelError(field: "hyperparameters", message: "must be a JSON object")
        }
        func time(_ key: String) throws(ModelError) -> Date {
            guard case .string(let s)? = parameters[key], let d = TrainingRequest.parseTime(s) else {
                throw ModelError(field: key, message: "must be a time")
            }
            return d
        }
        let from = try time("train_from"), to = try time("train_to")
        guard to > from else { throw ModelError(field: "train_to", message: "must be after train_from") }
        var fraction = 0.3
        if case .number(let f)? = parameters["test_fraction"] { fraction = f }
        guard fraction > 0, fraction <= 0.99 else {
            throw ModelError(field: "test_fraction", message: "must be in (0, 0.99], got \(fraction)")
        }
        var testFrom: Date?
        if parameters["test_from"] != nil, parameters["test_from"] != .null {
            testFrom = try time("test_from")
            guard testFrom! > from, testFrom! < to else {
                throw ModelError(field: "test_from", message: "must lie inside (train_from, train_to)")
            }
        }
        var seed: UInt64 = 1
        if case .number(let s)? = parameters["seed"] {
            guard s >= 0, s == s.rounded(), s < 9.2e18 else {
                throw ModelError(field: "seed", message: "must be a non-negative integer")
            }
            seed = UInt64(s)
        }
        return TrainingRequest(
            algorithm: a, hyperparameters: hyper, trainFrom: from, trainTo: to, testFraction: fraction, seed: seed,
            testFrom: testFrom)
    }

    /// PostgreSQL's `to_jsonb(timestamptz)`: `2026-12-06T01:50:36.136628+00:00` (fraction optional).
    static func parseTime(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}

/// The rows of a training window, in time order: per row its time (µs since 2000, as the scoring path carries
/// times), its values of the chosen metrics, whether people labelled it anomalous (a labelled incident window or a
/// confirmed anomaly), and the score the live scoring gave it (nil: not scored yet).
public struct TrainingRows: Sendable {
    public var metrics: [String]
    public var micros: [Int64] = []
    public var values: [[Double?]] = []
    public var anomalous: [Bool] = []
    public var liveScores: [Double?] = []

    public init(metrics: [String]) { self.metrics = metrics }

    public var count: Int { micros.count }

    public mutating func append(micros: Int64, values: [Double?], anomalous: Bool, liveScore: Double?) {
        self.micros.append(micros); self.values.append(values); self.anomalous.append(anomalous)
        liveScores.append(liveScore)
    }
}

/// What training produced: the model, and what is stored beside it (`ad.ml_models.metrics` and additions to
/// `parameters`).
public struct TrainingOutcome: Sendable {
    public var model: TrainedModel
    /// `{"evaluation": {...}, "production_on_split": {...}, "split": {...}, "training": {...}}`.
    public var metrics: JSONValue
    /// `{"metrics": [...], "rows": n, ...}`: added to the request's parameters.
    public var parameters: JSONValue
    /// Share of the evaluation split flagged at the `low` threshold (the drift monitor's reference).
    public var anomalyRate: Double
}

/// The training job's logic that needs no database: which metrics, the time split, fitting on the normal rows,
/// evaluating on the held-out split beside what production scoring did there. The worker reads the rows
/// (`TrainingStore`) and stores the outcome.
public enum TrainingPipeline {
    /// At most this many input metrics per model.
    public static let maxMetrics = 100
    /// Fewer rows than this in the fitting part is an error (a model fitted on a handful of rows means nothing).
    public static let minFitRows = 20

    /// The metrics a model of this source takes: those present on at least half of the window's rows, by name.
    public static func chooseMetrics(
        counts: [(metric: String, rows: Int)], totalRows: Int
    ) throws(ModelError)
        -> [String]
    {
        let chosen = counts.filter { $0.rows * 2 >= totalRows && $0.rows > 0 }.map(\.metric).sorted()
        guard !chosen.isEmpty else {
            throw ModelError(
                field: "source",
                message: "no metric is present on at least half of the \(totalRows) points in the window")
        }
        guard chosen.count <= maxMetrics else {
            throw ModelError(
                field: "source",
                message:
                    "\(chosen.count) metrics are present on at least half of the points; a model takes at most \(maxMetrics)"
            )
        }
        return chosen
    }

    /// The time split: the rows from `testFromMicros` on, or else the last `testFraction` of them (at least one),
    /// are held out to evaluate.
    public static func split(
        count: Int, testFraction: Double, micros: [Int64] = [], testFromMicros: Int64? = nil
    )
        -> (fit: Range<Int>, test: Range<Int>)
    {
        if let t = testFromMicros {
            let first = micros.firstIndex { $0 >= t } ?? count
            return (0..<first, first..<count)
        }
        let test = min(count, max(1, Int((Double(count) * testFraction).rounded(.up))))
        return (0..<(count - test), (count - test)..<count)
    }

    /// µs since 2000-01-01 UTC, as the rows carry times.
    static func micros(_ d: Date) -> Int64 { Int64(((d.timeIntervalSince1970 - 946_684_800) * 1_000_000).rounded()) }

    /// A model already in production for the same source, to compare on the same split.
    public struct Incumbent: Sendable {
        public var ref: ModelRef
        public var model: TrainedModel
        public init(ref: ModelRef, model: TrainedModel) { self.ref = ref; self.model = model }
    }

    /// Fits on the fitting part's rows people did not label anomalous, evaluates on the held-out split at
    /// `threshold` (the source's `low`), and compares with the incumbent production model on the same split, or
    /// with the live scores those points got (the streaming scorer) when there is none.
    public static func run(
        _ request: TrainingRequest, rows: TrainingRows, threshold: Double, incumbent: Incumbent?,
        progress: (_ status: String, _ text: String) -> Void = { _, _ in }
    ) throws(ModelError) -> TrainingOutcome {
        let (fit, test) = split(
            count: rows.count, testFraction: request.testFraction, micros: rows.micros,
            testFromMicros: request.testFrom.map(micros))
        guard !test.isEmpty else {
            throw ModelError(field: "test_from", message: "no point of the window lies at or after it")
        }
        let none = [Double?](repeating: nil, count: rows.metrics.count)
        // Rows labelled anomalous stay in place but empty, so windows that would reach over them are incomplete
        // and the model fits on none of them.
        var fitRows: [[Double?]] = []
        fitRows.reserveCapacity(fit.count)
        var left = 0
        for i in fit {
            if rows.anomalous[i] { fitRows.append(none); left += 1 } else { fitRows.append(rows.values[i]) }
        }
        guard fit.count - left >= minFitRows else {
            throw ModelError(
                field: "train_from",
                message:
                    "the window has \(rows.count) points: \(fit.count) to fit on (\(left) of them labelled anomalous) and \(test.count) held out; at least \(minFitRows) unlabelled points are needed to fit"
            )
        }
        progress("training", "fitting \(request.algorithm.rawValue) on \(fit.count - left) points")
        let started = ContinuousClock.now
        let model = try TrainedModel.train(
            algorithm: request.algorithm, hyperparameters: request.hyperparameters,
            data: TrainingData(metrics: rows.metrics, rows: fitRows), seed: request.seed)
        let fitSeconds = (ContinuousClock.now - started) / .seconds(1)
        // What the workers will load must read back: a model whose artifact does not is a failed job, never a
        // production model that silently scores nothing.
        do { _ = try TrainedModel(artifact: model.artifact()) } catch {
            throw ModelError(field: "artifact", message: "the trained model does not read back: \(error.message)")
        }
        progress("evaluating", "evaluating on \(test.count) held-out points")
        // Scored over the whole window so the held-out rows have their context.
        let all = TrainingData(metrics: rows.metrics, rows: rows.values)
        let scores = model.scores(all)
        let labels = Array(rows.anomalous[test])
        let ours = test.map { scores[$0]?.score ?? 0 }
        let evaluation = evaluate(scores: ours, labels: labels, threshold: threshold)
        var compared: JSONValue
        if let incumbent {
            let theirs = incumbent.model.scores(
                TrainingData(metrics: incumbent.model.metrics, rows: aligned(rows, to: incumbent.model.metrics)))
            compared = evaluate(
                scores: test.map { theirs[$0]?.score ?? 0 }, labels: labels, threshold: threshold,
                model: incumbent.ref)
        } else if test.contains(where: { rows.liveScores[$0] != nil }) {
            // What the live scoring (the streaming scorer) gave these points; a point it has not scored yet counts 0.
            compared = evaluate(
                scores: test.map { rows.liveScores[$0] ?? 0 }, labels: labels, threshold: threshold,
                model: .streaming)
        } else {
            compared = .null  // nothing scored the split yet: nothing to compare with
        }
        let flagged = ours.filter { $0 >= threshold }.count
        let metrics = JSONValue.object([
            ("evaluation", evaluation),
            ("production_on_split", compared),
            (
                "split",
                .object([
                    ("fit_points", .number(Double(fit.count))), ("fit_labelled_left_out", .number(Double(left))),
                    ("test_points", .number(Double(test.count))),
                    ("test_from_micros", .number(Double(rows.micros[test.lowerBound]))),
                    ("threshold", .number(threshold)),
                ])
            ),
            ("training", .object([("fit_seconds", .rounded(fitSeconds, 4))])),
        ])
        let parameters = JSONValue.object([
            ("metrics", .array(rows.metrics.map(JSONValue.string))),
            ("rows_needed", .number(Double(model.rowsNeeded))),
            (
                "effective_hyperparameters",
                .object(model.hyperparameters.sorted { $0.key < $1.key }.map { ($0, .number($1)) })
            ),
        ])
        return TrainingOutcome(
            model: model, metrics: metrics, parameters: parameters,
            anomalyRate: test.isEmpty ? 0 : Double(flagged) / Double(test.count))
    }

    /// The rows' values in another model's metric order (nil where this window lacks one of its metrics).
    static func aligned(_ rows: TrainingRows, to metrics: [String]) -> [[Double?]] {
        let index = Dictionary(rows.metrics.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let map = metrics.map { index[$0] }
        return rows.values.map { r in map.map { $0.flatMap { r[$0] } } }
    }

    /// Precision, recall, F1 and ROC AUC at `threshold`, with the counts; nil where undefined (no labelled
    /// anomaly in the split: then only the false alarm rate says something).
    public static func evaluate(
        scores: [Double], labels: [Bool], threshold: Double, model: ModelRef? = nil
    )
        -> JSONValue
    {
        let m = ClassificationMetrics.evaluate(scores: scores, labels: labels, threshold: threshold)
        let negatives = m.falsePositives + m.trueNegatives
        var pairs: [(String, JSONValue)] = []
        if let model {
            pairs += [("model", .string(model.label)), ("model_id", .string(model.id.uuidString.lowercased()))]
        }
        pairs += [
            ("precision", .rounded(m.precision, 6)), ("recall", .rounded(m.recall, 6)), ("f1", .rounded(m.f1, 6)),
            ("roc_auc", .rounded(m.rocAUC, 6)),
            ("false_alarm_rate", .rounded(negatives == 0 ? nil : Double(m.falsePositives) / Double(negatives), 6)),
            ("points", .number(Double(labels.count))),
            ("anomalous_points", .number(Double(m.truePositives + m.falseNegatives))),
            ("flagged_points", .number(Double(m.truePositives + m.falsePositives))),
            ("true_positives", .number(Double(m.truePositives))),
            ("false_positives", .number(Double(m.falsePositives))),
            ("false_negatives", .number(Double(m.falseNegatives))),
            ("threshold", .number(threshold)),
        ]
        return .object(pairs)
    }
}
