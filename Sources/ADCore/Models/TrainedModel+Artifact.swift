/// The artifact, format version 1, little-endian (see `ArtifactWriter`):
///
///     u32 format version (1)            — always first, so a later format is refused by name
///     str algorithm                     — "isolation_forest" | "autoencoder" | "pca"
///     u32 d, d × str metric             — 1...256 metrics, each ≤ 1024 UTF-8 bytes
///     u32 h, h × (str key, f64 value)   — every effective hyperparameter, keys sorted; checked against the catalogue
///     u32 fit rows, u32 calibration rows
///     d × f64 centre, d × f64 scale     — the standardiser (scales > 0)
///     engine:
///       isolation_forest: f64 c(sample_size), u32 trees, trees × i32 root, u32 nodes,
///                         nodes × (i32 feature or −1, i32 left child, f64 threshold or leaf path length)
///       autoencoder:      u32 parameter count, the weights then biases of each layer (d→hidden→code→hidden→d)
///       pca:              u32 k, d × f64 eigenvalue, d×d f64 eigenvectors (column i = vector i), f64 residual scale
///     calibration: u32 n, u32 nt, u32 knots (1...1024), knots × f64 raw, knots × f64 count at or above, f64 β
///
/// Every double is stored by bit pattern (a decoded model scores exactly as the encoded one) and must be finite.
/// Sizes follow from the hyperparameter bounds: an isolation forest is at most trees × (2 × sample_size − 1) × 16
/// bytes (1.6 MB at the defaults: 100 trees of at most 511 nodes), an autoencoder 8 bytes per weight, a PCA
/// 8 × d × (d + 1) bytes, the calibration at most 16 KB.
extension TrainedModel {
    public func artifact() -> [UInt8] {
        var w = ArtifactWriter()
        w.u32(Self.formatVersion)
        w.string(algorithm.rawValue)
        w.int(metrics.count)
        for m in metrics { w.string(m) }
        let keys = hyperparameters.keys.sorted()
        w.int(keys.count)
        for k in keys {
            w.string(k)
            w.f64(hyperparameters[k]!)
        }
        w.int(fitRows)
        w.int(calibrationRows)
        w.doubles(standardizer.center)
        w.doubles(standardizer.scale)
        switch engine {
        case .forest(let f): f.write(&w)
        case .autoencoder(let a): a.write(&w)
        case .pca(let p): p.write(&w)
        }
        calibration.write(&w)
        return w.bytes
    }

    /// Decodes an artifact; an unknown version, truncated or hostile bytes throw ModelError(field: "artifact").
    public init(artifact bytes: [UInt8]) throws(ModelError) {
        var r = ArtifactReader(bytes)
        let version = try r.u32("format version")
        guard version == Self.formatVersion else {
            throw ModelError(
                field: "artifact",
                message: "format version \(version) is not supported; this build reads version \(Self.formatVersion)")
        }
        let name = try r.string("algorithm", maxBytes: 64)
        guard let algorithm = ModelAlgorithm(rawValue: name) else {
            throw ModelError(field: "artifact", message: "unknown algorithm \(name)")
        }
        let d = try r.count("metric count", min: 1, max: Self.maxMetrics, elementSize: 4)
        var metrics = [String]()
        for _ in 0..<d { metrics.append(try r.string("metric name", maxBytes: Self.maxMetricNameBytes)) }
        guard Set(metrics).count == d else { throw ModelError(field: "artifact", message: "metric names repeat") }
        let specs = algorithm.hyperparameters
        let h = try r.count("hyperparameter count", min: specs.count, max: specs.count, elementSize: 12)
        var given = [String: Double]()
        for _ in 0..<h {
            let key = try r.string("hyperparameter name", maxBytes: 64)
            given[key] = try r.f64("hyperparameter \(key)")
        }
        let hp: [String: Double]
        do { hp = try algorithm.effectiveHyperparameters(given) } catch {
            throw ModelError(field: "artifact", message: "stored hyperparameters: \(error.description)")
        }
        guard given.count == specs.count else {
            throw ModelError(field: "artifact", message: "stored hyperparameters repeat a key")
        }
        let fitRows = Int(try r.u32("fit rows"))
        let calibrationRows = Int(try r.u32("calibration rows"))
        let center = try r.doubles(d, "standardiser centre")
        let scale = try r.doubles(d, "standardiser scale")
        guard scale.allSatisfy({ $0 > 0 }) else {
            throw ModelError(field: "artifact", message: "standardiser scales must be positive")
        }
        let engine: Engine
        switch algorithm {
        case .isolationForest:
            engine = .forest(
                try IsolationForest(
                    reading: &r, dimensions: d, trees: Int(hp["trees"]!), sampleSize: Int(hp["sample_size"]!)))
        case .autoencoder:
            let hidden = Int(hp["hidden"]!)
            let code = Int(hp["code"]!)
            guard hidden >= 1, code >= 1 else {
                throw ModelError(field: "artifact", message: "autoencoder layer sizes must be at least 1")
            }
            engine = .autoencoder(try Autoencoder(reading: &r, widths: [d, hidden, code, hidden, d]))
        case .pca:
            engine = .pca(try PCAModel(reading: &r, dimensions: d))
        }
        let calibration = try Calibration(reading: &r)
        try r.finish()
        self.init(
            algorithm: algorithm, metrics: metrics, hyperparameters: hp, fitRows: fitRows,
            calibrationRows: calibrationRows, inputWindow: Int(hp["input_window"]!),
            scoreWindow: Int(hp["score_window"]!), standardizer: Standardizer(center: center, scale: scale),
            engine: engine, calibration: calibration)
    }
}
