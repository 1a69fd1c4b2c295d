import Foundation

/// Scores points, strictly causally: it sees each metric's earlier values (the last `window`), their differences
/// from a day and a week before, the seasonal lags, and the small state the previous point left.
///
/// Per metric, several streams of evidence each give a raw statistic:
/// - `value` (robust_z): |x − median| / robust scale of the window (1.4826·MAD);
/// - `step` (delta_z): the change from the previous value against the window's changes;
/// - `novelty`: how far x lies outside the range the series remembers, in robust scales: the window's, widened by
///   older extremes that fade by `noveltyFade` robust scales a point (a new high of a week-long cycle is no news
///   because the window holds three days);
/// - `burst`: how improbable the number of |z| > 4 points among the last 24 is, given how often the window has
///   them (Poisson, in decimal digits);
/// - `shift` (level_shift): the same for one-sided z > 2 (or < −2) points among the last 48: a level shift;
/// - `daily`, `weekly` (seasonal_z): x minus its value a day (week) earlier, against the window's own such differences.
///
/// A raw statistic means different things on different series (a noisy series has large ones all the time), so
/// each stream judges it against its own running mean and variance of raw statistics over about
/// `likelihood_window` points (Numenta's "anomaly likelihood"): the surprise is how many standard deviations it
/// lies above that mean. The `value` and `step` streams judge log(1 + z) rather than z where the series' z's are
/// heavy-tailed (their running sd above `heavyTail` times their mean; |z| of Gaussian noise has 0.76): such a series
/// (counts of tweets) has z of 10 every day, and on the log scale such a z is ordinary there. Until `warmup` raw
/// statistics are in, a z's normal tail stands in. A metric's surprise is
/// the largest of its streams', with one switch: on a series whose differences from a day (week) before are much
/// tighter than its values (interquartile ratio below 0.3, a strongly periodic series) the seasonal streams replace
/// `value` and `step`, which would fire on every daily peak. Metrics combine by Bonferroni or, when several are off
/// together, Fisher's method (`multivariate`). A series that has raised anomalies lately is less surprised by one
/// more: the surprise loses `alarmWeight · log10(1 + recent anomalies)`, each anomaly counting 1 and halving every
/// `alarmHalfLife` points. The score is `surprise / (surprise + 10)`. After an anomaly the series rests for
/// `rest_period` points, scoring 0 (one incident, one anomaly; the streams keep learning).
///
/// The fixed parameters below were chosen on the Numenta Anomaly Benchmark (docs/research) and are the same for
/// every source.
public struct PointScorer: Sendable {
    public let config: SourceConfig
    /// Raw z statistics are capped here, so one absurd value cannot blow a baseline's variance up for weeks.
    public static let cap = 100.0
    public static let burstZ = 4.0, burstSpan = 24, burstWeight = 1.5
    public static let shiftZ = 2.0, shiftSpan = 48
    /// How fast the novelty stream forgets an extreme that left the window, in robust scales a point, and how much
    /// its surprise counts (like the burst stream's, a stream that is silent on most points).
    public static let noveltyFade = 0.003, noveltyWeight = 1.4
    /// How much a series' recent anomalies discount the next one's surprise, and how fast they are forgotten.
    public static let alarmWeight = 0.5, alarmHalfLife = 3000.0
    /// The ratio of sd to mean of a stream's raw z above which the value and step streams judge log(1 + z).
    public static let heavyTail = 1.1
    /// The interquartile ratio (seasonal differences / values) below which a series counts as periodic.
    public static let periodicRatio = 0.3
    /// The surprise at the `low` threshold, and the z whose normal tail has it.
    private let lowSurprise: Double
    private let zLow: Double
    /// The config's detectors and seasons, looked up once rather than hashed several times per metric.
    private let robust: Bool, seasonal: Bool, multivariate: Bool, daily: Bool, weekly: Bool
    /// How the score and the size of the deviation make a severity.
    public let severityRule: SeverityRule

