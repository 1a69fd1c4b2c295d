import Testing

@testable import ADCore

/// Every algorithm trains deterministically, scores on the streaming scorer's scale (normal rows below `low`, clear
/// outliers above it, the broken metric named first), and scores a point alone exactly as in a whole series.
@Suite struct TrainedModelsScoreOnTheStreamingScale {
    /// An isolation forest's raw score saturates for points beyond the training range (every split sends them to
    /// the side of the most extreme training rows, as in scikit-learn), so one such point is only as surprising as
    /// the most extreme held-out rows, and IF's right-skewed normal scores give a long fitted tail: a sustained
    /// deviation, averaged by `score_window`, stands far above every normal window but stays below `low` (the
    /// honest tail probability is about 1e-4, not 1e-8). The autoencoder and PCA measure distance: one point
    /// reaches `low`.
    @Test(arguments: ModelAlgorithm.allCases)
    func normalRowsStayBelowLowAndClearOutliersRiseAboveIt(_ algorithm: ModelAlgorithm) throws {
        let window = algorithm == .isolationForest ? 8 : 1
        let model = try train(algorithm, ["score_window": Double(window)])
        #expect(model.fitRows == 600 && model.calibrationRows == 200)
        let fresh = TrainingData(metrics: testMetrics, rows: normalRows(2000, seed: 99))
        let scores = model.scores(fresh).compactMap { $0?.score }
        let below = scores.filter { $0 < 0.45 }.count
        let normalMax = scores.max()!
        #expect(Double(below) / Double(scores.count) >= 0.995, "\(algorithm): \(scores.max()!)")
        // An outlier breaking the correlation (cpu high while latency is normal), and one far out on disk alone,
        // each lasting `window` rows.
        for (metric, j, shift) in [("cpu", 0, 14.0), ("disk", 3, 40.0)] {
            var rows = normalRows(window, seed: 5)
            for r in rows.indices { rows[r][j] = rows[r][j]! + shift }
            let s = try #require(model.scores(TrainingData(metrics: testMetrics, rows: rows)).last!)
            if algorithm == .isolationForest {
                #expect(s.surprise >= 3 && s.score > normalMax + 0.05, "\(metric): \(s), normal up to \(normalMax)")
            } else {
                #expect(s.score >= 0.45, "\(algorithm) \(metric): \(s)")
            }
            #expect(s.contributions.first?.metric == metric, "\(algorithm): \(s.contributions)")
            #expect(abs(s.contributions.map(\.share).reduce(0, +) - 1) < 1e-9)
            #expect(s.contributions.allSatisfy { $0.share >= 0 } && s.contributions.count == testMetrics.count)
            #expect(zip(s.contributions, s.contributions.dropFirst()).allSatisfy { $0.share >= $1.share })
            #expect(s.score == PointScore.score(surprise: s.surprise) && s.surprise.isFinite)
        }
    }

    @Test(arguments: ModelAlgorithm.allCases)
    func aPointScoredAloneMatchesTheSeriesBitForBit(_ algorithm: ModelAlgorithm) throws {
        let model = try train(algorithm, ["input_window": 3, "score_window": 2])
        #expect(model.rowsNeeded == 4)
        var rows = normalRows(60, seed: 7)
        rows[20][1] = nil
        rows[40][2] = rows[40][2]! + 30
        rows[41][0] = .infinity
        let data = TrainingData(metrics: testMetrics, rows: rows)
        let all = model.scores(data)
        let columns = (0..<4).map { j in rows.map { $0[j] ?? .nan } }
        var scored = 0
        for r in 0..<rows.count {
            let recent = columns.map { $0[0...r] }
            let alone = model.score(recent: recent)
            #expect(alone == all[r], "row \(r)")
            if alone != nil { scored += 1 }
        }
        // Rows 0-2 lack history, 20-23 and 41-44 see a missing or infinite value.
        #expect(all[2] == nil && all[3] != nil && all[23] == nil && all[24] != nil && all[44] == nil)
        #expect(scored == 60 - 3 - 4 - 4)
        // A metric order other than the model's is matched by name; a missing metric gives nothing.
        let reordered = TrainingData(metrics: testMetrics.reversed(), rows: rows.map { $0.reversed() })
        #expect(model.scores(reordered) == all)
        #expect(model.scores(TrainingData(metrics: ["cpu"], rows: [[1]])) == [nil])
        #expect(model.score(recent: columns.map { $0[0...1] }) == nil)
    }

