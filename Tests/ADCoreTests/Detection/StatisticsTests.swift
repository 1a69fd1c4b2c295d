import Foundation
import Testing

@testable import ADCore

@Suite struct StatisticsAreRight {
    @Test func upperTailInLogSpace() {
        #expect(abs(Stats.log10UpperTail(1.959964) - log10(0.025)) < 1e-6)
        // Past z = 5 the asymptotic series takes over; it agrees with erfc where both work.
        #expect(abs(Stats.log10UpperTail(6) - log10(0.5 * erfc(6 / 2.0.squareRoot()))) < 1e-3)
        #expect(Stats.log10UpperTail(50).isFinite)
        #expect(Stats.log10UpperTail(50) < Stats.log10UpperTail(40))
        #expect(abs(Stats.zForUpperLog10Tail(Stats.log10UpperTail(3.3)) - 3.3) < 1e-6)
    }

    @Test func quickselectMedianAgreesWithSorting() {
        var noise = Noise(state: 9)
        var scratch: [Double] = []
        for n in [1, 2, 3, 10, 11, 200] {
            let v = (0..<n).map { _ in (noise.gaussian() * 4).rounded() }  // ties on purpose
            var sorted = v
            let expected = Stats.robustCentreAndScale(v)!
            let got = Stats.robustCentreAndScale(v, scratch: &scratch)!
            #expect(got.centre == expected.centre && abs(got.scale - expected.scale) < 1e-12, "n = \(n)")
            #expect(Stats.median(&sorted) == got.centre)
        }
    }

