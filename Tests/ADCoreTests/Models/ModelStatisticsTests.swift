import Foundation
import Testing

@testable import ADCore

@Suite struct ClassificationMetricsAreTheTextbookOnes {
    @Test func countsPrecisionRecallAndF1AtAThreshold() {
        let m = ClassificationMetrics.evaluate(
            scores: [0.9, 0.8, 0.3, 0.5, 0.1, 0.45], labels: [true, false, true, false, false, true], threshold: 0.45)
        #expect(m.truePositives == 2 && m.falsePositives == 2 && m.falseNegatives == 1 && m.trueNegatives == 1)
        #expect(m.precision == 0.5 && m.recall == 2.0 / 3)
        #expect(abs(m.f1! - 4.0 / 7) < 1e-12)
        let none = ClassificationMetrics.evaluate(scores: [0.1, 0.2], labels: [false, false], threshold: 0.5)
        #expect(none.precision == nil && none.recall == nil && none.f1 == nil && none.rocAUC == nil)
        let missed = ClassificationMetrics.evaluate(scores: [0.1, 0.9], labels: [true, false], threshold: 0.5)
        #expect(missed.precision == 0 && missed.recall == 0 && missed.f1 == 0 && missed.rocAUC == 0)
    }

    @Test func rocAUCByRanksAveragesTies() {
        // Positives 0.8 and 0.4, negatives 0.4, 0.2, 0.1: pairs won 3 + (0.5 + 2) of 6.
        let m = ClassificationMetrics.evaluate(
            scores: [0.8, 0.4, 0.4, 0.2, 0.1], labels: [true, true, false, false, false], threshold: 0.5)
        #expect(m.rocAUC == 5.5 / 6)
        let allTied = ClassificationMetrics.evaluate(
            scores: [1, 1, 1, 1], labels: [true, false, true, false], threshold: 2)
        #expect(allTied.rocAUC == 0.5)
        let perfect = ClassificationMetrics.evaluate(
            scores: [3, 2, 1, .nan], labels: [true, false, false, true], threshold: 2)
        #expect(perfect.rocAUC == 1 && perfect.truePositives == 1 && perfect.falsePositives == 1)
    }
}

@Suite struct DriftStatisticsMatchKnownValues {
    @Test func psiIsZeroForTheSameSampleAndHandComputedOtherwise() {
        let ref = (0..<100).map(Double.init)
        #expect(Drift.populationStabilityIndex(reference: ref, recent: ref) == 0)
        // Two bins split at the reference median 2: (0.5, 0.5) against (0.75, 0.25).
        let psi = Drift.populationStabilityIndex(reference: [1, 2, 3, 4], recent: [1, 1, 1, 3], bins: 2)
        #expect(abs(psi - (0.25 * log(1.5) + 0.25 * log(2))) < 1e-12)
        // An empty bin counts 0.0001: everything above the reference's range.
        let moved = Drift.populationStabilityIndex(reference: [1, 2, 3, 4], recent: [9, 9], bins: 2)
        #expect(abs(moved - ((0.0001 - 0.5) * log(0.0001 / 0.5) + (1 - 0.5) * log(1 / 0.5))) < 1e-12)
        #expect(Drift.populationStabilityIndex(reference: [], recent: [1]) == 0)
        // Repeated edges merge: a constant reference has one edge.
        #expect(Drift.populationStabilityIndex(reference: [5, 5, 5, 5], recent: [5, 5]).isFinite)
    }

    @Test func ksStatisticAndItsAsymptoticPValue() {
        let a = (0..<50).map(Double.init)
        let b = (10..<60).map(Double.init)
        let (d, p) = Drift.kolmogorovSmirnov(reference: a, recent: b)
        #expect(abs(d - 0.2) < 1e-12)
        // √(50·50/100)·0.2 = 1: Kolmogorov's survival at 1 is 0.26999967167735456 (scipy kstwobign.sf(1)).
        #expect(abs(p - 0.26999967167735456) < 1e-12)
        #expect(abs(Drift.kolmogorovSurvival(1.5) - 0.022217962616525127) < 1e-12)
        #expect(abs(Drift.kolmogorovSurvival(0.5) - 0.9639452436648751) < 1e-12)
        let same = Drift.kolmogorovSmirnov(reference: a, recent: a)
        #expect(same.statistic == 0 && same.pValue == 1)
        let apart = Drift.kolmogorovSmirnov(reference: [1, 2, 3, 4], recent: [3, 4, 5, 6])
        #expect(apart.statistic == 0.5)
    }
}

