import Testing

@testable import ADCore

/// Decoding treats the artifact as hostile: every failure is a ModelError naming what is wrong, never a trap and
/// never an allocation sized by an unchecked count.
@Suite struct HostileArtifactsAreRefused {
    func refusal(_ bytes: [UInt8]) -> ModelError? {
        do {
            _ = try TrainedModel(artifact: bytes)
            return nil
        } catch { return error }
    }

    func small(_ algorithm: ModelAlgorithm) throws -> [UInt8] {
        let extra: [String: Double] =
            switch algorithm {
            case .isolationForest: ["trees": 3, "sample_size": 16]
            case .autoencoder: ["epochs": 1, "hidden": 2, "code": 1]
            case .pca: [:]
            }
        return try train(algorithm, extra, data: trainingData(120)).artifact()
    }

    @Test(arguments: ModelAlgorithm.allCases)
    func everyTruncationThrows(_ algorithm: ModelAlgorithm) throws {
        let bytes = try small(algorithm)
        for n in 0..<bytes.count {
            let e = refusal(Array(bytes[0..<n]))
            #expect(e?.field == "artifact", "prefix \(n)")
        }
        #expect(refusal(bytes + [0])?.message == "1 unexpected bytes after the model's end")
        #expect(refusal(bytes) == nil)
    }

    @Test func aWrongVersionAbsurdCountsAndNaNAreNamed() throws {
        var bytes = try small(.pca)
        var other = bytes
        other[0] = 2
        #expect(refusal(other)?.message == "format version 2 is not supported; this build reads version 1")
        // The metric count follows the version (4 bytes) and the algorithm ("pca": 4 + 3 bytes).
        other = bytes
        for i in 11..<15 { other[i] = 0xFF }
        #expect(refusal(other)?.message == "metric count is 4294967295; allowed: 1 to 256")
        other = bytes
        other[11] = 200
        #expect(refusal(other)?.field == "artifact")
        other = bytes
        other[11] = 0
        other[12] = 0x10  // 4096 metrics
        #expect(refusal(other)?.message == "metric count is 4096; allowed: 1 to 256")
        // The last 8 bytes are the calibration's tail scale.
        let nan = Double.nan.bitPattern
        for i in 0..<8 { bytes[bytes.count - 8 + i] = UInt8(truncatingIfNeeded: nan >> (8 * UInt64(i))) }
        #expect(refusal(bytes)?.message == "calibration tail scale is nan; must be finite")
        #expect(refusal([])?.message.contains("truncated") == true)
        #expect(refusal(Array(repeating: 0xFF, count: 64)) != nil)
    }

    @Test func hostileForestNodesCannotLoop() throws {
        var bytes = try small(.isolationForest)
        // Find the first split node (feature ≥ 0) and point its child back at the root.
        let model = try TrainedModel(artifact: bytes)
        guard case .forest(let f) = model.engine else { Issue.record("not a forest"); return }
        let nodesStart = bytes.count - (f.nodes.count * 16) - calibrationBytes(model)
        let i = try #require(f.nodes.firstIndex { $0.feature >= 0 })
        let at = nodesStart + i * 16 + 4
        for k in 0..<4 { bytes[at + k] = 0 }
        #expect(refusal(bytes)?.message == "isolation forest node \(i) points out of range")
    }

    func calibrationBytes(_ m: TrainedModel) -> Int { 12 + m.calibration.knots.count * 16 + 8 }
}

/// A model with many inputs and few calibration rows (SKAB's shape: 8 metrics, 400 training rows) round-trips: its
/// artifact is small, and the reader must not ask for bytes per kept component that the format never writes.
@Suite struct ArtifactOfAWideModelWithFewRows {
    @Test(arguments: ModelAlgorithm.allCases)
    func roundTrips(_ algorithm: ModelAlgorithm) throws {
        var g = SeededGenerator(seed: 7)
        let rows: [[Double?]] = (0..<400).map { _ in (0..<8).map { _ in g.nextGaussian() } }
        let data = TrainingData(metrics: (1...8).map { "m\($0)" }, rows: rows)
        let model = try TrainedModel.train(
            algorithm: algorithm, hyperparameters: quickHyperparameters(algorithm), data: data, seed: 1)
        let decoded = try TrainedModel(artifact: model.artifact())
        #expect(decoded.artifact() == model.artifact())
        let a = model.scores(data).map { $0?.score }, b = decoded.scores(data).map { $0?.score }
        #expect(a == b)
    }
}
