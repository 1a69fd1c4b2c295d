import Foundation

/// An operator's judgement of an anomaly, as `ad.feedback.feedback_type` spells it.
public enum FeedbackKind: String, Sendable, CaseIterable {
    case falsePositive = "false_positive", truePositive = "true_positive", acknowledged, resolved
}

/// The standing adjustments of one series (source and metric), reduced to what decides whether a point is
/// tolerated: per stream and direction the largest deviation false positives made normal, and per direction the
/// smallest limit confirmed anomalies set.
public struct SeriesLearning: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        public var stream: String
        public var direction: Pattern.Direction
        public init(_ stream: String, _ direction: Pattern.Direction) { self.stream = stream; self.direction = direction }
    }

    /// From false positives (`tolerate` rows): deviations up to this, on this stream and in this direction, are normal.
    public var tolerated: [Key: Double] = [:]
    /// From confirmed anomalies (`keep` rows): no tolerance in this direction, on any stream, may reach this.
    public var kept: [Pattern.Direction: Double] = [:]

    public init(tolerated: [Key: Double] = [:], kept: [Pattern.Direction: Double] = [:]) {
        self.tolerated = tolerated; self.kept = kept
    }

    /// The deviation up to which points of this stream and direction are tolerated, or nil when none are.
    public func tolerance(_ stream: String, _ direction: Pattern.Direction) -> Double? {
        guard let t = tolerated[Key(stream, direction)] else { return nil }
        return min(t, kept[direction] ?? .infinity)
    }

    /// Whether feedback made this point normal: a point like a false positive (same stream and direction, deviating
    /// no further, less the margin a confirmed anomaly keeps) scoring under `high`. High and critical always count.
    public func tolerates(_ pattern: Pattern?, score: Double, high: Double) -> Bool {
        guard score < high, let pattern, let t = tolerance(pattern.stream, pattern.direction) else { return false }
        return pattern.deviation <= t
    }

    /// These bounds with one more adjustment standing.
    public func adding(_ a: Adjustment) -> SeriesLearning {
        var out = self
        switch a.kind {
        case .tolerate:
            let k = Key(a.stream, a.direction)
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
    /// The judged anomaly's stream (a keep limits tolerances of every stream in its direction).
    public var stream: String
    public var direction: Pattern.Direction
    /// tolerate: the deviation up to which similar points are normal; keep: the limit no tolerance may reach.
    public var deviation: Double
    /// The judged anomaly's score.
    public var score: Double
    /// The tolerance of the judged anomaly's stream and direction before and after (nil: none).
    public var effectiveBefore: Double?
    public var effectiveAfter: Double?
    /// Why, for people.
    public var reason: String
}

/// What a judgement teaches: pure, so the bounds are tested without a database.
///
/// An anomaly's `Pattern` says which stream decided it, in which direction, and how far (in robust scales) it lay
/// from what that stream expected. A false positive at deviation d makes points of the same series, stream and
/// direction deviating up to d·(1 + `margin`) normal: the same kind of bump is no longer an anomaly, a larger one,
/// or one in the other direction, or one another stream catches, still is. A confirmed anomaly at deviation c keeps
/// every tolerance in its direction under c / (1 + `margin`), now and later, so points like it keep alerting.
/// Nothing feedback teaches silences a point scoring at least the source's `high` threshold: a burst of careless
/// marks can quiet low and medium anomalies of one kind on one series, never high or critical ones; every
/// adjustment expires (30 days) or can be undone. Acknowledging and resolving say nothing about whether the
/// anomaly was real.
public enum FeedbackLearning {
    /// The relative slack around a judged deviation.
    public static let margin = 0.1

    public enum Outcome: Sendable, Equatable {
        case adjust(Adjustment)
        /// Nothing to learn, and why.
        case nothing(String)
    }

    /// The adjustment `kind` on an anomaly of `pattern` and `score` makes on a series with `learned` standing and
    /// configured `thresholds`. `who` names the person, for the reason.
    public static func learn(_ kind: FeedbackKind, pattern: Pattern?, score: Double, thresholds t: SourceConfig.Thresholds,
                             learned: SeriesLearning, who: String) -> Outcome {
        let by = who.isEmpty ? "" : " by \(who)"
        switch kind {
        case .acknowledged, .resolved:
            return .nothing("\(kind.rawValue): says nothing about whether the anomaly was real; kept for evaluation")
        case .falsePositive, .truePositive:
            break
        }
        guard let pattern else {
            return .nothing("\(kind.rawValue): the anomaly records no pattern (explanation.pattern), so there is nothing to compare later points with")
        }
        let before = learned.tolerance(pattern.stream, pattern.direction)
        let what = "\(pattern.stream) \(fmt(pattern.deviation)) \(pattern.direction.rawValue) expected"
        if kind == .falsePositive {
            var a = Adjustment(kind: .tolerate, stream: pattern.stream, direction: pattern.direction,
                               deviation: pattern.deviation * (1 + margin), score: score, effectiveBefore: before,
                               effectiveAfter: nil, reason: "")
            let after = learned.adding(a).tolerance(pattern.stream, pattern.direction)
            a.effectiveAfter = after
            var reason = "false positive at score \(fmt(score))\(by), \(what): points on this series whose \(pattern.stream) "
                + "is \(pattern.direction.rawValue) expected by at most \(fmt(after ?? 0)) are not anomalies unless they score at least "
                + "high (\(fmt(t.high)))"
            if let kept = learned.kept[pattern.direction], kept < a.deviation {
                reason += "; held at \(fmt(kept)) by a confirmed anomaly"
            }
            if after == before { reason += " (no change: a standing adjustment already covers it)" }
            a.reason = reason
            return .adjust(a)
        }
        var a = Adjustment(kind: .keep, stream: pattern.stream, direction: pattern.direction,
                           deviation: pattern.deviation / (1 + margin), score: score, effectiveBefore: before,
                           effectiveAfter: nil, reason: "")
        let after = learned.adding(a).tolerance(pattern.stream, pattern.direction)
        a.effectiveAfter = after
        var reason = "confirmed anomaly at score \(fmt(score))\(by), \(what): no tolerance \(pattern.direction.rawValue) "
            + "expected on this series may reach \(fmt(a.deviation)), so points like it keep alerting"
        if let before, let after, after < before { reason += "; \(pattern.stream) tolerance goes back from \(fmt(before)) to \(fmt(after))" }
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
    public func tolerates(source: UUID, metric: String, pattern: Pattern?, score: Double, thresholds: SourceConfig.Thresholds) -> Bool {
        guard let learned = series[HistoryCache.Key(source: source, metric: metric)] else { return false }
        return learned.tolerates(pattern, score: score, high: thresholds.high)
    }
}
