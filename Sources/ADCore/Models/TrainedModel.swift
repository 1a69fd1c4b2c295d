import Foundation

/// Time-ordered training rows: `rows[r][j]` is metric `metrics[j]` at row r (nil: absent on that row).
public struct TrainingData: Sendable {
    public var metrics: [String]
    public var rows: [[Double?]]
    public init(metrics: [String], rows: [[Double?]]) {
        self.metrics = metrics
        self.rows = rows
    }
}

/// One point's model score.
public struct ModelScore: Sendable, Equatable {
    /// The algorithm's own anomaly statistic (higher = more anomalous), after score smoothing.
    public var raw: Double
    /// −log10 of the raw score's tail probability among held-out normal data (`Calibration`).
    public var surprise: Double
    /// `PointScore.score(surprise:)` = surprise / (surprise + 10): the SAME scale as the streaming scorer, so the
    /// source's thresholds apply unchanged.
    public var score: Double
    /// Each input metric's share of the statistic: shares ≥ 0 summing to 1, largest first (ties in metric order).
    public var contributions: [(metric: String, share: Double)]

    public init(raw: Double, surprise: Double, score: Double, contributions: [(metric: String, share: Double)]) {
        self.raw = raw
        self.surprise = surprise
        self.score = score
        self.contributions = contributions
    }

    public static func == (a: ModelScore, b: ModelScore) -> Bool {
        a.raw == b.raw && a.surprise == b.surprise && a.score == b.score
            && a.contributions.count == b.contributions.count
            && zip(a.contributions, b.contributions).allSatisfy { $0.metric == $1.metric && $0.share == $1.share }
    }
}

/// A trained, calibrated model: what `ad.train_model` produces and live scoring loads from its artifact.
///
/// The pipeline for one row, the same in training, in `scores(_:)` and in `score(recent:)`:
/// 1. input smoothing: each metric's input is the mean of its last `input_window` values (oldest first);
/// 2. standardisation by the training part's median and robust scale (`Standardizer`);
/// 3. the algorithm's raw statistic and each input's non-negative contribution amount (isolation forest: the
///    squared standardised deviation, since a forest has no additive decomposition and this is what a person
///    checks first; autoencoder: squared reconstruction error; PCA: T² and Q terms);
/// 4. score smoothing: the raw score is the mean of the last `score_window` rows' raw statistics, and the amounts
///    are summed over the same rows;
/// 5. calibration of that raw score into a surprise (`Calibration`), and the score on the streaming scorer's scale.
public struct TrainedModel: Sendable {
    /// The artifact format this build writes (and the only one it reads).
    public static let formatVersion: UInt32 = 1
    /// The most input metrics a model takes (bounds training time and the artifact).
    public static let maxMetrics = 256
    /// The most work (epochs × rows × weights) an autoencoder may train for: about 11 minutes on one core.
    public static let maxAutoencoderWork = 1e11
    /// The longest metric name, in UTF-8 bytes.
    public static let maxMetricNameBytes = 1024

    public let algorithm: ModelAlgorithm
    /// Input metrics, in the order `score` takes them.
    public let metrics: [String]
    /// Effective values, defaults filled in.
    public let hyperparameters: [String: Double]
    /// How many consecutive values of each metric (the current one last) one point's score needs: input smoothing
    /// and score smoothing together (input_window + score_window − 1). A point with fewer gets no model score.
    public let rowsNeeded: Int
    /// Rows the model was fitted on, and held-out rows its scores were calibrated on.
    public let fitRows: Int
    public let calibrationRows: Int

    let inputWindow: Int
    let scoreWindow: Int
    let standardizer: Standardizer
    let engine: Engine
    let calibration: Calibration

    enum Engine: Sendable, Equatable {
        case forest(IsolationForest)
        case autoencoder(Autoencoder)
        case pca(PCAModel)
    }

    /// Model metrics are the input features (one per metric).
    public var featureNames: [String] { metrics }

    // MARK: Training

