import Foundation
import Testing

@testable import ADCore

/// The default PCA model is the SKAB recipe (/work/h19-skab-recipe.md): its synthetic test vector, computed by the
/// recipe's NumPy reference (`recipe_ref.py --synthetic`), comes out the same here.
@Suite struct PCAIsTheSKABRecipe {
    func synthetic() -> TrainingData {
        let rows: [[Double?]] = (0..<500).map { i in
            let r = Double(i)
            var m3 = 0.5 * sin(r / 7) + 0.3 * cos(r / 11) + 0.02 * sin(r * 0.7)
            if i >= 450 { m3 += 0.01 }
            return [sin(r / 7) + 0.1 * cos(r * 1.3), cos(r / 11) + 0.05 * sin(r * 2.1), m3]
        }
        return TrainingData(metrics: ["m1", "m2", "m3"], rows: rows)
    }

    @Test func theSyntheticVectorMatchesTheReference() throws {
        let data = synthetic()
        let model = try TrainedModel.train(
            algorithm: .pca, hyperparameters: [:],
            data: TrainingData(metrics: data.metrics, rows: Array(data.rows[0..<400])),
            seed: 1)
        #expect(model.rowsNeeded == 20 && model.calibrationRows == 100 && model.fitRows == 281)
        guard case .pca(let p) = model.engine else { Issue.record("not pca"); return }
        #expect(p.kept == 2)
        for (got, want) in zip(p.eigenvalues, [2.10194773, 0.898033794, 1.84772619e-05]) {
            #expect(abs(got - want) <= 1e-8 * max(1, want) + 1e-13, "\(p.eigenvalues)")
        }
        #expect(abs(model.calibration.tailStart - 4.28456400814912) < 1e-9)
        #expect(abs(model.calibration.tailScale - 1.176116478286037) < 1e-9)
        #expect(model.calibration.count == 100 && model.calibration.tailCount == 20)
        let scores = model.scores(data)
        #expect(scores[18] == nil)
        let expected: [(Int, Double, Double)] = [
            (19, 3.183185812537937, 0.3511088600072989), (100, 0.6127181749862841, 0.008686179185092667),
            (399, 3.1203404831530612, 0.3415635421010685), (455, 3.5318791572652, 0.4245377771658324),
            (470, 43.55418021566229, 15.204046992252419), (499, 31.519150658046037, 10.759974468047801),
        ]
        for (row, raw, surprise) in expected {
            let s = try #require(scores[row])
            #expect(abs(s.raw - raw) < 1e-7 * max(1, raw), "row \(row): \(s.raw)")
            #expect(abs(s.surprise - surprise) < 1e-7 * max(1, surprise), "row \(row): \(s.surprise)")
        }
        // Row 470 (the shifted relation) reaches the product's low threshold; the normal rows do not.
        #expect(scores[470]!.score >= 0.45 && scores[470]!.contributions.first?.metric == "m3")
        #expect(scores[19..<450].allSatisfy { $0!.score < 0.45 })
    }
}