    public init(config: SourceConfig) {
        self.config = config
        self.lowSurprise = PointScore.surprise(score: config.thresholds.low)
        self.zLow = Stats.zForUpperLog10Tail(-lowSurprise)
        self.severityRule = SeverityRule(config: config)
        (robust, seasonal, multivariate) = (
            config.detectors.contains(.robust), config.detectors.contains(.seasonal),
            config.detectors.contains(.multivariate)
        )
        (daily, weekly) = (config.seasonality.contains(.daily), config.seasonality.contains(.weekly))
    }

    private struct Evidence: Sendable {
        var metric: String
        var surprise: Double
        var detector: String
        /// Every stream that counted (the first `streamCount`).
        var streams: InlineArray<7, Judged>
        var streamCount: Int
        var expected: Double
        /// The deciding stream's expected range: for the value, step and seasonal streams the deviation at which
        /// that stream's surprise reaches the `low` threshold, either side of `expected`; for novelty the window's
        /// range; for burst and shift the band a point must leave to count (4 and 2 robust scales).
        var rangeLow: Double, rangeHigh: Double
        /// The deviation's size for the severity (`SeverityRule`): the largest of the counted value, step and
        /// seasonal z, as much as the history backs it; `level` the same without the step (is the value still off?).
        var size: Double, level: Double
        /// Values in the window, and seconds since the previous point (for the explanation's words).
        var window: Int, spacing: Double?
        /// Whether the deviation has lasted: at least half of the last 48 points lay on the value's side of normal
        /// by more than 2 scales (the shift stream's flags against the median; on a periodic series, the differences
        /// from a season before against their usual one). Then the size alone sets the severity.
        var lasting: Bool
        /// Whether the window's robust scale is more than 0: only then does a size mean anything (a series that is
        /// mostly one value, a counter that is mostly 0, has MAD 0, and any change would be 100 scales).
        var measured: Bool
        /// What the words (`summary`) describe: `why`, but a burst of one point (this one) is its value.
        var words: Explanation.Why
        /// The deciding stream's kind of deviation and its size.
        var pattern: Pattern?
        /// The deciding stream, and its numbers for the explanation's sentence.
        var why: Explanation.Why
    }

    /// One stream's raw statistic and the surprise it was judged to have.
    private struct Judged: Sendable {
        var stream: DetectorState.Stream, raw: Double, surprise: Double
        static let none = Judged(stream: .value, raw: 0, surprise: 0)
    }

