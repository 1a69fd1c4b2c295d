import Foundation

/// An operator's judgement of an anomaly, as `ad.feedback.feedback_type` spells it.
public enum FeedbackKind: String, Sendable, CaseIterable {
    case falsePositive = "false_positive", truePositive = "true_positive", acknowledged, resolved
}

/// The standing adjustments of one series (source and metric), reduced to what decides whether a point is
/// tolerated: per measure and direction the largest deviation false positives made normal, and per direction the
/// smallest limit confirmed anomalies set.
public struct SeriesLearning: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        public var measure: String
        public var direction: Pattern.Direction
        public init(_ measure: String, _ direction: Pattern.Direction) {
            self.measure = measure; self.direction = direction
        }
    }

    /// From false positives (`tolerate` rows): deviations up to this, on this measure and in this direction, are normal.
    public var tolerated: [Key: Double] = [:]
    /// From confirmed anomalies (`keep` rows): no tolerance in this direction, on any measure, may reach this.
    public var kept: [Pattern.Direction: Double] = [:]

    public init(tolerated: [Key: Double] = [:], kept: [Pattern.Direction: Double] = [:]) {
        self.tolerated = tolerated; self.kept = kept
    }

    /// The deviation up to which points of this measure and direction are tolerated, or nil when none are.
    public func tolerance(_ measure: String, _ direction: Pattern.Direction) -> Double? {
        guard let t = tolerated[Key(measure, direction)] else { return nil }
        return min(t, kept[direction] ?? .infinity)
    }

    /// Whether feedback made this point normal: a point like a false positive (same measure and direction, deviating
    /// no further, less the margin a confirmed anomaly keeps) scoring under `high`. High and critical always count.
    public func tolerates(_ pattern: Pattern?, score: Double, high: Double) -> Bool {
        guard score < high, let pattern, let t = tolerance(pattern.measure, pattern.direction) else { return false }
        return pattern.deviation <= t
    }

    /// These bounds with one more adjustment standing.
    public func adding(_ a: Adjustment) -> SeriesLearning {
        var out = self
        switch a.kind {
        case .tolerate:
            let k = Key(a.measure, a.direction)
            out.tolerated[k] = max(tolerated[k] ?? 0, a.deviation)
        case .keep: out.kept[a.direction] = min(kept[a.direction] ?? .infinity, a.deviation)
        }
        return out
    }
}

/// One row of `ad.scoring_adjustments`, before it is written.
public struct Adjustment: Sendable, Equatable {
    public enum Kind: String, Sendable { case tolerate, keep }
    public var kind: Kind
    /// The judged anomaly's measure (a keep limits tolerances of every measure in its direction).
    public var measure: String
    public var direction: Pattern.Direction
    /// tolerate: the deviation up to which similar points are normal; keep: the limit no tolerance may reach.
    public var deviation: Double
    /// The judged anomaly's score.
    public var score: Double
    /// The tolerance of the judged anomaly's measure and direction before and after (nil: none).
    public var effectiveBefore: Double?
    public var effectiveAfter: Double?
    /// Why, for people.
    public var reason: String
}

/// What a judgement teaches: pure, so the bounds are tested without a database.
///
/// An anomaly's `Pattern` says what its deviation measures (the value against the window's centre, the step from
/// the previous value, a sustained level shift, the difference from a day or a week before), in which direction,
/// and how far, in robust scales. A false positive at deviation d makes points of the same series, measure and
/// direction deviating up to d·(1 + `margin`) + `slack` normal: the same kind of bump is no longer an anomaly; a
/// clearly larger one, one in the other direction, or one of another measure still is. A confirmed anomaly at
/// deviation c keeps every tolerance in its direction under (c − `slack`) / (1 + `margin`), now and later, so points
/// like it keep alerting.
/// Nothing feedback teaches silences a point scoring at least the source's `high` threshold: a burst of careless
/// marks can quiet low and medium anomalies of one kind on one series, never high or critical ones; every
/// adjustment expires (30 days) or can be undone. Acknowledging and resolving say nothing about whether the
/// anomaly was real.
public enum FeedbackLearning {
    /// The slack around a judged deviation: relative, and absolute in robust scales (a repeat of the same bump
    /// deviates by its own noise, about ±2 scales, plus the drift of the window's scale).
    public static let margin = 0.1, slack = 3.0

