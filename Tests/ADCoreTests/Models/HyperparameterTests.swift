import Testing

@testable import ADCore

@Suite struct HyperparametersAreCheckedAgainstTheCatalogue {
    func error(_ algorithm: ModelAlgorithm, _ given: [String: Double]) -> ModelError? {
        do {
            _ = try algorithm.effectiveHyperparameters(given)
            return nil
        } catch { return error }
    }

    @Test func theCatalogueIsConsistent() {
        for algorithm in ModelAlgorithm.allCases {
            let specs = algorithm.hyperparameters
            #expect(Set(specs.map(\.name)).count == specs.count)
            for s in specs {
                #expect(["integer", "number", "boolean"].contains(s.kind))
                #expect(s.minimum <= s.defaultValue && s.defaultValue <= s.maximum, "\(s.name)")
                #expect(!s.doc.isEmpty)
                if s.kind == "integer" { #expect(s.defaultValue == s.defaultValue.rounded()) }
            }
            for shared in ["input_window", "score_window", "calibration_fraction", "tail_fraction"] {
                #expect(specs.contains { $0.name == shared })
            }
            let defaults = try? algorithm.effectiveHyperparameters([:])
            #expect(defaults?.count == specs.count)
        }
        #expect(ModelAlgorithm(rawValue: "isolation_forest") == .isolationForest)
    }

    @Test func unknownKeysWrongKindsAndOutOfRangeValuesNameTheKey() {
        let unknown = error(.isolationForest, ["tress": 10])
        #expect(unknown?.field == "hyperparameters.tress")
        #expect(unknown?.message.contains("allowed: input_window") == true)
        let fraction = error(.isolationForest, ["trees": 10.5])
        #expect(fraction?.field == "hyperparameters.trees")
        #expect(fraction?.message == "10.5 is not an integer; allowed: integer from 1 to 1000")
        let big = error(.autoencoder, ["learning_rate": 2])
        #expect(big?.field == "hyperparameters.learning_rate")
        #expect(big?.message == "2 is out of range; allowed: number from 1e-05 to 0.1")
        #expect(error(.pca, ["variance": .nan])?.field == "hyperparameters.variance")
        #expect(error(.pca, ["components": -1])?.message.contains("out of range") == true)
        #expect(error(.pca, ["components": 3, "variance": 0.5]) == nil)
        #expect(ModelError(field: "hyperparameters.x", message: "m").description == "hyperparameters.x: m")
    }
}