    /// `storingState` says of each metric whether its features carry the state it leaves (`lik`): the worker stores
    /// it at checkpoints only (see `BatchPlan.checkpointSpacing`); the state is in `states` either way.
    public func score(_ metrics: [MetricObservation], storingState: (String) -> Bool = { _ in true }) -> PointScore {
        var scratch: [Double] = []
        let ordered =
            zip(metrics, metrics.dropFirst()).allSatisfy { $0.metric < $1.metric }
            ? metrics
            : metrics.sorted { $0.metric < $1.metric }
        var features: [(metric: String, features: FeatureList)] = []
        features.reserveCapacity(ordered.count)
        var evidence: [Evidence] = []
        var states: [(metric: String, state: DetectorState)] = []
        states.reserveCapacity(ordered.count)
        var previous = DetectorState.never, priorAlarms = 0.0
        for m in ordered {
            let (f, e, state) = assess(m, scratch: &scratch)
            features.append((m.metric, f))
            states.append((m.metric, state))
            if let e { evidence.append(e) }
            if let s = m.state { previous = min(previous, s.sinceAlarm); priorAlarms = max(priorAlarms, s.alarms) }
        }
        let sinceAlarm = min(previous + 1, DetectorState.never)
        let alarms = priorAlarms * Self.alarmFading
        func stored(_ severity: Severity?) -> (MetricStates, [(metric: String, features: FeatureList)]) {
            for i in states.indices {
                states[i].state.sinceAlarm = severity != nil ? 0 : sinceAlarm
                states[i].state.alarms = alarms + (severity != nil ? 1 : 0)
                if storingState(states[i].metric) { features[i].features.state = states[i].state }
            }
            return (MetricStates(states), features)
        }

        guard let top = evidence.max(by: { $0.surprise < $1.surprise }) else {
            let (states, features) = stored(nil)
            let minHistory = config.minHistory
            return PointScore(
                score: 0, surprise: 0, severity: nil, metric: ordered.first?.metric ?? "", detector: "none",
                metricFeatures: features, states: states, pattern: nil,
                explain: { Explanation(detector: "none", reason: Explanation.warmingUp(minHistory: minHistory)) })
        }
        // Bonferroni over the metrics, in log space.
        var surprise = max(0, top.surprise - log10(Double(evidence.count)))
        var detector = top.detector
        if multivariate, evidence.count >= 2 {
            let joint = -log10(max(Stats.fisher(evidence.map { pow(10, -$0.surprise) }), .leastNormalMagnitude))
            if joint > surprise { detector = "multivariate" }
            surprise = max(0, max(surprise, joint) - log10(2))
        }
        surprise = max(0, surprise - Self.alarmWeight * log10(1 + alarms))
        let resting = sinceAlarm <= config.restPeriod
        let score = resting ? 0 : PointScore.score(surprise: surprise)
        // Whether it is an anomaly is the score's alone (so the rest period and NAB see the same points); how
        // severe, also the size of the deviation (`SeverityRule`).
        let byScore = Severity.of(score: score, thresholds: config.thresholds)
        let rule = severityRule
        let severity = byScore.map { _ in rule.severity(score: score, size: top.size, lasting: top.lasting)! }
        let bySize = rule.tier(size: top.size)
        // Still off: a metric whose deviation has lasted (the same side of normal for at least half of the last 48
        // points) and is as large as `low` asks, on a scale that measures something. Size alone is not enough:
        // noise on a heavy-tailed series has large deviations now and then, and they would keep an alert open.
        let off: [(metric: String, severity: Severity)] =
            severity != nil
            ? []
            : evidence.compactMap { e in
                e.lasting && e.measured ? rule.tier(size: e.level).map { (e.metric, $0) } : nil
            }
        let (finalStates, finalFeatures) = stored(severity)
        let x = ordered.first { $0.metric == top.metric }!.x
        let (lowSurprise, restPeriod) = (lowSurprise, config.restPeriod)
        return PointScore(
            score: score, surprise: surprise, severity: severity, metric: top.metric, detector: detector,
            metricFeatures: finalFeatures, states: finalStates,
            pattern: top.pattern, off: off
        ) { [detector, surprise, evidence] in
            let contributions =
                evidence
                .flatMap { e in (0..<e.streamCount).map { (e.metric, e.streams[$0]) } }
                .sorted { ($0.1.surprise, $0.1.raw) > ($1.1.surprise, $1.1.raw) }
                .prefix(5)
                .map {
                    Explanation.Contribution(
                        metric: $0.0, feature: "\($0.1.stream.feature)",
                        value: JSONValue.roundedValue($0.1.raw, 4),
                        surprise: JSONValue.roundedValue($0.1.surprise, 4))
                }
            let range = Explanation.ExpectedRange(
                low: JSONValue.roundedValue(top.rangeLow), high: JSONValue.roundedValue(top.rangeHigh))
            let basis = severity.map { _ in
                Explanation.SeverityBasis(
                    byScore: byScore, bySize: bySize, size: JSONValue.roundedValue(top.size, 4),
                    history: top.window < rule.backing ? top.window : nil, lasting: top.lasting ? true : nil)
            }
            let metricsOff = evidence.filter { $0.surprise >= lowSurprise }.count
            return Explanation(
                detector: detector, decidedBy: top.why.stream.name, metric: top.metric,
                actual: JSONValue.roundedValue(x), expected: JSONValue.roundedValue(top.expected), expectedRange: range,
                score: JSONValue.roundedValue(score, 8), surprise: JSONValue.roundedValue(surprise, 4),
                topContributions: Array(contributions), metricsOff: metricsOff,
                pattern: top.pattern.flatMap {
                    Pattern(
                        measure: $0.measure, direction: $0.direction,
                        deviation: JSONValue.roundedValue($0.deviation, 4) ?? .nan)
                },
                resting: resting ? "within \(restPeriod) points of an anomaly" : nil,
                reason: Explanation.reason(
                    top.why, metric: top.metric, actual: x, expectedRange: range,
                    multivariate: detector == "multivariate" ? metricsOff : nil,
                    restingWithin: resting ? restPeriod : nil,
                    severity: severity.map { ($0, basis!, rule) }),
                summary: Explanation.summary(top.words, actual: x, spacing: top.spacing),
                severityBasis: basis)
        }
    }

