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

/// What a series carries from one point to the next, per metric: the running mean and variance of its raw
/// nonconformity (the "anomaly likelihood" baseline), and how long ago the series last raised an anomaly. Stored in
/// the point's features (`lik`), read back by the next point: O(1) numbers, however long the series.
public struct LikelihoodState: Sendable, Equatable {
    /// Raw scores folded in so far.
    public var count: Int
    /// Exponentially weighted mean and variance of the raw scores.
    public var mean: Double
    public var variance: Double
    /// Points since this series' last anomaly (large when none).
    public var sinceAlarm: Int
    /// The surprise of that anomaly: within the rest period only a more surprising point is an anomaly.
    public var alarmSurprise: Double

    public static let fresh = LikelihoodState(count: 0, mean: 0, variance: 0, sinceAlarm: 1_000_000, alarmSurprise: 0)

    public init(count: Int, mean: Double, variance: Double, sinceAlarm: Int, alarmSurprise: Double) {
        self.count = count; self.mean = mean; self.variance = variance
        self.sinceAlarm = sinceAlarm; self.alarmSurprise = alarmSurprise
    }

    /// Folds in a raw score; `span` bounds the memory (alpha = max(1/count, 1/span)).
    mutating func update(raw: Double, span: Int) {
        count += 1
        let a = max(1 / Double(count), 1 / Double(span))
        let d = raw - mean
        mean += a * d
        variance = (1 - a) * (variance + a * d * d)
    }

    /// `[count, mean, variance, since_alarm, alarm_surprise]`, as stored in features.
    public var json: JSONValue {
        // Unrounded: the next point must start from exactly the state this one left, whichever way it travels.
        .array([.number(Double(count)), .number(mean), .number(variance), .number(Double(min(sinceAlarm, 1_000_000))),
                .number(alarmSurprise)])
    }

