import Foundation

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

/// The state each metric of a point leaves, in metric order (a point has a few metrics: a search, not a hash).
public struct MetricStates: Sendable {
    public private(set) var items: [(metric: String, state: DetectorState)]
    init(_ items: [(metric: String, state: DetectorState)]) { self.items = items }
    public subscript(metric: String) -> DetectorState? { items.first { $0.metric == metric }?.state }
}

/// The outcome for one point.
public struct PointScore: Sendable {
    /// The score in [0, 1]: `surprise / (surprise + 10)`, so 0.5 is a surprise of 10; graded without
    /// saturating, and one threshold means the same on every series (see `PointScorer`).
    public var score: Double
    /// How many standard deviations the deciding stream's raw statistic lies above that stream's running mean on
    /// this series (after warm-up; before it, -log10 of the z's normal tail), less the multiple-metric correction.
    public var surprise: Double
    /// Set when the score reaches the source's `low` threshold: then at least `low`, and at most the tier both the
    /// score and the size of the deviation reach (`SeverityRule`).
    public var severity: Severity?
    /// The metric that contributed most.
    public var metric: String
    /// The detector whose evidence decided: robust, seasonal or multivariate (or none while warming up).
    public var detector: String
    /// Per-metric features, in metric order, stored in data_points.features (with the `lik` state where
    /// `storingState` asked).
    public var metricFeatures: [(metric: String, features: FeatureList)]
    /// The features as a value.
    public var features: JSONValue { .object(metricFeatures.map { ($0.metric, $0.features.json) }) }
    /// The features as JSON text, rendered straight from `metricFeatures` (what the worker stores).
    public var featuresText: String { FeatureList.render(metricFeatures) }
    /// For people: what fired and why (stored as `ad.anomalies.explanation`). Built when asked for: the worker
    /// needs it only for the points it keeps as anomalies, and building it for every point was a tenth of the
    /// scoring time.
    public var explanation: Explanation { explain() }
    /// The state each metric leaves for the next point of the series.
    public var states: MetricStates
    /// What kind of deviation decided, and how large: what feedback learns from (`FeedbackLearning`). Nil while
    /// the series warms up.
    public var pattern: Pattern?
    /// Builds `explanation`.
    let explain: @Sendable () -> Explanation
    /// For a point that is not itself an anomaly: each metric whose value still lies as far from normal as a tier
    /// asks (`SeverityRule.tier(size:)` of its value or seasonal deviation), with that tier. A fault that lasts
    /// keeps its open alert going through these (`AlertRaiser.sustain`), while the rest period holds the score at
    /// 0 and the streams' baselines get used to it. Empty for most points.
    public var off: [(metric: String, severity: Severity)] = []

    init(
        score: Double, surprise: Double, severity: Severity?, metric: String, detector: String,
        metricFeatures: [(metric: String, features: FeatureList)], states: MetricStates, pattern: Pattern?,
        off: [(metric: String, severity: Severity)] = [], explain: @escaping @Sendable () -> Explanation
    ) {
        self.score = score; self.surprise = surprise; self.severity = severity; self.metric = metric
        self.detector = detector; self.metricFeatures = metricFeatures; self.states = states; self.pattern = pattern
        self.off = off; self.explain = explain
    }

    /// The score of a surprise.
    public static func score(surprise: Double) -> Double { surprise <= 0 ? 0 : surprise / (surprise + 10) }
    /// The surprise a score stands for.
    public static func surprise(score: Double) -> Double { score >= 1 ? .infinity : 10 * score / (1 - score) }
}

/// The shape of the deviation that decided a point's score (the explanation's `pattern`): what it measures, in
/// which direction, and how far from the expected value, in robust scales. "Similar points" for feedback are those
/// of the same series, measure and direction, deviating no further (`FeedbackLearning`).
public struct Pattern: Sendable, Equatable {
    public enum Direction: String, Sendable, CaseIterable { case above, below }
    /// `value` (decided by the value, novelty or burst stream: the value against the window's median), `step` (the
    /// change from the previous value), `level_shift` (a sustained run to one side), `daily` or `weekly` (the
    /// difference from a season before).
    public var measure: String
    public var direction: Direction
    /// |actual − expected| / scale, finite and ≥ 0.
    public var deviation: Double

    public init?(measure: String, direction: Direction, deviation: Double) {
        guard !measure.isEmpty, deviation.isFinite, deviation >= 0 else { return nil }
        self.measure = measure; self.direction = direction; self.deviation = deviation
    }

    /// From the expected value and scale of the stream that decided; nil when they say nothing.
    init?(stream: DetectorState.Stream, actual: Double, expected: Double, scale: Double) {
        guard scale > 0, scale.isFinite else { return nil }
        let d = (actual - expected) / scale
        self.init(measure: stream.measure, direction: d < 0 ? .below : .above, deviation: abs(d))
    }

    public var json: JSONValue {
        .object([
            ("measure", .string(measure)), ("direction", .string(direction.rawValue)),
            ("deviation", .rounded(deviation, 4)),
        ])
    }
}