@Suite struct TheHandWrittenPiecesAreRight {
    @Test func theGeneratorIsSeededAndUnbiasedEnough() {
        var a = SeededGenerator(seed: 1)
        var b = SeededGenerator(seed: 1)
        var c = SeededGenerator(seed: 2)
        let xs = (0..<5).map { _ in a.next() }
        #expect(xs == (0..<5).map { _ in b.next() })
        #expect(xs != (0..<5).map { _ in c.next() })
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<7000 { counts[a.nextInt(below: 7)] += 1 }
        #expect(counts.allSatisfy { $0 > 850 && $0 < 1150 })
        let u = (0..<1000).map { _ in a.nextDouble() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let s = a.sample(10, of: 20)
        #expect(Set(s).count == 10 && s.allSatisfy { $0 < 20 })
    }

    @Test func jacobiFindsTheEigenpairs() {
        let (values, vectors) = symmetricEigen([2, 1, 0, 1, 2, 0, 0, 0, 5], 3)
        #expect(abs(values[0] - 5) < 1e-12 && abs(values[1] - 3) < 1e-12 && abs(values[2] - 1) < 1e-12)
        // Column 1 is ±(1, 1, 0)/√2.
        #expect(abs(abs(vectors[0 * 3 + 1]) - 0.5.squareRoot()) < 1e-12 && abs(vectors[2 * 3 + 1]) < 1e-12)
    }

    @Test func theForestUsesScikitLearnsNormalizerAndDepth() throws {
        #expect(abs(IsolationForest.averagePathLength(256) - 10.244770920119917) < 1e-12)
        #expect(IsolationForest.averagePathLength(2) == 1 && IsolationForest.averagePathLength(1) == 0)
        let model = try train(.isolationForest)
        guard case .forest(let f) = model.engine else { Issue.record("not a forest"); return }
        #expect(f.roots.count == 50 && f.normalizer == IsolationForest.averagePathLength(256))
        // Depth ≤ ceil(log2 256) = 8: no leaf's path length is below... and none is beyond 8 + c(leaf rows).
        #expect(f.nodes.count <= 50 * 511)
        for n in f.nodes where n.feature < 0 { #expect(n.value <= 8 + IsolationForest.averagePathLength(256)) }
    }

    @Test func calibrationIsMonotoneFiniteAndGrowsPastTheLargestHeldOutScore() {
        var g = SeededGenerator(seed: 3)
        let heldOut = (0..<100).map { _ in abs(g.nextGaussian()) }
        let c = Calibration(heldOut: heldOut, tailFraction: 0.2)
        let sorted = heldOut.sorted()
        #expect(c.count == 100 && c.tailCount == 20 && c.tailStart == sorted[79] && c.knots == Array(sorted[0...79]))
        var last = -1.0
        for i in 0...4000 {
            let raw = -1 + Double(i) * 0.005
            let s = c.surprise(raw)
            #expect(s.isFinite && s >= last, "\(raw)")
            last = s
        }
        // The body is the empirical tail probability, (#{c ≥ v} + 1) / (n + 1).
        #expect(c.surprise(-5) == -log10(101.0 / 101))
        #expect(abs(c.surprise(sorted[50]) + log10(51.0 / 101)) < 1e-15)
        #expect(abs(c.surprise(sorted[50] + 1e-12) + log10(50.0 / 101)) < 1e-15)
        // The tail continues from 20/101 at u by one decade per β·ln 10.
        let u = c.tailStart
        #expect(abs(c.surprise(u + 1e-12) + log10(20.0 / 101)) < 1e-9)
        #expect(abs(c.surprise(u + c.tailScale * log(10)) - c.surprise(u + 1e-12) - 1) < 1e-9)
        #expect(c.surprise(1e300) == 300 && c.surprise(.infinity) == 300)
        // Many held-out scores are kept as at most 1024 knots, still monotone; ties keep their full count.
        let many = Calibration(heldOut: (0..<100_000).map { Double($0 % 5000) }, tailFraction: 0.2)
        #expect(many.knots.count <= Calibration.maxKnots && many.atOrAbove[0] == 100_000)
        #expect(zip(many.atOrAbove, many.atOrAbove.dropFirst()).allSatisfy { $0 >= $1 })
        // Ties everywhere still give a positive tail scale.
        let flat = Calibration(heldOut: [Double](repeating: 2, count: 30), tailFraction: 0.1)
        #expect(flat.tailScale > 0 && flat.surprise(3).isFinite && flat.surprise(3) > flat.surprise(2))
    }
}