    /// Reads the stored form; nil for anything else (the point is then treated as having no state).
    public init?(json: JSONValue?) {
        guard case .array(let a)? = json, a.count == 5 else { return nil }
        var n: [Double] = []
        for v in a { guard case .number(let x) = v, x.isFinite else { return nil }; n.append(x) }
        guard n[0] >= 0, n[2] >= 0, n[3] >= 0 else { return nil }
        self.init(count: Int(n[0]), mean: n[1], variance: n[2], sinceAlarm: Int(n[3]), alarmSurprise: n[4])
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
    /// The state the previous point of this series left (nil: none known, start afresh).
    public var state: LikelihoodState?

    public init(metric: String, x: Double, history: [Double], delta: Double? = nil, secondsSincePrevious: Double? = nil,
                lagDaily: SeasonalLag? = nil, lagWeekly: SeasonalLag? = nil, state: LikelihoodState? = nil) {
        self.metric = metric; self.x = x; self.history = history; self.delta = delta
        self.secondsSincePrevious = secondsSincePrevious; self.lagDaily = lagDaily; self.lagWeekly = lagWeekly
        self.state = state
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
    /// The score in [0, 1]: `surprise / (surprise + 10)`, so 0.5 is a surprise of 10 decimal digits; graded without
    /// saturating, and one threshold means the same on every series (see `Scorer`).
    public var score: Double
    /// -log10 of the probability of evidence this strong in the series' normal behaviour.
    public var surprise: Double
    /// Set when the score reaches the source's `low` threshold.
    public var severity: Severity?
    /// The metric that contributed most.
    public var metric: String
    /// The detector whose evidence decided: robust, seasonal or multivariate (or none while warming up).
    public var detector: String
    /// Per-metric features, stored in data_points.features (each with its `lik` state for the next point).
    public var features: JSONValue
    /// For people: what fired and why.
    public var explanation: JSONValue
    /// The state each metric leaves for the next point of the series.
    public var states: [String: LikelihoodState]

    /// The score of a surprise (decimal digits of improbability).
    public static func score(surprise: Double) -> Double { surprise <= 0 ? 0 : surprise / (surprise + 10) }
    /// The surprise a score stands for.
    public static func surprise(score: Double) -> Double { score >= 1 ? .infinity : 10 * score / (1 - score) }
}

/// Scores points, strictly causally: it sees each metric's earlier values, seasonal lags, and the small state the
/// previous point left.
///
/// Per metric, a raw nonconformity is the largest robust z among the streams the source enables: the value against
/// the median and MAD of the window (`robust`), the change from the previous value against the window's changes
/// (`robust`), and the value against the same time a day or week earlier (`seasonal`). What a raw score means differs
/// from series to series (a noisy series has large ones all the time), so it is judged against the series' own
/// history of raw scores, an exponentially weighted mean and variance over about `likelihood_window` points (the
/// "anomaly likelihood" of Numenta's detectors): the surprise is -log10 of the normal tail beyond that z. Until
/// `warmup` raw scores have been seen, the raw z's own normal tail stands in. Metrics combine by Bonferroni or, when
/// several are off together, Fisher's method (`multivariate`). After an anomaly the series rests for `rest_period`
/// points, in which only a more surprising point is an anomaly (one incident, one anomaly).
public struct Scorer: Sendable {
    public let config: SourceConfig
    /// The surprise at the `low` threshold, and the z whose normal tail has it.
    private let lowSurprise: Double
    private let zLow: Double

    public init(config: SourceConfig) {
        self.config = config
        self.lowSurprise = PointScore.surprise(score: config.thresholds.low)
        self.zLow = Stats.zForUpperLog10Tail(-lowSurprise)
    }

    private struct Evidence {
        var metric: String
        var surprise: Double
        var detector: String
        var z: [(String, Double)]   // (feature, z) for contributions
        var expected: Double
        /// Half-width of the expected range: the deviation at which the surprise reaches the `low` threshold.
        var halfRange: Double
    }

    public func score(_ metrics: [MetricObservation]) -> PointScore {
        var scratch: [Double] = []
        var features: [(String, JSONValue)] = []
        var evidence: [Evidence] = []
        var states: [String: LikelihoodState] = [:]
        for m in metrics.sorted(by: { $0.metric < $1.metric }) {
            let (f, e, state) = assess(m, scratch: &scratch)
            features.append((m.metric, f))
            states[m.metric] = state
            if let e { evidence.append(e) }
        }
        let previous = metrics.compactMap(\.state)
        var sinceAlarm = previous.map(\.sinceAlarm).min() ?? LikelihoodState.fresh.sinceAlarm
        let alarmSurprise = previous.filter { $0.sinceAlarm == sinceAlarm }.map(\.alarmSurprise).max() ?? 0
        sinceAlarm = min(sinceAlarm + 1, LikelihoodState.fresh.sinceAlarm)

        guard let top = evidence.max(by: { $0.surprise < $1.surprise }) else {
            let metric = metrics.map(\.metric).min() ?? ""
            for k in states.keys { states[k]!.sinceAlarm = sinceAlarm; states[k]!.alarmSurprise = alarmSurprise }
            return PointScore(score: 0, surprise: 0, severity: nil, metric: metric, detector: "none",
                              features: .object(withStates(features, states)),
                              explanation: .object([("detector", .string("none")),
                                                    ("reason", .string("warming up: fewer than \(config.minHistory) earlier points"))]),
                              states: states)
        }
        // Bonferroni over the metrics, in log space.
        var surprise = max(0, top.surprise - log10(Double(evidence.count)))
        var detector = top.detector
        if config.detectors.contains(.multivariate), evidence.count >= 2 {
            let joint = -log10(max(Stats.fisher(evidence.map { pow(10, -$0.surprise) }), .leastNormalMagnitude))
            if joint > surprise { detector = "multivariate" }
            surprise = max(0, max(surprise, joint) - log10(2))
        }
        // The rest period: within it, only a point more surprising than the anomaly that started it counts.
        var resting = false
        if sinceAlarm <= config.restPeriod && surprise <= alarmSurprise { resting = true }
        let score = resting ? 0 : PointScore.score(surprise: surprise)
        let severity = Severity.of(score: score, thresholds: config.thresholds)
        let fired = severity != nil
        for k in states.keys {
            states[k]!.sinceAlarm = fired ? 0 : sinceAlarm
            states[k]!.alarmSurprise = fired ? surprise : alarmSurprise
        }
        let contributions = evidence
            .flatMap { e in e.z.map { (e.metric, $0.0, $0.1) } }
            .sorted { abs($0.2) > abs($1.2) }
            .prefix(5)
            .map { JSONValue.object([("metric", .string($0.0)), ("feature", .string($0.1)), ("z", .rounded($0.2, 4))]) }
        let x = metrics.first { $0.metric == top.metric }!.x
        var explanation: [(String, JSONValue)] = [
            ("detector", .string(detector)),
            ("metric", .string(top.metric)),
            ("actual", .rounded(x)),
            ("expected", .rounded(top.expected)),
            ("expected_range", .array([.rounded(top.expected - top.halfRange), .rounded(top.expected + top.halfRange)])),
            ("score", .rounded(score, 8)),
            ("surprise", .rounded(surprise, 4)),
            ("top_contributions", .array(Array(contributions))),
            ("metrics_off", .number(Double(evidence.filter { $0.surprise >= lowSurprise }.count))),
        ]
        if resting { explanation.append(("resting", .string("within \(config.restPeriod) points of an anomaly at least as surprising"))) }
        return PointScore(score: score, surprise: surprise, severity: severity, metric: top.metric, detector: detector,
                          features: .object(withStates(features, states)), explanation: .object(explanation), states: states)
    }

    private func withStates(_ features: [(String, JSONValue)], _ states: [String: LikelihoodState]) -> [(String, JSONValue)] {
        features.map { metric, f in
            guard case .object(var pairs) = f, let s = states[metric] else { return (metric, f) }
            pairs.append(("lik", s.json))
            return (metric, .object(pairs))
        }
    }

    /// Features of one metric, its evidence when it has enough history, and the state it leaves.
    private func assess(_ m: MetricObservation, scratch: inout [Double]) -> (JSONValue, Evidence?, LikelihoodState) {
        var state = m.state ?? .fresh
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

        guard history.count >= config.minHistory,
              let (centre, rawScale) = Stats.robustCentreAndScale(history, scratch: &scratch) else {
            return (.object(f), nil, state)
        }
        // A series that never varied has scale 0: any change is then decisive, but not a division by zero.
        let floor = 1e-9 * max(1, abs(centre))
        let scale = max(rawScale, floor)
        f += [("median", .rounded(centre)), ("scale", .rounded(scale))]
        // Streams: (detector, feature, z, expected, scale).
        var streams: [(detector: String, feature: String, z: Double, expected: Double, scale: Double)] = []
        if config.detectors.contains(.robust) {
            streams.append(("robust", "robust_z", (m.x - centre) / scale, centre, scale))
            if let last = history.last, history.count >= 3 {
                let deltas = zip(history.dropFirst(), history).lazy.map { $0 - $1 }
                if let (dc, ds) = Stats.robustCentreAndScale(deltas, count: history.count - 1, scratch: &scratch) {
                    let s = max(ds, floor)
                    streams.append(("robust", "delta_z", (m.x - last - dc) / s, last + dc, s))
                }
            }
        }
        if config.detectors.contains(.seasonal) {
            var lags: [Double] = []
            if config.seasonality.contains(.daily), let v = daily { lags.append(v) }
            if config.seasonality.contains(.weekly), let v = weekly { lags.append(v) }
            if !lags.isEmpty {
                let expected = lags.reduce(0, +) / Double(lags.count)
                // The lags are single noisy observations: their noise adds to the point's.
                let s = scale * (1 + 1 / Double(lags.count)).squareRoot()
                streams.append(("seasonal", "seasonal_z", (m.x - expected) / s, expected, s))
            }
        }
        for s in streams { f.append((s.feature, .rounded(s.z, 4))) }
        guard let best = streams.max(by: { abs($0.z) < abs($1.z) }) else { return (.object(f), nil, state) }
        let raw = abs(best.z)
        // Against the series' own raw scores once there are enough of them; before that, the raw z's normal tail.
        let surprise: Double
        let rawAtLow: Double  // the raw score at which the surprise reaches the `low` threshold
        if state.count >= config.warmup {
            let sd = max(state.variance.squareRoot(), 1e-3)
            surprise = max(0, -Stats.log10UpperTail((raw - state.mean) / sd))
            rawAtLow = state.mean + zLow * sd
        } else {
            surprise = max(0, -(Stats.log10UpperTail(raw) + log10(2)) - log10(Double(streams.count)))
            rawAtLow = zLow
        }
        state.update(raw: raw, span: config.likelihoodWindow)
        f += [("raw", .rounded(raw, 4)), ("surprise", .rounded(surprise, 4))]
        return (.object(f), Evidence(metric: m.metric, surprise: surprise, detector: best.detector,
                                     z: streams.map { ($0.feature, $0.z) }, expected: best.expected,
                                     halfRange: max(0, rawAtLow) * best.scale), state)
    }
}
