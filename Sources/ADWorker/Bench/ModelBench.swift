import ADCore
import Foundation

/// (f) Isolation Forest, ours beside scikit-learn's, on the same data in the same run: training time, scoring
/// points per second on one core, and ROC AUC. The data: `trainRows` normal rows and `scoreRows` rows of which 2%
/// are anomalies, 8 metrics, three correlated Gaussian clusters (anomalies: near a cluster without its correlation, 2.5 off on two metrics),
/// from a fixed seed. Both sides grow `seeds` forests (seeds 1…n), `n_estimators=100`, `max_samples=256` (our
/// defaults too; no input smoothing on ours, as scikit-learn has none): the figures are medians of the times and the
/// mean ROC AUC, since one forest's AUC varies with its seed by about 0.01. Ours scores through
/// `TrainedModel.rawScores` (the forest's own score, what `score_samples` computes), and also through `scores`
/// (calibrated, with contributions: what the worker stores); scikit-learn through `score_samples` with one thread
/// (`OMP_NUM_THREADS=1`, `n_jobs=1`).
struct ModelBench {
    var trainRows: Int
    var scoreRows: Int
    var python: String?
    var seeds = 5

    struct Result {
        var trainSeconds: Double, scorePointsPerSecond: Double, rocAUC: Double?
        /// Through `scores` (calibrated, with contributions).
        var calibratedPointsPerSecond: Double
        var sklearn: SKLearn?
        var sklearnProblem: String?
        struct SKLearn: Decodable {
            var fit_seconds: Double, score_points_per_s: Double, roc_auc: Double, version: String
        }
        var ratio: Double? { sklearn.map { scorePointsPerSecond / $0.score_points_per_s } }
    }

    /// SplitMix64: a fixed, portable sequence so the data is the same in every run (no Foundation randomness).
    struct Mix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func gaussian() -> Double {
            let u = Double.random(in: Double.ulpOfOne..<1, using: &self), v = Double.random(in: 0..<1, using: &self)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
    }

    static let metrics = (1...8).map { "m\($0)" }

    static func data(rows: Int, anomalies: Double, rng: inout Mix) -> (rows: [[Double?]], labels: [Bool]) {
        let centres: [[Double]] = [[0, 0, 0, 0, 0, 0, 0, 0], [4, 4, 0, 0, 2, 2, 0, 0], [0, 4, 4, 0, 0, 2, 2, 0]]
        var out: [[Double?]] = [], labels: [Bool] = []
        out.reserveCapacity(rows); labels.reserveCapacity(rows)
        for _ in 0..<rows {
            if Double.random(in: 0..<1, using: &rng) < anomalies {
                // Near a cluster, but without its correlation and 2.5 off on two metrics: not trivially separable.
                let c = centres[Int.random(in: 0..<3, using: &rng)]
                let (i, j) = (Int.random(in: 0..<8, using: &rng), Int.random(in: 0..<8, using: &rng))
                out.append(
                    (0..<8).map { k in
                        c[k] + 0.9 * rng.gaussian() + (k == i || k == j ? 2.5 : 0)
                    })
                labels.append(true)
            } else {
                let c = centres[Int.random(in: 0..<3, using: &rng)]
                let shared = rng.gaussian()  // correlates the metrics within a cluster
                out.append((0..<8).map { c[$0] + 0.7 * shared + 0.5 * rng.gaussian() }); labels.append(false)
            }
        }
        return (out, labels)
    }

