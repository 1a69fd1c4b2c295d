import Foundation

/// An operator's judgement of an anomaly, as `ad.feedback.feedback_type` spells it.
public enum FeedbackKind: String, Sendable, CaseIterable {
    case falsePositive = "false_positive", truePositive = "true_positive", acknowledged, resolved
}

/// The standing adjustments of one series (source and metric), reduced to the two numbers that decide its threshold.
public struct LearnedBounds: Sendable, Equatable {
    /// The highest standing raise: from false positives, the score a point needs to be an anomaly.
    public var raisedTo: Double?
    /// The lowest standing keep: from confirmed anomalies, the most a raise may ask.
    public var keptAt: Double?

    public init(raisedTo: Double? = nil, keptAt: Double? = nil) { self.raisedTo = raisedTo; self.keptAt = keptAt }

    /// The score a point on this series needs to be an anomaly: the configured `low`, or the highest raise capped
    /// by the lowest keep and by `high` (so high and critical anomalies always count), never below `low`.
    public func effectiveLow(_ t: SourceConfig.Thresholds) -> Double {
        guard let raisedTo else { return t.low }
        return max(t.low, min(raisedTo, keptAt ?? 1, t.high))
    }

    /// These bounds with one more adjustment standing.
    public func adding(_ a: Adjustment.Kind, _ threshold: Double) -> LearnedBounds {
        switch a {
        case .raise: LearnedBounds(raisedTo: max(raisedTo ?? threshold, threshold), keptAt: keptAt)
        case .keep: LearnedBounds(raisedTo: raisedTo, keptAt: min(keptAt ?? threshold, threshold))
        }
    }
}

/// One row of `ad.scoring_adjustments`, before it is written.
public struct Adjustment: Sendable, Equatable {
    public enum Kind: String, Sendable { case raise, keep }
    public var kind: Kind
    public var threshold: Double
    public var effectiveBefore: Double
    public var effectiveAfter: Double
    /// Why, for people.
    public var reason: String
}

/// What a judgement teaches: pure, so the bounds are tested without a database.
///
/// A false positive at score s raises the series' threshold to s + `margin` (points that score about as high, or
/// lower, stop being anomalies), capped at the source's `high` threshold: a burst of careless marks can silence low
/// and medium anomalies on a series, never high or critical ones, and every raise expires (30 days) or can be undone.
/// A confirmed anomaly at score s keeps the series at most at s: no raise, standing or future, silences points
/// scoring like it. Acknowledging and resolving say nothing about whether the anomaly was real.
public enum FeedbackLearning {
    /// How much more than a false positive's score a point needs to remain an anomaly.
    public static let margin = 0.01

    public enum Outcome: Sendable, Equatable {
        case adjust(Adjustment)
        /// Nothing to learn, and why.
        case nothing(String)
    }

    /// The adjustment `kind` at `score` makes on a series with `learned` standing and configured `thresholds`.
    /// `who` names the person, for the reason.
    public static func learn(_ kind: FeedbackKind, score: Double, thresholds t: SourceConfig.Thresholds,
                             learned: LearnedBounds, who: String) -> Outcome {
        let before = learned.effectiveLow(t)
        let by = who.isEmpty ? "" : " by \(who)"
        switch kind {
        case .acknowledged, .resolved:
            return .nothing("\(kind.rawValue): says nothing about whether the anomaly was real; kept for evaluation")
        case .falsePositive:
            let wanted = score + margin
            let threshold = min(wanted, t.high)
            let after = learned.adding(.raise, threshold).effectiveLow(t)
            var reason = "false positive at score \(fmt(score))\(by): points on this series need \(fmt(after)) to be anomalies (was \(fmt(before)))"
            if wanted > t.high { reason += "; capped at the high threshold \(fmt(t.high)), so high and critical anomalies always count" }
            if let kept = learned.keptAt, kept < min(threshold, t.high) {
                reason += "; held at \(fmt(kept)) by a confirmed anomaly"
            }
            if after == before { reason += " (no change: a standing adjustment already covers it)" }
            return .adjust(Adjustment(kind: .raise, threshold: threshold, effectiveBefore: before, effectiveAfter: after, reason: reason))
        case .truePositive:
            let threshold = min(max(score, Double.ulpOfOne), t.high)
            let after = learned.adding(.keep, threshold).effectiveLow(t)
            var reason = "confirmed anomaly at score \(fmt(score))\(by): learning will not raise this series above \(fmt(threshold))"
            if after < before { reason += "; its threshold goes back from \(fmt(before)) to \(fmt(after))" }
            return .adjust(Adjustment(kind: .keep, threshold: threshold, effectiveBefore: before, effectiveAfter: after, reason: reason))
        }
    }

    static func fmt(_ x: Double) -> String { String(format: "%.4f", x) }
}

/// The learned bounds of every series with standing adjustments, as the scoring loop applies them.
public struct LearnedThresholds: Sendable {
    public var bounds: [HistoryCache.Key: LearnedBounds] = [:]

    public init(_ bounds: [HistoryCache.Key: LearnedBounds] = [:]) { self.bounds = bounds }

    /// Whether feedback made `score` too low to be an anomaly on this series (the configured thresholds would flag it).
    public func suppresses(source: UUID, metric: String, score: Double, thresholds: SourceConfig.Thresholds) -> Bool {
        guard let learned = bounds[HistoryCache.Key(source: source, metric: metric)] else { return false }
        return score < learned.effectiveLow(thresholds)
    }
}