    /// The most a point may deviate and be like a false positive at `deviation`.
    public static func tolerance(falsePositive deviation: Double) -> Double { deviation * (1 + margin) + slack }
    /// The limit a confirmed anomaly at `deviation` sets: every point at least as far as it stays outside tolerance.
    public static func limit(confirmed deviation: Double) -> Double { max(0, (deviation - slack) / (1 + margin)) }

    public enum Outcome: Sendable, Equatable {
        case adjust(Adjustment)
        /// Nothing to learn, and why.
        case nothing(String)
    }

    /// The adjustment `kind` on an anomaly of `pattern` and `score` makes on a series with `learned` standing and
    /// configured `thresholds`. `who` names the person, for the reason.
    public static func learn(
        _ kind: FeedbackKind, pattern: Pattern?, score: Double, thresholds t: SourceConfig.Thresholds,
        learned: SeriesLearning, who: String
    ) -> Outcome {
        let by = who.isEmpty ? "" : " by \(who)"
        switch kind {
        case .acknowledged, .resolved:
            return .nothing("\(kind.rawValue): says nothing about whether the anomaly was real; kept for evaluation")
        case .falsePositive, .truePositive:
            break
        }
        guard let pattern else {
            return .nothing(
                "\(kind.rawValue): the anomaly records no pattern (explanation.pattern), so there is nothing to compare later points with"
            )
        }
        let before = learned.tolerance(pattern.measure, pattern.direction)
        let what = "\(pattern.measure) \(fmt(pattern.deviation)) \(pattern.direction.rawValue) expected"
        if kind == .falsePositive {
            var a = Adjustment(
                kind: .tolerate, measure: pattern.measure, direction: pattern.direction,
                deviation: tolerance(falsePositive: pattern.deviation), score: score, effectiveBefore: before,
                effectiveAfter: nil, reason: "")
            let after = learned.adding(a).tolerance(pattern.measure, pattern.direction)
            a.effectiveAfter = after
            var reason =
                "false positive at score \(fmt(score))\(by), \(what): points on this series whose \(pattern.measure) "
                + "is \(pattern.direction.rawValue) expected by at most \(fmt(after ?? 0)) are not anomalies unless they score at least "
                + "high (\(fmt(t.high)))"
            if let kept = learned.kept[pattern.direction], kept < a.deviation {
                reason += "; held at \(fmt(kept)) by a confirmed anomaly"
            }
            if after == before { reason += " (no change: a standing adjustment already covers it)" }
            a.reason = reason
            return .adjust(a)
        }
        var a = Adjustment(
            kind: .keep, measure: pattern.measure, direction: pattern.direction,
            deviation: limit(confirmed: pattern.deviation), score: score, effectiveBefore: before,
            effectiveAfter: nil, reason: "")
        let after = learned.adding(a).tolerance(pattern.measure, pattern.direction)
        a.effectiveAfter = after
        var reason =
            "confirmed anomaly at score \(fmt(score))\(by), \(what): no tolerance \(pattern.direction.rawValue) "
            + "expected on this series may reach \(fmt(a.deviation)), so points like it keep alerting"
        if let before, let after, after < before {
            reason += "; \(pattern.measure) tolerance goes back from \(fmt(before)) to \(fmt(after))"
        }
        a.reason = reason
        return .adjust(a)
    }

    static func fmt(_ x: Double) -> String { String(format: "%.4f", x) }
}

/// What feedback taught, for every series with standing adjustments, as the scoring loop applies it.
public struct LearnedPatterns: Sendable {
    public var series: [HistoryCache.Key: SeriesLearning] = [:]

    public init(_ series: [HistoryCache.Key: SeriesLearning] = [:]) { self.series = series }

    /// Whether feedback made this point normal on its series, though its score reaches an anomaly threshold.
    public func tolerates(
        source: UUID, metric: String, pattern: Pattern?, score: Double, thresholds: SourceConfig.Thresholds
    ) -> Bool {
        guard let learned = series[HistoryCache.Key(source: source, metric: metric)] else { return false }
        return learned.tolerates(pattern, score: score, high: thresholds.high)
    }
}