    @Test func aSlidingSortedWindowGivesTheSelectionsFiguresToTheBit() {
        // Windows of several sizes slide over series with ties, flat runs (MAD 0, the fallback) and outliers; at
        // every step the window kept sorted gives exactly what a selection over the values gives.
        var noise = Noise(state: 17)
        var scratch: [Double] = []
        for (size, flat) in [(1, false), (2, false), (5, true), (12, false), (60, true), (200, false)] {
            let series: [Double] = (0..<600).map { i in
                if flat && (i / 40) % 2 == 0 { return 7 }
                let spike = noise.uniform() < 0.01 ? 1e6 : 0
                return (noise.gaussian() * 3).rounded() / 2 + spike + (i > 300 ? 50 : 0)
            }
            var window = SortedWindow([])
            for (i, x) in series.enumerated() {
                window.insert(x)
                if i >= size { window.remove(series[i - size]) }
                let values = series[max(0, i + 1 - size)...i]
                #expect(window.sorted == values.sorted())
                let want = Stats.robustCentreAndScale(values, scratch: &scratch)!
                let got = Stats.robustCentreAndScale(values, sorted: window)!
                #expect(
                    got.centre.bitPattern == want.centre.bitPattern && got.scale.bitPattern == want.scale.bitPattern,
                    "size \(size), point \(i): \(got) against \(want)")
            }
        }
        #expect(SortedWindow([]).median == nil && SortedWindow([]).medianDeviation(from: 0) == nil)
        #expect(SortedWindow([3, 1, 2, 10]).medianDeviation(from: 2.5) == 1)  // deviations 0.5, 0.5, 1.5, 7.5
    }

    @Test func meanAndStandardDeviationInFourParts() {
        var noise = Noise(state: 5)
        for n in [2, 3, 4, 5, 7, 1000] {
            let v = (0..<n).map { _ in 1e6 + noise.gaussian() * 3 }
            let mean = v.reduce(0, +) / Double(n)
            let sd = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
            let got = Stats.meanAndStandardDeviation(v[...])
            #expect(
                abs(got.mean - mean) <= 1e-12 * abs(mean) && abs(got.sd - sd) <= 1e-9 * sd,
                "n = \(n): \(got), want \(mean), \(sd)")
        }
        #expect(Stats.meanAndStandardDeviation([1, 2, 3, 4, 5, 6, 7, 8, 9][...]) == (5, 7.5.squareRoot()))
    }

    @Test func theScorerGivesTheSameWithOrWithoutSortedWindows() {
        // A daily pattern (24 points a day) with noise, a level shift and a spike; differences from a day before
        // once a day is known, some missing.
        var noise = Noise(state: 23)
        var series: [Double] = []
        for i in 0..<400 {
            let pattern: Double = 100 + 30 * sin(Double(i) * Double.pi / 12)
            let events: Double = (i == 350 ? 60 : 0) + (i > 200 ? 20 : 0)
            series.append(pattern + noise.gaussian() * 5 + events)
        }
        var diffs: [Double] = []
        for i in series.indices { diffs.append(i >= 24 && i % 17 != 0 ? series[i] - series[i - 24] : Double.nan) }
        var config = SourceConfig.defaults
        config.window = 100
        let scorer = PointScorer(config: config)
        var plain: DetectorState?, sorted: DetectorState?
        for i in 1..<series.count {
            let from = max(0, i - 150)  // longer than the window: the scorer takes its end
            let history = Array(series[from..<i])
            let window = history.suffix(config.window), windowDiffs = diffs[from..<i].suffix(config.window)
            var o = MetricObservation(
                metric: "x", x: series[i], history: history, dailyDiffs: Array(diffs[from..<i]),
                lagDaily: i >= 24 ? SeasonalLag(value: series[i - 24]) : nil)
            o.delta = series[i] - series[i - 1]
            var s = o
            o.state = plain
            s.state = sorted
            s.sortedHistory = SortedWindow(window)
            s.sortedSteps = SortedWindow(zip(window.dropFirst(), window).map { $0 - $1 })
            s.sortedDailyDiffs = SortedWindow(windowDiffs.filter { !$0.isNaN } as [Double])
            let a = scorer.score([o]), b = scorer.score([s])
            #expect(a.features == b.features && a.score == b.score && a.explanation == b.explanation, "point \(i)")
            plain = a.states["x"]; sorted = b.states["x"]
            if i == 399 { #expect(a.features["x"]?["daily_ratio"] != nil, "the seasonal stream was reached") }
        }
    }

    @Test func poissonTailsAndInterquartileRanges() {
        // P(N >= 1 | 1) = 1 - e^-1; P(N >= 3 | 0.5) = 1 - e^-0.5 (1 + 0.5 + 0.125).
        #expect(abs(Stats.poissonUpperTailDigits(1, mean: 1) - -log10(1 - exp(-1))) < 1e-12)
        #expect(abs(Stats.poissonUpperTailDigits(3, mean: 0.5) - -log10(1 - exp(-0.5) * 1.625)) < 1e-9)
        #expect(Stats.poissonUpperTailDigits(40, mean: 0.01).isFinite)
        var scratch: [Double] = []
        let v = (0..<101).map { Double(($0 * 37) % 101) }  // 0...100, shuffled
        #expect(Stats.interquartileRange(v, scratch: &scratch) == 75 - 25)
        #expect(Stats.interquartileRange([Double](), scratch: &scratch) == 0)
    }

    @Test func tailProbabilities() {
        #expect(abs(Stats.twoSidedP(1.959964) - 0.05) < 1e-6)
        #expect(abs(Stats.zForTwoSidedP(0.001) - 3.290527) < 1e-5)
    }

    @Test func fisherMatchesTheChiSquareTail() {
        // Two p-values of 0.05: X = -4 ln 0.05 = 11.983; chi-square, 4 degrees of freedom: e^(-X/2)(1 + X/2).
        #expect(abs(Stats.fisher([0.05, 0.05]) - 0.0174786) < 1e-6)
        #expect(Stats.fisher([1, 1, 1]) == 1)
        #expect(Stats.fisher([1e-300, 1e-300]) >= 0)
    }

    @Test func robustScaleIgnoresOutliersAndFallsBackWhenMostlyFlat() {
        let r = Stats.robustCentreAndScale([1, 2, 3, 4, 5, 1000])!
        #expect(r.centre == 3.5)
        #expect(r.scale < 5)
        #expect(Stats.robustCentreAndScale([5, 5, 5, 5, 6])!.scale > 0)
    }
}
