@testable import ADCore

/// Correlated normal rows: three metrics driven by one latent factor plus noise, and a fourth independent one.
func normalRows(_ n: Int, seed: UInt64) -> [[Double?]] {
    var g = SeededGenerator(seed: seed)
    return (0..<n).map { _ in
        let f = g.nextGaussian()
        return [
            10 + 2 * f + 0.3 * g.nextGaussian(), 50 - 5 * f + 0.8 * g.nextGaussian(),
            f + 0.2 * g.nextGaussian(), 100 + 3 * g.nextGaussian(),
        ]
    }
}

let testMetrics = ["cpu", "latency", "load", "disk"]

func trainingData(_ n: Int = 800, seed: UInt64 = 1) -> TrainingData {
    TrainingData(metrics: testMetrics, rows: normalRows(n, seed: seed))
}

/// Small hyperparameters so debug-build tests stay quick, and no input smoothing so single rows can be scored.
func quickHyperparameters(_ algorithm: ModelAlgorithm) -> [String: Double] {
    switch algorithm {
    case .isolationForest: ["trees": 50, "input_window": 1]
    case .autoencoder: ["epochs": 15, "input_window": 1]
    case .pca: ["input_window": 1]
    }
}

func train(
    _ algorithm: ModelAlgorithm, _ extra: [String: Double] = [:], data: TrainingData = trainingData(), seed: UInt64 = 42
) throws -> TrainedModel {
    try TrainedModel.train(
        algorithm: algorithm, hyperparameters: quickHyperparameters(algorithm).merging(extra) { $1 }, data: data,
        seed: seed)
}