    /// Fits on `data` (all of it is taken as normal: the caller has already removed labelled rows and the
    /// evaluation split). Holds out the last round(`calibration_fraction` · rows) rows, in time order, to calibrate
    /// (their smoothing windows may reach back into the rows before); the standardiser and the model are fitted on
    /// the complete rows before them. Throws ModelError naming
    /// "hyperparameters.<key>" for unknown keys, wrong kinds and out-of-range values; "data" when there are too few
    /// complete rows (saying how many are needed and how many there were) or a metric is constant or absent;
    /// "data.metrics" for no metrics, too many, duplicates, or rows of the wrong width.
    public static func train(
        algorithm: ModelAlgorithm, hyperparameters given: [String: Double], data: TrainingData, seed: UInt64
    ) throws(ModelError) -> TrainedModel {
        var hp = try algorithm.effectiveHyperparameters(given)
        let d = data.metrics.count
        guard d >= 1, d <= maxMetrics else {
            throw ModelError(field: "data.metrics", message: "\(d) metrics; a model takes 1 to \(maxMetrics)")
        }
        guard Set(data.metrics).count == d else {
            throw ModelError(field: "data.metrics", message: "metric names must be distinct")
        }
        if let long = data.metrics.first(where: { $0.utf8.count > maxMetricNameBytes }) {
            throw ModelError(
                field: "data.metrics",
                message: "metric name \(long.prefix(40))… is longer than \(maxMetricNameBytes) bytes")
        }
        if let r = data.rows.firstIndex(where: { $0.count != d }) {
            throw ModelError(
                field: "data.rows", message: "row \(r) has \(data.rows[r].count) values; expected \(d) (one per metric)"
            )
        }
        if algorithm == .autoencoder {
            // 0 means sized by the metrics; the model records the sizes it used.
            if hp["hidden"] == 0 { hp["hidden"] = Double(max(2, d)) }
            if hp["code"] == 0 { hp["code"] = Double(min(64, (d + 1) / 2)) }
        }
        let iw = Int(hp["input_window"]!)
        let sw = Int(hp["score_window"]!)
        let cf = hp["calibration_fraction"]!
        let columns = Self.columns(data, metrics: data.metrics)!
        let features = Self.smoothedInputs(columns, rows: data.rows.count, window: iw)
        for j in 0..<d where !columns[j].contains(where: \.isFinite) {
            throw ModelError(field: "data", message: "metric \(data.metrics[j]) has no value in the training rows")
        }
        // The split (SKAB recipe, step 2): the last round(calibration_fraction · N) rows are held out; the model is
        // fitted on the complete rows before them.
        let total = data.rows.count
        let minFit = max(32, 2 * (d + 1))
        let minCal = Calibration.minimumRows
        func heldOutRows(_ n: Int) -> Int { Int((cf * Double(n)).rounded(.toNearestOrEven)) }
        let calibrationStart = total - heldOutRows(total)
        let fitIndices = (0..<calibrationStart).filter { features.valid[$0] }
        var needed = minFit + minCal + iw - 1
        while needed - heldOutRows(needed) - (iw - 1) < minFit || heldOutRows(needed) < minCal + sw - 1 {
            needed += 1
        }
        func tooFew(_ scored: Int?) -> ModelError {
            let held = scored.map { "\($0) scored held-out" } ?? "\(total - calibrationStart) held out"
            return ModelError(
                field: "data",
                message:
                    "too few rows to train: \(needed) needed (with input_window \(iw), score_window \(sw) and"
                    + " calibration_fraction \(cf), at least \(minFit) complete rows to fit the model on, then"
                    + " \(minCal) scored held-out rows), there were \(total) rows: \(fitIndices.count) complete to fit on"
                    + " and \(held)")
        }
        let nFit = fitIndices.count
        guard nFit >= minFit, total - calibrationStart >= minCal else { throw tooFew(nil) }
        let fitRowsRaw = fitIndices.map { r in Array(features.values[(r * d)..<(r * d + d)]) }
        let standardizer = try Standardizer(
            fitting: fitRowsRaw, names: data.metrics, robust: hp["robust_scaling"]! == 1)
        var fitMatrix = [Double]()
        fitMatrix.reserveCapacity(nFit * d)
        for row in fitRowsRaw {
            for j in 0..<d { fitMatrix.append((row[j] - standardizer.center[j]) / standardizer.scale[j]) }
        }
        var rng = SeededGenerator(seed: seed)
        let engine: Engine
        switch algorithm {
        case .isolationForest:
            engine = .forest(
                IsolationForest(
                    rows: fitMatrix, count: nFit, dimensions: d, trees: Int(hp["trees"]!),
                    sampleSize: Int(hp["sample_size"]!), rng: &rng))
        case .autoencoder:
            let h = Int(hp["hidden"]!)
            let c = Int(hp["code"]!)
            // Training time is about epochs × rows × weights / 1.5e8 seconds on one core (release build): refuse
            // more than 1e11 (some 11 minutes), which every default allows even at 256 metrics.
            let weights = Autoencoder.parameterCount([d, h, c, h, d])
            let work = Double(hp["epochs"]!) * Double(min(nFit, Int(hp["max_rows"]!))) * Double(weights)
            guard work <= Self.maxAutoencoderWork else {
                throw ModelError(
                    field: "hyperparameters.epochs",
                    message:
                        "epochs x rows x weights = \(Int(hp["epochs"]!)) x \(min(nFit, Int(hp["max_rows"]!))) x"
                        + " \(weights) is over the training budget of 1e11; lower epochs, max_rows, hidden or code")
            }
            engine = .autoencoder(
                Autoencoder(
                    rows: fitMatrix, count: nFit, widths: [d, h, c, h, d],
                    settings: .init(
                        epochs: Int(hp["epochs"]!), batchSize: Int(hp["batch_size"]!),
                        learningRate: hp["learning_rate"]!, l2: hp["l2"]!, maxRows: Int(hp["max_rows"]!)),
                    rng: &rng))
        case .pca:
            engine = .pca(
                PCAModel(
                    rows: fitMatrix, count: nFit, dimensions: d, variance: hp["variance"]!,
                    components: Int(hp["components"]!)))
        }
        // Calibrate on the held-out rows' smoothed raw scores (a window may reach back into the fitted rows).
        var model = TrainedModel(
            algorithm: algorithm, metrics: data.metrics, hyperparameters: hp, fitRows: nFit, calibrationRows: 0,
            inputWindow: iw, scoreWindow: sw, standardizer: standardizer, engine: engine,
            calibration: Calibration(count: 2, tailCount: 1, knots: [0], atOrAbove: [1], tailScale: 1))
        let raws = model.rawAndAmounts(columns: columns, rows: data.rows.count, features: features, wantAmounts: false)
        var heldOut = [Double]()
        for r in calibrationStart..<total {
            if let v = model.smoothedRaw(raws.raw, at: r), v.isFinite { heldOut.append(v) }
        }
        guard heldOut.count >= minCal else { throw tooFew(heldOut.count) }
        model = TrainedModel(
            algorithm: algorithm, metrics: data.metrics, hyperparameters: hp, fitRows: nFit,
            calibrationRows: heldOut.count, inputWindow: iw, scoreWindow: sw, standardizer: standardizer,
            engine: engine, calibration: Calibration(heldOut: heldOut, tailFraction: hp["tail_fraction"]!))
        return model
    }