    func run() throws -> Result {
        var rng = Mix(state: 20_261_206)
        let train = Self.data(rows: trainRows, anomalies: 0, rng: &rng)
        let test = Self.data(rows: scoreRows, anomalies: 0.02, rng: &rng)
        let clock = ContinuousClock()
        let data = TrainingData(metrics: Self.metrics, rows: test.rows)
        var trains: [Double] = [], scoring: [Double] = [], calibrated: [Double] = [], aucs: [Double] = []
        for seed in 1...seeds {
            var t0 = clock.now
            let model = try TrainedModel.train(
                algorithm: .isolationForest, hyperparameters: ["trees": 100, "sample_size": 256, "input_window": 1],
                data: TrainingData(metrics: Self.metrics, rows: train.rows), seed: UInt64(seed))
            trains.append((clock.now - t0) / .seconds(1))
            t0 = clock.now
            let raw = model.rawScores(data)
            scoring.append((clock.now - t0) / .seconds(1))
            t0 = clock.now
            _ = model.scores(data)
            calibrated.append((clock.now - t0) / .seconds(1))
            if let auc = ClassificationMetrics.evaluate(
                scores: raw.map { $0 ?? 0 }, labels: test.labels, threshold: .infinity
            ).rocAUC {
                aucs.append(auc)
            }
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        var result = Result(
            trainSeconds: median(trains), scorePointsPerSecond: Double(scoreRows) / median(scoring),
            rocAUC: aucs.isEmpty ? nil : aucs.reduce(0, +) / Double(aucs.count),
            calibratedPointsPerSecond: Double(scoreRows) / median(calibrated))
        do {
            result.sklearn = try sklearn(train: train.rows, test: test.rows, labels: test.labels)
        } catch {
            result.sklearnProblem = "\(error)"
        }
        return result
    }

    struct Problem: Error, CustomStringConvertible { var description: String }

    /// The python with scikit-learn: AD_BENCH_PYTHON, else the test virtualenv (.venv-mlflow, which
    /// scripts/lib/mlflow-venv.sh installs with MLflow and scikit-learn), else python3.
    static func findPython() -> String {
        if let p = ProcessInfo.processInfo.environment["AD_BENCH_PYTHON"] { return p }
        let venv = FileManager.default.currentDirectoryPath + "/.venv-mlflow/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/python3"
    }

    private func sklearn(train: [[Double?]], test: [[Double?]], labels: [Bool]) throws -> Result.SKLearn {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ad-bench-iforest-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ rows: [[Double?]], _ name: String, labels: [Bool]? = nil) throws {
            var text = ""
            text.reserveCapacity(rows.count * 100)
            for (i, r) in rows.enumerated() {
                text += r.map { String($0 ?? .nan) }.joined(separator: ",")
                if let labels { text += labels[i] ? ",1" : ",0" }
                text += "\n"
            }
            try text.write(to: dir.appendingPathComponent(name), atomically: false, encoding: .utf8)
        }
        try write(train, "train.csv")
        try write(test, "test.csv", labels: labels)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python ?? Self.findPython())
        p.arguments = ["-c", Self.script, dir.path, String(seeds)]
        var env = ProcessInfo.processInfo.environment
        for k in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] { env[k] = "1" }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Problem(
                description:
                    "scikit-learn not run (\(p.executableURL!.path) exited \(p.terminationStatus): \(errText.split(separator: "\n").last ?? "")); scripts/lib/mlflow-venv.sh installs a python with it, or set AD_BENCH_PYTHON"
            )
        }
        return try JSONDecoder().decode(Result.SKLearn.self, from: data)
    }

    static let script = """
        import sys, time, json, numpy as np, sklearn
        from sklearn.ensemble import IsolationForest
        from sklearn.metrics import roc_auc_score
        d, seeds = sys.argv[1], int(sys.argv[2])
        train = np.loadtxt(d + "/train.csv", delimiter=",")
        test = np.loadtxt(d + "/test.csv", delimiter=",")
        x, y = test[:, :-1], test[:, -1]
        fits, scores, aucs = [], [], []
        for seed in range(1, seeds + 1):
            f = IsolationForest(n_estimators=100, max_samples=256, random_state=seed, n_jobs=1)
            t = time.perf_counter(); f.fit(train); fits.append(time.perf_counter() - t)
            t = time.perf_counter(); s = -f.score_samples(x); scores.append(time.perf_counter() - t)
            aucs.append(roc_auc_score(y, s))
        median = lambda v: sorted(v)[len(v) // 2]
        print(json.dumps({"fit_seconds": median(fits), "score_points_per_s": len(x) / median(scores),
                          "roc_auc": sum(aucs) / len(aucs), "version": sklearn.__version__}))
        """

    static func lines(_ r: Result, trainRows: Int, scoreRows: Int) -> [String] {
        func f(_ x: Double?, _ format: String) -> String { x.map { String(format: format, $0) } ?? "n/a" }
        var out = [
            "  (f) Isolation Forest (100 trees, 256 samples, 8 metrics; \(trainRows) training rows, \(scoreRows) scored, 2% anomalies, one core; medians and mean AUC over 5 seeds)",
            "      ours:         train \(f(r.trainSeconds, "%.3f")) s, score \(f(r.scorePointsPerSecond, "%.0f")) points/s (calibrated, with contributions: \(f(r.calibratedPointsPerSecond, "%.0f"))), ROC AUC \(f(r.rocAUC, "%.4f"))",
        ]
        if let s = r.sklearn {
            out.append(
                "      scikit-learn \(s.version): train \(f(s.fit_seconds, "%.3f")) s, score \(f(s.score_points_per_s, "%.0f")) points/s, ROC AUC \(f(s.roc_auc, "%.4f"))"
            )
            out.append(
                "      scoring ratio ours/scikit-learn \(f(r.ratio, "%.2f")), ROC AUC difference \(f(r.rocAUC.map { $0 - s.roc_auc }, "%+.4f"))"
            )
        } else {
            out.append("      scikit-learn: \(r.sklearnProblem ?? "not run")")
        }
        return out
    }

    static func json(_ r: Result) -> [(String, JSONValue)] {
        [
            ("iforest_train_s", .rounded(r.trainSeconds, 4)),
            ("iforest_score_points_per_s", .rounded(r.scorePointsPerSecond, 6)),
            ("iforest_calibrated_points_per_s", .rounded(r.calibratedPointsPerSecond, 6)),
            ("iforest_roc_auc", .rounded(r.rocAUC, 6)),
            ("sklearn_iforest_train_s", .rounded(r.sklearn?.fit_seconds, 4)),
            ("sklearn_iforest_score_points_per_s", .rounded(r.sklearn?.score_points_per_s, 6)),
            ("sklearn_iforest_roc_auc", .rounded(r.sklearn?.roc_auc, 6)),
            ("iforest_score_ratio", .rounded(r.ratio, 4)),
        ]
    }
}