    /// Whether a stream's baseline judges log(1 + raw) rather than raw (see the type's comment).
    private static func judgedOnLogScale(_ stream: DetectorState.Stream) -> Bool { stream == .value || stream == .step }

    /// Whether a raw-z baseline says the series' z's are heavy-tailed (so they are judged on the log scale); so too
    /// before it has `warmup` values.
    private static func isHeavyTailed(_ raw: Baseline, warmup: Int) -> Bool {
        raw.count < warmup || raw.variance.squareRoot() > heavyTail * max(raw.mean, 1e-9)
    }

    /// What is left of the recent anomalies' count after one point.
    private static let alarmFading = pow(0.5, 1 / alarmHalfLife)

    /// Median and robust scale of `n` values, from their sorted window when one of that size came with them.
    private static func centreAndScale(
        _ values: some Sequence<Double>, count n: Int, sorted: SortedWindow?,
        scratch: inout [Double]
    ) -> (centre: Double, scale: Double)? {
        if let sorted, sorted.count == n { return Stats.robustCentreAndScale(values, sorted: sorted) }
        return Stats.robustCentreAndScale(values, count: n, scratch: &scratch)
    }

    /// How far a point lies from normal in its series' own terms, for the severity (`SeverityRule`), in robust
    /// scales: `size` for an anomaly, `level` (the same without the step) for "is the value still off?". Not the
    /// novelty, burst or shift statistics: they are not distances from normal.
    /// - On a periodic series, the largest seasonal z (the streams that count there).
    /// - Otherwise the value's z, and the step's when it moves away from the median and no season vouches for the
    ///   value: a return towards normal after a fault is a large step, not a large deviation, and so is a return to
    ///   the value a day (a week) before (a season's own comparison, not an echo of an anomaly, within what `low`
    ///   asks of a size).
    private func deviationSize(
        value: Double, step: Double, stepAway: Bool, periodic: Bool, seasonal: some Sequence<Double>
    ) -> (size: Double, level: Double) {
        if periodic {
            let z = seasonal.max() ?? 0
            return (z, z)
        }
        let vouched = seasonal.contains { $0 < severityRule.sizes[0] }
        return (max(value, stepAway && !vouched ? step : 0), value)
    }

    /// One seasonal stream's view of a point.
    private struct SeasonalView {
        var stream: DetectorState.Stream
        var z: Double, expected: Double, scale: Double, periodic: Bool, echo: Bool
        /// Whether the differences' robust scale is more than 0 (then `z` is a size), and how many of the last 48
        /// (this point's included) lay more than 2 scales above (below) the usual difference.
        var measured: Bool, above: Int, below: Int
        /// The value a season before, and the window's typical difference from it (for the explanation).
        var lag: Double, typical: Double
    }