    init(
        algorithm: ModelAlgorithm, metrics: [String], hyperparameters: [String: Double], fitRows: Int,
        calibrationRows: Int, inputWindow: Int, scoreWindow: Int, standardizer: Standardizer, engine: Engine,
        calibration: Calibration
    ) {
        self.algorithm = algorithm
        self.metrics = metrics
        self.hyperparameters = hyperparameters
        self.fitRows = fitRows
        self.calibrationRows = calibrationRows
        self.inputWindow = inputWindow
        self.scoreWindow = scoreWindow
        self.rowsNeeded = inputWindow + scoreWindow - 1
        self.standardizer = standardizer
        self.engine = engine
        self.calibration = calibration
    }

    // MARK: The shared pipeline

    /// Each model metric's column from `data` (by name, so extra or reordered metrics are fine), non-finite and
    /// absent values as NaN; nil when a model metric is missing from `data`.
    static func columns(_ data: TrainingData, metrics: [String]) -> [[Double]]? {
        var out = [[Double]]()
        for m in metrics {
            guard let j = data.metrics.firstIndex(of: m) else { return nil }
            out.append(
                data.rows.map { row in
                    guard j < row.count, let v = row[j], v.isFinite else { return .nan }
                    return v
                })
        }
        return out
    }

    /// Input smoothing: row-major n × d means of each metric's last `window` values, summed oldest first; a row is
    /// valid when every value in every window is finite.
    static func smoothedInputs(_ columns: [[Double]], rows n: Int, window: Int) -> (values: [Double], valid: [Bool]) {
        let d = columns.count
        var values = [Double](repeating: .nan, count: n * d)
        var valid = [Bool](repeating: false, count: n)
        guard n >= window else { return (values, valid) }
        for r in (window - 1)..<n {
            var ok = true
            for j in 0..<d {
                var sum = 0.0
                for t in (r - window + 1)...r { sum += columns[j][t] }
                let v = window == 1 ? sum : sum / Double(window)
                values[r * d + j] = v
                if !v.isFinite { ok = false }
            }
            valid[r] = ok
        }
        return (values, valid)
    }

