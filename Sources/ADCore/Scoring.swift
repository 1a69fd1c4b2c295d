import Foundation

/// The same metric a day (or week) earlier: its value, what was expected of it then, and its score.
public struct SeasonalLag: Sendable, Equatable {
    public var value: Double
    public var expected: Double?
    public var score: Double?
    public init(value: Double, expected: Double? = nil, score: Double? = nil) {
        self.value = value; self.expected = expected; self.score = score
    }

    /// The baseline it gives: its value, unless it was itself an anomaly, when what was expected of it stands in,
    /// so yesterday's incident does not make today's normal look wrong.
    func baseline(threshold: Double) -> Double {
        if let score, score >= threshold, let expected { return expected }
        return value
    }
}

/// One metric of one point, with the window features the SQL computed.
public struct MetricObservation: Sendable, Equatable {
    public var metric: String
    /// The observed value.
    public var x: Double
    /// Earlier values of this metric of this source, oldest first (strictly before this point).
    public var history: [Double]
    /// x minus the previous value, and seconds since the previous point (nil for the first point).
    public var delta: Double?
    public var secondsSincePrevious: Double?
    /// The same metric at the same time a day and a week earlier, where data exists.
    public var lagDaily: SeasonalLag?
    public var lagWeekly: SeasonalLag?

    public init(metric: String, x: Double, history: [Double], delta: Double? = nil, secondsSincePrevious: Double? = nil,
                lagDaily: SeasonalLag? = nil, lagWeekly: SeasonalLag? = nil) {
        self.metric = metric; self.x = x; self.history = history; self.delta = delta
        self.secondsSincePrevious = secondsSincePrevious; self.lagDaily = lagDaily; self.lagWeekly = lagWeekly
    }
}

/// Severity tiers, lowest first.
public enum Severity: String, Sendable, Comparable, CaseIterable {
    case low, medium, high, critical
    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }

    /// The highest tier whose threshold `score` reaches, or nil below `low`.
    public static func of(score: Double, thresholds t: SourceConfig.Thresholds) -> Severity? {
        if score >= t.critical { return .critical }
        if score >= t.high { return .high }
        if score >= t.medium { return .medium }
        if score >= t.low { return .low }
        return nil
    }
}

/// The outcome for one point.
public struct PointScore: Sendable {
    /// Calibrated score in [0, 1]: one minus the probability of evidence this strong in normal behaviour, so a
    /// threshold t flags about a fraction 1 - t of normal points on every series.
    public var score: Double
    /// The tail probability behind the score.
    public var pValue: Double
    /// Set when the score reaches the source's `low` threshold.
    public var severity: Severity?
    /// The metric that contributed most.
    public var metric: String
    /// The detector whose evidence decided: robust, seasonal or multivariate (or none while warming up).
    public var detector: String
    /// Per-metric features, stored in data_points.features.
    public var features: JSONValue
    /// For people: what fired and why.
    public var explanation: JSONValue
}

/// Scores points: strictly causal (it sees only each metric's earlier values and seasonal lags).
public struct Scorer: Sendable {
    public let config: SourceConfig
    /// |z| at the `low` threshold, for expected ranges.
    private let rangeZ: Double

    public init(config: SourceConfig) {
        self.config = config
        self.rangeZ = Stats.zForTwoSidedP(1 - config.thresholds.low)
    }

    private struct Evidence {
        var metric: String
        var p: Double
        var detector: String
        var z: [(String, Double)]   // (feature, z) for contributions
        var expected: Double
        var scale: Double
    }

