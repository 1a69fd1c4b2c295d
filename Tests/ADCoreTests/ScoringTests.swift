import Foundation
import Testing
@testable import ADCore

/// A deterministic normal noise source (Box-Muller over a linear congruential generator).
struct Noise {
    var state: UInt64
    mutating func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
    mutating func gaussian() -> Double {
        let u = max(uniform(), 1e-12), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

func observation(_ x: Double, metric: String = "x", history: [Double], daily: Double? = nil) -> MetricObservation {
    MetricObservation(metric: metric, x: x, history: history, lagDaily: daily.map { SeasonalLag(value: $0) })
}

@Suite struct ScorerIsCalibratedAndExplains {
    let scorer = Scorer(config: .defaults)

    @Test func normalNoiseRarelyCrossesTheThreshold() {
        // Under normal behaviour the score is calibrated: about 1 - threshold of points reach it.
        var noise = Noise(state: 42)
        var series = (0..<60).map { _ in noise.gaussian() }
        var above99 = 0, anomalies = 0
        let n = 20_000
        for _ in 0..<n {
            let x = noise.gaussian()
            let s = scorer.score([observation(x, history: Array(series.suffix(60)))])
            if s.score >= 0.99 { above99 += 1 }
            if s.severity != nil { anomalies += 1 }
            series.append(x)
        }
        let rate = Double(above99) / Double(n)
        #expect(rate > 0.004 && rate < 0.03, "fraction above 0.99 was \(rate)")
        #expect(Double(anomalies) / Double(n) < 0.005, "anomalies at the 0.999 threshold: \(anomalies)")
    }

    @Test func aSpikeIsCriticalWithAReadableExplanation() {
        var noise = Noise(state: 7)
        let history = (0..<60).map { _ in 50 + noise.gaussian() }
        let s = scorer.score([observation(95, metric: "cpu", history: history)])
        #expect(s.severity == .critical)
        #expect(s.metric == "cpu")
        #expect(s.detector == "robust")
        #expect(s.explanation["metric"] == .string("cpu"))
        #expect(s.explanation["actual"] == .number(95))
        guard case .number(let expected)? = s.explanation["expected"], case .array(let range)? = s.explanation["expected_range"],
              case .number(let lo) = range[0], case .number(let hi) = range[1] else {
            Issue.record("explanation lacks expected or range: \(s.explanation.render())"); return
        }
        #expect(abs(expected - 50) < 1)
        #expect(lo < 50 && 50 < hi && hi < 95)
        guard case .array(let contributions)? = s.explanation["top_contributions"] else { Issue.record("no contributions"); return }
        #expect(contributions.first?["feature"] == .string("robust_z"))
    }

    @Test func warmsUpBeforeScoring() {
        let s = scorer.score([observation(1000, history: [1, 2, 3])])
        #expect(s.score == 0)
        #expect(s.severity == nil)
        #expect(s.detector == "none")
    }

    @Test func aSeriesThatNeverVariedFlagsAnyChangeWithoutDividingByZero() {
        let flat = Array(repeating: 5.0, count: 60)
        #expect(scorer.score([observation(5, history: flat)]).score == 0)
        let changed = scorer.score([observation(5.5, history: flat)])
        #expect(changed.severity == .critical)
        #expect(changed.score.isFinite)
    }

    @Test func seasonalLagCatchesWhatTheWindowMisses() {
        // The value is ordinary for the last hour but far from the same time yesterday.
        var noise = Noise(state: 3)
        let history = (0..<60).map { _ in 100 + noise.gaussian() }
        let s = scorer.score([observation(101, history: history, daily: 40)])
        #expect(s.detector == "seasonal")
        #expect(s.severity != nil)
        let robustOnly = Scorer(config: { var c = SourceConfig.defaults; c.detectors = [.robust]; return c }())
        #expect(robustOnly.score([observation(101, history: history, daily: 40)]).severity == nil)
    }

    @Test func yesterdaysIncidentDoesNotMakeTodayLookWrong() {
        // A day ago the value was 400 but flagged, when 100 was expected: today's 100 is normal.
        var noise = Noise(state: 5)
        let history = (0..<60).map { _ in 100 + noise.gaussian() }
        let echo = MetricObservation(metric: "x", x: 100, history: history,
                                     lagDaily: SeasonalLag(value: 400, expected: 100, score: 1))
        #expect(scorer.score([echo]).severity == nil)
        let unflagged = MetricObservation(metric: "x", x: 100, history: history,
                                          lagDaily: SeasonalLag(value: 400, expected: 100, score: 0.5))
        #expect(scorer.score([unflagged]).severity != nil, "a lag that was normal then is the baseline")
    }

    @Test func severalMetricsModeratelyOffTogetherAreAnAnomaly() {
        // Each metric alone is below the threshold; together they are not plausible. The history has median 0
        // and robust scale 1 (MAD 0.6745), so each metric's z is exactly 3.
        let unit = [-1.349, -0.6745, 0, 0.6745, 1.349]
        let history = Array(repeating: unit, count: 12).flatMap { $0 }
        let metrics = ["a", "b", "c", "d", "e"].map { observation(3.0, metric: $0, history: history) }
        let alone = Scorer(config: { var c = SourceConfig.defaults; c.detectors = [.robust]; return c }())
        #expect(alone.score(metrics).severity == nil)
        let together = scorer.score(metrics)
        #expect(together.severity != nil)
        #expect(together.detector == "multivariate")
    }

    @Test func severityTiersFollowTheSourceThresholds() {
        let t = SourceConfig.defaults.thresholds
        #expect(Severity.of(score: 0.998, thresholds: t) == nil)
        #expect(Severity.of(score: 0.999, thresholds: t) == .low)
        #expect(Severity.of(score: 0.99995, thresholds: t) == .medium)
        #expect(Severity.of(score: 0.999995, thresholds: t) == .high)
        #expect(Severity.of(score: 1, thresholds: t) == .critical)
    }

    @Test func onlyTheConfiguredWindowCounts() {
        // An old regime outside the window must not make the current value look abnormal.
        let config = { var c = SourceConfig.defaults; c.window = 20; c.detectors = [.robust]; return c }()
        let history = Array(repeating: 100.0, count: 100) + (0..<20).map { 10 + Double($0 % 3) }
        let s = Scorer(config: config).score([observation(11, history: history)])
        #expect(s.severity == nil)
        #expect(s.features["x"]?["n"] == .number(20))
    }
}

@Suite struct StatisticsAreRight {
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

@Suite struct BackoffAndJitter {
    @Test func growsExponentiallyUpToTheCap() {
        let b = Backoff(base: 0.1, cap: 1)
        #expect(b.delay(attempt: 1, random: 1) == 0.1)
        #expect(abs(b.delay(attempt: 3, random: 1) - 0.4) < 1e-12)
        #expect(b.delay(attempt: 10, random: 1) == 1)
        #expect(b.delay(attempt: 60, random: 0.5) == 0.5)
        #expect(b.delay(attempt: 2, random: 0) == 0)
    }

    @Test func pollJitterStaysWithinTwentyPercent() {
        #expect(jittered(10, random: 0) == 8)
        #expect(abs(jittered(10, random: 1) - 12) < 1e-9)
    }
}

@Suite struct JSONRendersStrictly {
    @Test func escapesAndOrders() {
        let v = JSONValue.object([("b", .string("q\"\\\n\u{1}")), ("a", .array([.number(1), .number(0.5), .null, .bool(true)]))])
        #expect(v.render() == #"{"b":"q\"\\\n\u0001","a":[1,0.5,null,true]}"#)
        #expect(JSONValue.number(.nan).render() == "null")
        #expect(JSONValue.rounded(3.14159265, 3) == .number(3.14))
    }
}