    /// Each valid row's raw statistic (NaN elsewhere) and, when asked, its per-input contribution amounts.
    func rawAndAmounts(
        columns: [[Double]], rows n: Int, features: (values: [Double], valid: [Bool]), wantAmounts: Bool
    ) -> (raw: [Double], amounts: [Double]) {
        let d = metrics.count
        var raw = [Double](repeating: .nan, count: n)
        var amounts = [Double](repeating: 0, count: wantAmounts ? n * d : 0)
        var z = [Double](repeating: 0, count: d)
        var a = [Double](repeating: 0, count: d)
        var aeWork: Autoencoder.Workspace? = nil
        var pcaWork: [Double] = []
        switch engine {
        case .autoencoder(let ae): aeWork = Autoencoder.Workspace(widths: ae.widths)
        case .pca: pcaWork = [Double](repeating: 0, count: d)
        case .forest: break
        }
        let center = standardizer.center
        let scale = standardizer.scale
        if case .forest(let forest) = engine {
            // Blocks of up to 256 valid rows, standardised, then scored tree by tree.
            let block = 256
            var zs = [Double](repeating: 0, count: block * d)
            var rowsOf = [Int](repeating: 0, count: block)
            var out = [Double](repeating: 0, count: block)
            var filled = 0
            func flush() {
                zs.withUnsafeBufferPointer { zb in
                    out.withUnsafeMutableBufferPointer { ob in
                        forest.raw(rows: zb.baseAddress!, count: filled, dimensions: d, into: ob.baseAddress!)
                    }
                }
                for k in 0..<filled { raw[rowsOf[k]] = out[k] }
                filled = 0
            }
            for r in 0..<n where features.valid[r] {
                for j in 0..<d {
                    let v = (features.values[r * d + j] - center[j]) / scale[j]
                    zs[filled * d + j] = v
                    if wantAmounts { amounts[r * d + j] = v * v }
                }
                rowsOf[filled] = r
                filled += 1
                if filled == block { flush() }
            }
            if filled > 0 { flush() }
            return (raw, amounts)
        }
        for r in 0..<n where features.valid[r] {
            for j in 0..<d { z[j] = (features.values[r * d + j] - center[j]) / scale[j] }
            let value: Double
            switch engine {
            case .forest: preconditionFailure("scored above")
            case .autoencoder(let ae):
                value = z.withUnsafeBufferPointer { zb in
                    a.withUnsafeMutableBufferPointer { ab in
                        ae.raw(zb.baseAddress!, amounts: ab.baseAddress!, work: &aeWork!)
                    }
                }
            case .pca(let p):
                value = z.withUnsafeBufferPointer { p.raw($0.baseAddress!, amounts: &a, work: &pcaWork) }
            }
            raw[r] = value
            if wantAmounts { for j in 0..<d { amounts[r * d + j] = a[j] } }
        }
        return (raw, amounts)
    }

    /// The mean of the last `scoreWindow` raw statistics ending at row r, summed oldest first; nil when any is
    /// missing.
    @inline(__always)
    func smoothedRaw(_ raw: [Double], at r: Int) -> Double? {
        guard r + 1 >= scoreWindow else { return nil }
        if scoreWindow == 1 { return raw[r].isNaN ? nil : raw[r] }
        var sum = 0.0
        for t in (r - scoreWindow + 1)...r {
            if raw[t].isNaN { return nil }
            sum += raw[t]
        }
        return sum / Double(scoreWindow)
    }