    public func score(_ metrics: [MetricObservation]) -> PointScore {
        var features: [(String, JSONValue)] = []
        var evidence: [Evidence] = []
        for m in metrics.sorted(by: { $0.metric < $1.metric }) {
            let (f, e) = assess(m)
            features.append((m.metric, f))
            if let e { evidence.append(e) }
        }
        guard let top = evidence.min(by: { $0.p < $1.p }) else {
            let metric = metrics.map(\.metric).min() ?? ""
            return PointScore(score: 0, pValue: 1, severity: nil, metric: metric, detector: "none",
                              features: .object(features),
                              explanation: .object([("detector", .string("none")),
                                                    ("reason", .string("warming up: fewer than \(config.minHistory) earlier points"))]))
        }
        var p = min(1, Double(evidence.count) * top.p)
        var detector = top.detector
        if config.detectors.contains(.multivariate), evidence.count >= 2 {
            let joint = Stats.fisher(evidence.map(\.p))
            if joint < p { detector = "multivariate" }
            p = min(1, 2 * min(p, joint))
        }
        let score = max(0, min(1, 1 - p))
        let severity = Severity.of(score: score, thresholds: config.thresholds)
        let contributions = evidence
            .flatMap { e in e.z.map { (e.metric, $0.0, $0.1) } }
            .sorted { abs($0.2) > abs($1.2) }
            .prefix(5)
            .map { JSONValue.object([("metric", .string($0.0)), ("feature", .string($0.1)), ("z", .rounded($0.2, 4))]) }
        let x = metrics.first { $0.metric == top.metric }!.x
        let explanation = JSONValue.object([
            ("detector", .string(detector)),
            ("metric", .string(top.metric)),
            ("actual", .rounded(x)),
            ("expected", .rounded(top.expected)),
            ("expected_range", .array([.rounded(top.expected - rangeZ * top.scale), .rounded(top.expected + rangeZ * top.scale)])),
            ("score", .rounded(score, 8)),
            ("surprise", .rounded(-log10(max(p, 1e-300)), 4)),
            ("top_contributions", .array(Array(contributions))),
            ("metrics_off", .number(Double(evidence.filter { $0.p < 1 - config.thresholds.low }.count))),
        ])
        return PointScore(score: score, pValue: p, severity: severity, metric: top.metric, detector: detector,
                          features: .object(features), explanation: explanation)
    }

    /// Features of one metric, and its evidence when it has enough history.
    private func assess(_ m: MetricObservation) -> (JSONValue, Evidence?) {
        let history = m.history.suffix(config.window)
        var f: [(String, JSONValue)] = [("x", .rounded(m.x)), ("n", .number(Double(history.count)))]
        let n = Double(history.count)
        if history.count >= 2 {
            let mean = history.reduce(0, +) / n
            let sd = (history.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
            f += [("mean", .rounded(mean)), ("sd", .rounded(sd))]
        }
        f += [("delta", .rounded(m.delta)), ("dt", .rounded(m.secondsSincePrevious)),
              ("rate", .rounded(m.delta.flatMap { d in m.secondsSincePrevious.flatMap { $0 > 0 ? d / $0 : nil } }))]
        let low = config.thresholds.low
        let daily = m.lagDaily?.baseline(threshold: low), weekly = m.lagWeekly?.baseline(threshold: low)
        if daily != nil { f.append(("lag_daily", .rounded(daily))) }
        if weekly != nil { f.append(("lag_weekly", .rounded(weekly))) }

        guard history.count >= config.minHistory, let (centre, rawScale) = Stats.robustCentreAndScale(Array(history)) else {
            return (.object(f), nil)
        }
        // A series that never varied has scale 0: any change is then decisive, but not a division by zero.
        let scale = max(rawScale, 1e-9 * max(1, abs(centre)))
        f += [("median", .rounded(centre)), ("scale", .rounded(scale))]
        var candidates: [(detector: String, feature: String, z: Double, expected: Double, scale: Double)] = []
        if config.detectors.contains(.robust) {
            let z = (m.x - centre) / scale
            f.append(("robust_z", .rounded(z, 4)))
            candidates.append(("robust", "robust_z", z, centre, scale))
        }
        if config.detectors.contains(.seasonal) {
            var lags: [Double] = []
            if config.seasonality.contains(.daily), let v = daily { lags.append(v) }
            if config.seasonality.contains(.weekly), let v = weekly { lags.append(v) }
            if !lags.isEmpty {
                let expected = lags.reduce(0, +) / Double(lags.count)
                // The lags are single noisy observations: their noise adds to the point's.
                let s = scale * (1 + 1 / Double(lags.count)).squareRoot()
                let z = (m.x - expected) / s
                f.append(("seasonal_z", .rounded(z, 4)))
                candidates.append(("seasonal", "seasonal_z", z, expected, s))
            }
        }
        guard let best = candidates.max(by: { abs($0.z) < abs($1.z) }) else { return (.object(f), nil) }
        let p = min(1, Double(candidates.count) * Stats.twoSidedP(best.z))
        f.append(("p", .rounded(p, 4)))
        return (.object(f), Evidence(metric: m.metric, p: p, detector: best.detector,
                                     z: candidates.map { ($0.feature, $0.z) }, expected: best.expected, scale: best.scale))
    }
}