    @Test(arguments: ModelAlgorithm.allCases)
    func theSameSeedAndDataGiveTheSameArtifactAndItRoundTrips(_ algorithm: ModelAlgorithm) throws {
        let a = try train(algorithm, ["score_window": 2])
        let b = try train(algorithm, ["score_window": 2])
        #expect(a.artifact() == b.artifact())
        let decoded = try TrainedModel(artifact: a.artifact())
        #expect(decoded.artifact() == a.artifact())
        #expect(decoded.metrics == a.metrics && decoded.hyperparameters == a.hyperparameters)
        #expect(decoded.rowsNeeded == a.rowsNeeded && decoded.algorithm == algorithm)
        let fresh = TrainingData(metrics: testMetrics, rows: normalRows(300, seed: 3))
        #expect(decoded.scores(fresh) == a.scores(fresh))
        #expect(decoded.features(fresh) == a.features(fresh))
        if algorithm != .pca {  // PCA draws nothing at random
            #expect(try train(algorithm, ["score_window": 2], seed: 43).artifact() != a.artifact())
        }
    }

    @Test func effectiveHyperparametersAreTheDefaultsWithTheUsersValues() throws {
        let model = try train(.isolationForest, ["sample_size": 64])
        #expect(model.hyperparameters["sample_size"] == 64 && model.hyperparameters["trees"] == 50)
        #expect(model.hyperparameters["input_window"] == 1 && model.hyperparameters["calibration_fraction"] == 0.25)
        #expect(model.hyperparameters["tail_fraction"] == 0.2 && model.hyperparameters["robust_scaling"] == 0)
        #expect(Set(model.hyperparameters.keys) == Set(ModelAlgorithm.isolationForest.hyperparameters.map(\.name)))
        #expect(model.featureNames == testMetrics)
        // The autoencoder's layers default to the metrics' count (hidden) and half of it (code), recorded as used.
        let ae = try train(.autoencoder, ["epochs": 1])
        #expect(ae.hyperparameters["hidden"] == 4 && ae.hyperparameters["code"] == 2)
        #expect(try TrainedModel(artifact: ae.artifact()).hyperparameters == ae.hyperparameters)
        let f = model.features(TrainingData(metrics: testMetrics, rows: [[10, 50, 0, 100]]))
        #expect(f[0]?.count == 4)
    }

    @Test func theRawPathMatchesTheScoredRaw() throws {
        let model = try train(.isolationForest, ["score_window": 3])
        let fresh = TrainingData(metrics: testMetrics, rows: normalRows(100, seed: 8))
        #expect(model.rawScores(fresh) == model.scores(fresh).map { $0?.raw })
    }
}

@Suite struct TrainingRefusesWhatItCannotLearn {
    @Test func tooFewRowsSaysHowManyAreNeededAndHowManyThereWere() {
        #expect {
            try train(.pca, data: trainingData(40))
        } throws: { error in
            let e = error as! ModelError
            return e.field == "data" && e.message.contains("78 needed") && e.message.contains("there were 40 rows")
        }
        // Rows with a missing metric do not count.
        var rows = normalRows(80, seed: 1)
        for r in stride(from: 0, to: 80, by: 2) { rows[r][3] = nil }
        #expect {
            try train(.pca, data: TrainingData(metrics: testMetrics, rows: rows))
        } throws: { ($0 as! ModelError).message.contains("there were 80 rows: 30 complete to fit on") }
    }

    @Test func aConstantOrAbsentMetricIsNamed() {
        var rows = normalRows(200, seed: 1)
        for r in rows.indices { rows[r][2] = 7 }
        #expect {
            try train(.autoencoder, data: TrainingData(metrics: testMetrics, rows: rows))
        } throws: { ($0 as! ModelError).message.contains("metric load is constant") }
        for r in rows.indices { rows[r][2] = nil }
        #expect {
            try train(.pca, data: TrainingData(metrics: testMetrics, rows: rows))
        } throws: { ($0 as! ModelError).message.contains("metric load has no value") }
    }

    @Test func anAutoencoderOverItsTrainingBudgetIsRefusedBeforeTraining() {
        #expect {
            try train(
                .autoencoder, ["epochs": 500, "hidden": 256, "code": 64],
                data: TrainingData(metrics: testMetrics, rows: normalRows(20_000, seed: 1)))
        } throws: { error in
            let e = error as! ModelError
            return e.field == "hyperparameters.epochs" && e.message.contains("500 x 10000 x")
        }
    }

    @Test func badShapesAreRefused() {
        #expect(throws: ModelError.self) { try train(.pca, data: TrainingData(metrics: [], rows: [])) }
        #expect(throws: ModelError.self) {
            try train(.pca, data: TrainingData(metrics: ["a", "a"], rows: [[1, 2]]))
        }
        #expect {
            try train(.pca, data: TrainingData(metrics: testMetrics, rows: [[1, 2]]))
        } throws: { ($0 as! ModelError).field == "data.rows" }
    }
}