    /// Scores every row of `columns` (n rows): the one routine behind `scores` and `score(recent:)`.
    func scoreColumns(_ columns: [[Double]], rows n: Int, only: Range<Int>? = nil) -> [ModelScore?] {
        let d = metrics.count
        let features = Self.smoothedInputs(columns, rows: n, window: inputWindow)
        let (raw, amounts) = rawAndAmounts(columns: columns, rows: n, features: features, wantAmounts: true)
        let range = only ?? 0..<n
        var out = [ModelScore?](repeating: nil, count: range.count)
        var shares = [Double](repeating: 0, count: d)
        var order = [Int](repeating: 0, count: d)
        for r in range {
            guard let value = smoothedRaw(raw, at: r), value.isFinite else { continue }
            var total = 0.0
            for j in 0..<d {
                var s = 0.0
                for t in (r - scoreWindow + 1)...r { s += amounts[t * d + j] }
                shares[j] = s
                total += s
            }
            // Largest share first, ties in metric order: an insertion sort of the indices in place (d is small,
            // and this runs for every scored row, so no closure and no second array).
            let even = !(total > 0 && total.isFinite)
            for j in 0..<d {
                var k = j
                while !even && k > 0 && shares[order[k - 1]] < shares[j] {
                    order[k] = order[k - 1]
                    k -= 1
                }
                order[k] = j
            }
            let contributions = [(metric: String, share: Double)](unsafeUninitializedCapacity: d) { buffer, count in
                for k in 0..<d {
                    let j = order[k]
                    (buffer.baseAddress! + k).initialize(to: (metrics[j], even ? 1 / Double(d) : shares[j] / total))
                }
                count = d
            }
            let surprise = calibration.surprise(value)
            out[r - range.lowerBound] = ModelScore(
                raw: value, surprise: surprise, score: PointScore.score(surprise: surprise),
                contributions: contributions)
        }
        return out
    }

    // MARK: Scoring

    /// One point: `recent[j]` is metric j's last values, oldest first, the current value last (at least
    /// `rowsNeeded` of them; extra earlier values are ignored). Nil when any is missing/too short/non-finite.
    public func score(recent: [ArraySlice<Double>]) -> ModelScore? {
        guard recent.count == metrics.count else { return nil }
        let k = rowsNeeded
        var columns = [[Double]]()
        columns.reserveCapacity(metrics.count)
        for slice in recent {
            guard slice.count >= k else { return nil }
            columns.append(Array(slice.suffix(k)))
        }
        return scoreColumns(columns, rows: k, only: (k - 1)..<k)[0]
    }

    /// Every row of a time-ordered series at once (evaluation, drift, benchmarks): nil where a row lacks what it
    /// needs. Same numbers as calling `score(recent:)` row by row. Metrics are matched by name.
    public func scores(_ data: TrainingData) -> [ModelScore?] {
        guard let columns = Self.columns(data, metrics: metrics) else {
            return [ModelScore?](repeating: nil, count: data.rows.count)
        }
        return scoreColumns(columns, rows: data.rows.count)
    }

    /// Only the smoothed raw statistic of every row (nil where a row lacks what it needs): the bench's path,
    /// comparable with scikit-learn's `score_samples` (negated), without calibration or contributions.
    public func rawScores(_ data: TrainingData) -> [Double?] {
        guard let columns = Self.columns(data, metrics: metrics) else {
            return [Double?](repeating: nil, count: data.rows.count)
        }
        let features = Self.smoothedInputs(columns, rows: data.rows.count, window: inputWindow)
        let raw = rawAndAmounts(columns: columns, rows: data.rows.count, features: features, wantAmounts: false).raw
        return (0..<data.rows.count).map { smoothedRaw(raw, at: $0) }
    }

    /// The model's input features for each row (smoothed and standardised, in `featureNames` order), for drift
    /// checks; nil where a row lacks what it needs.
    public func features(_ data: TrainingData) -> [[Double]?] {
        guard let columns = Self.columns(data, metrics: metrics) else {
            return [[Double]?](repeating: nil, count: data.rows.count)
        }
        let d = metrics.count
        let f = Self.smoothedInputs(columns, rows: data.rows.count, window: inputWindow)
        return (0..<data.rows.count).map { r in
            guard f.valid[r] else { return nil }
            return (0..<d).map { j in (f.values[r * d + j] - standardizer.center[j]) / standardizer.scale[j] }
        }
    }

    /// The surprise a raw statistic stands for (the calibration alone).
    public func surprise(raw: Double) -> Double { calibration.surprise(raw) }
}