    /// Features of one metric, its evidence when it has enough history, and the state it leaves.
    private func assess(_ m: MetricObservation, scratch: inout [Double]) -> (FeatureList, Evidence?, DetectorState) {
        var state = m.state ?? .fresh
        let history = m.history.suffix(config.window)
        let n = history.count
        var f = FeatureList()
        f.set(.x, m.x); f[.n] = .exact(Double(n))
        if n >= 2 {
            let (mean, sd) = Stats.meanAndStandardDeviation(history)
            f.set(.mean, mean); f.set(.sd, sd)
        }
        f.set(.delta, m.delta); f.set(.dt, m.secondsSincePrevious)
        f.set(.rate, m.delta.flatMap { d in m.secondsSincePrevious.flatMap { $0 > 0 ? d / $0 : nil } })
        if let lag = m.lagDaily {
            f.set(.lag_daily, lag.value)
            f[.dd] = .exact(m.x - lag.value)  // unrounded: later points read it back as a seasonal difference
        }
        if let lag = m.lagWeekly {
            f.set(.lag_weekly, lag.value)
            f[.dw] = .exact(m.x - lag.value)
        }

        guard n >= config.minHistory,
            let (centre, rawScale) = Self.centreAndScale(history, count: n, sorted: m.sortedHistory, scratch: &scratch)
        else {
            return (f, nil, state)
        }
        // A series that never varied has scale 0: any change is then decisive, but not a division by zero.
        let floor = 1e-9 * max(1, abs(centre))
        let scale = max(rawScale, floor)
        f.set(.median, centre); f.set(.scale, scale)

        // The window's range and how often it strays as far as the burst and shift streams ask: from its sorted
        // values when they came (z rises with the value, so each count is a binary search), else in one pass.
        var lowest = Double.infinity, highest = -Double.infinity, far = 0, above = 0, below = 0
        if let sorted = m.sortedHistory, sorted.count == n {
            func z(_ v: Double) -> Double { (v - centre) / scale }
            lowest = sorted.sorted[0]; highest = sorted.sorted[n - 1]
            far = (n - sorted.firstIndex { z($0) > Self.burstZ }) + sorted.firstIndex { !(z($0) < -Self.burstZ) }
            above = n - sorted.firstIndex { z($0) > Self.shiftZ }
            below = sorted.firstIndex { !(z($0) < -Self.shiftZ) }
        } else {
            for v in history {
                lowest = min(lowest, v); highest = max(highest, v)
                let z = (v - centre) / scale
                if abs(z) > Self.burstZ { far += 1 }
                if z > Self.shiftZ { above += 1 } else if z < -Self.shiftZ { below += 1 }
            }
        }
        // The extremes remembered from before the window widen its range (`noveltyFade`).
        let (windowHigh, windowLow, remembered) = (highest, lowest, state.high >= state.low)
        if remembered { highest = max(highest, state.high); lowest = min(lowest, state.low) }
        state.high = max(windowHigh, m.x, remembered ? state.high - Self.noveltyFade * scale : m.x)
        state.low = min(windowLow, m.x, remembered ? state.low + Self.noveltyFade * scale : m.x)
        let zSigned = (m.x - centre) / scale
        let zValue = min(abs(zSigned), Self.cap)
        let novelty = min(max(0, m.x - highest, lowest - m.x) / scale, Self.cap)
        var zStep = 0.0, stepExpected = m.x, stepScale = scale, stepMeasured = false
        if n >= config.minHistory + 1, let last = history.last {
            let deltas = zip(history.dropFirst(), history).lazy.map { $0 - $1 }
            if let (dc, ds) = Self.centreAndScale(deltas, count: n - 1, sorted: m.sortedSteps, scratch: &scratch) {
                stepScale = max(ds, floor)
                stepMeasured = ds > 0
                stepExpected = last + dc
                zStep = min(abs(m.x - stepExpected) / stepScale, Self.cap)
            }
        }
        // Burst and level shift: how improbable the recent count of exceedances is, at the window's own rate.
        let rareness = 1 / Double(config.window)
        state.burst = ((state.burst << 1) | (zValue > Self.burstZ ? 1 : 0)) & ((1 << Self.burstSpan) - 1)
        state.above = ((state.above << 1) | (zSigned > Self.shiftZ ? 1 : 0)) & ((1 << Self.shiftSpan) - 1)
        state.below = ((state.below << 1) | (zSigned < -Self.shiftZ ? 1 : 0)) & ((1 << Self.shiftSpan) - 1)
        func countSurprise(_ flags: UInt64, span: Int, inWindow: Int) -> Double {
            let k = flags.nonzeroBitCount
            guard k > 0 else { return 0 }
            return Stats.poissonUpperTailDigits(k, mean: Double(span) * max(Double(inWindow) / Double(n), rareness))
        }
        let burst = countSurprise(state.burst, span: Self.burstSpan, inWindow: far)
        let shiftAbove = countSurprise(state.above, span: Self.shiftSpan, inWindow: above)
        let shiftBelow = countSurprise(state.below, span: Self.shiftSpan, inWindow: below)
        let shift = max(shiftAbove, shiftBelow)

        var seasonal: [SeasonalView] = []
        if self.seasonal {
            var valueIQR: Double?
            for daily in [true, false] where daily ? self.daily : weekly {
                guard let lag = daily ? m.lagDaily : m.lagWeekly else { continue }
                // The window's own differences from a season before (aligned with the history at its end), kept
                // sorted when they came so (the same figures as selecting them, to the bit).
                let diffs = (daily ? m.dailyDiffs : m.weeklyDiffs).suffix(n)
                let own = diffs.lazy.filter { !$0.isNaN }
                let count = diffs.count { !$0.isNaN }
                guard count >= config.minHistory else { continue }
                let sorted = (daily ? m.sortedDailyDiffs : m.sortedWeeklyDiffs).flatMap { $0.count == count ? $0 : nil }
                let centreAndScale =
                    if let sorted { Stats.robustCentreAndScale(own, sorted: sorted) } else {
                        Stats.robustCentreAndScale(own, count: count, scratch: &scratch)
                    }
                guard let (dc, ds) = centreAndScale else { continue }
                let s = max(ds, floor)
                let z = min(abs(m.x - lag.value - dc) / s, Self.cap)
                var sidesAbove = m.x - lag.value - dc > Self.shiftZ * s ? 1 : 0
                var sidesBelow = m.x - lag.value - dc < -Self.shiftZ * s ? 1 : 0
                for d in diffs.suffix(Self.shiftSpan - 1) where !d.isNaN {
                    if d - dc > Self.shiftZ * s {
                        sidesAbove += 1
                    } else if d - dc < -Self.shiftZ * s {
                        sidesBelow += 1
                    }
                }
                if valueIQR == nil {
                    valueIQR =
                        if let h = m.sortedHistory, h.count == n { h.interquartileRange } else {
                            Stats.interquartileRange(history, scratch: &scratch)
                        }
                }
                let ownIQR = sorted?.interquartileRange ?? Stats.interquartileRange(Array(own), scratch: &scratch)
                let ratio = valueIQR! > 0 ? ownIQR / valueIQR! : 100
                f.set(daily ? .daily_ratio : .weekly_ratio, ratio, digits: 4)
                // When that point was itself an anomaly, today's normal would look wrong against it: the stream
                // abstains (and does not learn from it), but the series is no less periodic for that.
                let echo = lag.score.map { $0 >= config.thresholds.low } ?? false
                if echo {
                    if daily { f[.seasonal_z_abstains] = .note } else { f[.seasonal_weekly_z_abstains] = .note }
                }
                seasonal.append(
                    SeasonalView(
                        stream: daily ? .daily : .weekly, z: z, expected: lag.value + dc, scale: s,
                        periodic: ratio < Self.periodicRatio, echo: echo, measured: ds > 0, above: sidesAbove,
                        below: sidesBelow, lag: lag.value, typical: dc))
            }
        }

        // Each stream against its own baseline; before the baseline has `warmup` points, a z's normal tail.
        let zStreams = 2 + seasonal.count { !$0.echo }
        // The baselines as they judged this point: the expected range below comes from them, not from the baselines
        // after they learnt the point (a large step widens its own baseline, and a range taken after would contain
        // the very value that fired).
        let judgedBy = state
        func judge(_ stream: DetectorState.Stream, _ raw: Double, isZ: Bool, weight: Double = 1) -> Judged {
            let surprise: Double
            let judged = Self.judgedOnLogScale(stream) ? log1p(raw) : raw
            if Self.judgedOnLogScale(stream) {
                // Both baselines learn; the raw one judges where the series' z's are not heavy-tailed.
                let r = state.rawBaselines[stream.rawValue]
                state.rawBaselines[stream.rawValue].update(raw, span: config.likelihoodWindow)
                if !Self.isHeavyTailed(r, warmup: config.warmup), let e = r.excess(raw, warmup: config.warmup) {
                    state.baselines[stream.rawValue].update(judged, span: config.likelihoodWindow)
                    return Judged(stream: stream, raw: raw, surprise: weight * e)
                }
            }
            if let e = state.baselines[stream.rawValue].excess(judged, warmup: config.warmup) {
                surprise = e
            } else if isZ {
                surprise = max(0, -(Stats.log10UpperTail(raw) + log10(2)) - log10(Double(zStreams)))
            } else {
                surprise = 0
            }
            state.baselines[stream.rawValue].update(judged, span: config.likelihoodWindow)
            return Judged(stream: stream, raw: raw, surprise: weight * surprise)
        }
        var judged = InlineArray<7, Judged>(repeating: .none)
        judged[0] = judge(.value, zValue, isZ: true)
        judged[1] = judge(.step, zStep, isZ: true)
        judged[2] = judge(.novelty, novelty, isZ: false, weight: Self.noveltyWeight)
        judged[3] = judge(.burst, burst, isZ: false, weight: Self.burstWeight)
        judged[4] = judge(.shift, shift, isZ: false)
        var judgedCount = 5
        for s in seasonal where !s.echo { judged[judgedCount] = judge(s.stream, s.z, isZ: true); judgedCount += 1 }
        for i in 0..<judgedCount { f.set(judged[i].stream.key, judged[i].raw, digits: 4) }

        // Which streams count: on a periodic series the seasonal ones stand in for value and step.
        let periodic = seasonal.contains(where: \.periodic)
        var counted = InlineArray<7, Judged>(repeating: .none)
        var countedCount = 0
        var best: Judged?
        for i in 0..<judgedCount {
            let j = judged[i]
            let counts =
                switch j.stream {
                case .value, .step: robust && !periodic
                case .novelty, .burst, .shift: robust
                case .daily, .weekly: !robust || seasonal.contains { $0.periodic && $0.stream == j.stream }
                }
            guard counts else { continue }
            counted[countedCount] = j; countedCount += 1
            if best.map({ j.surprise > $0.surprise }) ?? true { best = j }  // the first of the largest, as `max` picks
        }
        guard let best else { return (f, nil, state) }
        f.set(.surprise, best.surprise, digits: 4)

        // The expected value and range of the stream that decided (value-based streams share the value's).
        let view = seasonal.first { $0.stream == best.stream }
        let (expected, rangeScale, baseline): (Double, Double, DetectorState.Stream) =
            if let view { (view.expected, view.scale, view.stream) } else if best.stream == .step {
                (stepExpected, stepScale, .step)
            } else { (centre, scale, .value) }
        let onLogScale =
            Self.judgedOnLogScale(baseline)
            && Self.isHeavyTailed(judgedBy.rawBaselines[baseline.rawValue], warmup: config.warmup)
        let b =
            Self.judgedOnLogScale(baseline) && !onLogScale
            ? judgedBy.rawBaselines[baseline.rawValue] : judgedBy.baselines[baseline.rawValue]
        let judgedAtLow = b.mean + lowSurprise * max(b.variance.squareRoot(), 1e-3)
        let rawAtLow = b.count > config.warmup ? (onLogScale ? expm1(judgedAtLow) : judgedAtLow) : zLow
        // The deciding stream's own numbers, for the explanation's sentence (none of them feeds a score).
        func rate(_ inWindow: Int) -> Double { Double(inWindow) / Double(n) }
        let why: Explanation.Why =
            switch best.stream {
            case .value: .value(z: zSigned, median: centre, window: n)
            case .step:
                .step(
                    previous: history.last, typicalChange: stepExpected - (history.last ?? stepExpected),
                    deviation: (m.x - stepExpected) / stepScale)
            case .novelty:  // the sentence speaks of the window's own range: the remembered one only widens it
                .novelty(
                    distance: max(0, m.x - windowHigh, windowLow - m.x) / scale, low: windowLow, high: windowHigh,
                    window: n)
            case .burst:
                .burst(
                    count: state.burst.nonzeroBitCount, span: Self.burstSpan, z: Self.burstZ, median: centre,
                    expected: Double(Self.burstSpan) * max(rate(far), rareness))
            case .shift:
                shiftAbove >= shiftBelow
                    ? .shift(
                        count: state.above.nonzeroBitCount, span: Self.shiftSpan, above: true, z: Self.shiftZ,
                        median: centre,
                        expected: Double(Self.shiftSpan) * max(rate(above), rareness))
                    : .shift(
                        count: state.below.nonzeroBitCount, span: Self.shiftSpan, above: false, z: Self.shiftZ,
                        median: centre,
                        expected: Double(Self.shiftSpan) * max(rate(below), rareness))
            case .daily, .weekly:
                .seasonal(
                    daily: best.stream == .daily, lag: view?.lag ?? .nan, typicalDifference: view?.typical ?? .nan,
                    deviation: view.map { (m.x - $0.expected) / $0.scale } ?? .nan)
            }
        let half = max(0, rawAtLow) * rangeScale
        let (rangeLow, rangeHigh): (Double, Double) =
            switch best.stream {
            case .novelty: (lowest, highest)
            case .burst: (centre - Self.burstZ * scale, centre + Self.burstZ * scale)
            case .shift: (centre - Self.shiftZ * scale, centre + Self.shiftZ * scale)
            case .value, .step, .daily, .weekly: (expected - half, expected + half)
            }
        // Sizes only on scales that measure something (a MAD of 0 has none: the value, step or season adds no size).
        let sized = seasonal.filter { !$0.echo && $0.measured }
        let (size, level) = deviationSize(
            value: rawScale > 0 ? zValue : 0, step: stepMeasured ? zStep : 0,
            stepAway: (m.x - stepExpected) * zSigned > 0, periodic: periodic, seasonal: sized.lazy.map(\.z))
        // Lasting: on a periodic series against the season (the largest seasonal deviation's side), else against
        // the median (the shift stream's flags).
        let lasting: Bool
        if periodic {
            if let v = sized.filter(\.periodic).max(by: { $0.z < $1.z }) {
                lasting = (m.x - v.expected > 0 ? v.above : v.below) * 2 >= Self.shiftSpan
            } else {
                lasting = false
            }
        } else {
            lasting = (zSigned > 0 ? state.above : state.below).nonzeroBitCount * 2 >= Self.shiftSpan
        }
        return (
            f,
            Evidence(
                metric: m.metric, surprise: best.surprise, detector: view == nil ? "robust" : "seasonal",
                streams: counted, streamCount: countedCount,
                expected: expected, rangeLow: rangeLow, rangeHigh: rangeHigh,
                size: severityRule.effectiveSize(size, history: n),
                level: severityRule.effectiveSize(level, history: n),
                window: n, spacing: m.secondsSincePrevious,
                lasting: lasting, measured: periodic ? !sized.filter(\.periodic).isEmpty : rawScale > 0,
                words: best.stream == .burst && state.burst.nonzeroBitCount <= 1
                    ? .value(z: zSigned, median: centre, window: n) : why,
                pattern: Pattern(stream: best.stream, actual: m.x, expected: expected, scale: rangeScale),
                why: why), state
        )
    }
}
