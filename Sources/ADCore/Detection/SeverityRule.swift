import Foundation

/// How a point's severity is decided: by the score, and by the size of the deviation in the series' own terms.
///
/// The score says how *surprising* a point is on its series; a person asks how *far off* it is. A new extreme on a
/// calm series can be very surprising (the novelty stream: nothing in the window went so far) and still lie inside
/// the range an operator would call normal: 58 where 50 is expected and 34.7 to 65.3 is the value's range. So a
/// tier above `low` needs both: the score reaching the tier's threshold, and the deviation being as large as the
/// same threshold asks of a deviation on its own. A threshold `t` stands for a surprise `10·t/(1−t)` (decimal
/// digits); a deviation of `z` robust scales has the surprise of its two-sided normal tail. With the default
/// thresholds (0.45, 0.55, 0.65, 0.8) the sizes are 5.8, 7.2, 9.0 and 13.3 robust scales. Every point whose score
/// reaches `low` is still an anomaly (at least `low`): the size only keeps a small deviation from a high tier.
///
/// Duration: when the deviation has lasted (at least half of the last 48 points lay more than 2 robust scales to
/// the same side of the median; on a periodic series, their differences from a season before more than 2 scales to
/// the same side of the usual difference), the size alone sets the tier. The streams judge each point against their recent
/// raw statistics, so a fault that goes on scores lower and lower; its size does not shrink.
///
/// The size is the largest deviation, in robust scales, among the streams that count for the metric: the value
/// against the window's median, the step against the usual step, and on a periodic series the difference from a
/// day (a week) earlier against the usual one. It counts less while little history backs the scale it is
/// measured in: with `n` values in the window, fewer than `backing` (the smaller of `window` and `warmup`), it is
/// multiplied by √(n / backing), so on the 12 points a new series is first scored a deviation needs about 2.9
/// times the size to reach the same tier. A scale of 0 (a MAD of 0: a series that is mostly one value) measures
/// nothing, so no size: such a series' anomalies are `low`. The sizes are at most `largest`, below the cap on z.
public struct SeverityRule: Sendable, Equatable {
    public let thresholds: SourceConfig.Thresholds
    /// The deviation (robust scales) at which each tier starts: low, medium, high, critical.
    public let sizes: [Double]
    /// Window values at which a size counts in full.
    public let backing: Int
    /// The largest size a tier may ask: below the cap on raw z statistics (`PointScorer.cap`), so a threshold set
    /// near 1 (a surprise of thousands of digits) still leaves its tier reachable.
    public static let largest = PointScorer.cap - 1

    public init(config: SourceConfig) {
        thresholds = config.thresholds
        sizes = [config.thresholds.low, config.thresholds.medium, config.thresholds.high, config.thresholds.critical]
            .map { min(Stats.zForUpperLog10Tail(-PointScore.surprise(score: $0) - log10(2)), Self.largest) }
        backing = min(config.window, config.warmup)
    }

    /// A deviation of `scales` robust scales measured on a window of `n` values, as the tiers read it.
    public func effectiveSize(_ scales: Double, history n: Int) -> Double {
        guard n < backing, backing > 0 else { return scales }
        return scales * (Double(max(n, 0)) / Double(backing)).squareRoot()
    }

    /// The tier a deviation of `size` (already effective) reaches on its own, or nil below `low`'s.
    public func tier(size: Double) -> Severity? {
        guard !size.isNaN else { return nil }
        var out: Severity?
        for (tier, z) in zip(Severity.allCases, sizes) where size >= z { out = tier }
        return out
    }

    /// The severity of a point whose score is `score` and whose deviation is `size` (effective): nil below `low`,
    /// else the lower of the score's tier and the size's, and at least `low`. When the deviation has lasted
    /// (`lasting`), the size's tier alone: the streams have got used to a fault that goes on, so its later anomalies
    /// score lower, but it is no less far from normal.
    public func severity(score: Double, size: Double, lasting: Bool = false) -> Severity? {
        guard let byScore = Severity.of(score: score, thresholds: thresholds) else { return nil }
        return max(.low, min(lasting ? .critical : byScore, tier(size: size) ?? .low))
    }
}
