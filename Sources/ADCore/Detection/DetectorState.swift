import Foundation

/// The running mean and variance of one stream's raw scores (exponentially weighted over about `span` points):
/// the baseline a new raw score is judged against, Numenta's "anomaly likelihood".
public struct Baseline: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var variance: Double
    public static let fresh = Baseline(count: 0, mean: 0, variance: 0)

    public init(count: Int, mean: Double, variance: Double) {
        self.count = count; self.mean = mean; self.variance = variance
    }

    /// How many standard deviations `raw` lies above the mean (0 below it); nil until `warmup` raw scores are in.
    func excess(_ raw: Double, warmup: Int) -> Double? {
        guard count >= warmup else { return nil }
        return max(0, (raw - mean) / max(variance.squareRoot(), 1e-3))
    }

    /// Folds in a raw score; `span` bounds the memory (alpha = max(1/count, 1/span)).
    mutating func update(_ raw: Double, span: Int) {
        count += 1
        let a = max(1 / Double(count), 1 / Double(span))
        let d = raw - mean
        mean += a * d
        variance = (1 - a) * (variance + a * d * d)
    }
}

/// What a series carries from one point to the next, per metric: each stream's baseline, the recent exceedance
/// flags the burst and level-shift streams count, how long ago the series last raised an anomaly and how many it has
/// raised lately, the highest and lowest values it remembers beyond its window, and raw-z baselines of the value and
/// step streams beside their log-scale ones. Stored unrounded in a point's features (`lik`) at the worker's
/// checkpoints and read back by the points after it: 34 numbers, however long the series.
public struct DetectorState: Sendable, Equatable {
    /// The evidence streams of one metric (see `PointScorer`).
    public enum Stream: Int, Sendable, CaseIterable {
        case value, step, novelty, burst, shift, daily, weekly

        /// Its statistic's slot in features.
        public var key: FeatureList.Key {
            switch self {
            case .value: .robust_z
            case .step: .delta_z
            case .novelty: .novelty_z
            case .burst: .burst
            case .shift: .level_shift
            case .daily: .seasonal_z
            case .weekly: .seasonal_weekly_z
            }
        }

        /// The feature name of its statistic, in features and explanations.
        public var feature: StaticString { key.name }

        /// What its deviation measures, for feedback (`Pattern`): the value, novelty and burst streams all judge the
        /// value against the window's median, so a bump is the same pattern whichever of them fired first.
        public var measure: String {
            switch self {
            case .value, .novelty, .burst: "value"
            case .step: "step"
            case .shift: "level_shift"
            case .daily: "daily"
            case .weekly: "weekly"
            }
        }
    }

    /// Per stream (indexed by `Stream.rawValue`), inline: a state is copied from point to point, and an array's
    /// copy-on-write allocated at every point.
    public var baselines: InlineArray<7, Baseline>
    /// The last `PointScorer.burstSpan` points' flags of |z| > `PointScorer.burstZ`, newest in bit 0.
    public var burst: UInt64
    /// The last `PointScorer.shiftSpan` points' flags of z > `PointScorer.shiftZ` and of z < -`PointScorer.shiftZ`.
    public var above: UInt64
    public var below: UInt64
    /// Points since this series' last anomaly (large when none).
    public var sinceAlarm: Int
    /// The series' recent anomalies, each counted 1 when raised and halving every `PointScorer.alarmHalfLife` points.
    public var alarms: Double
    /// The highest and lowest values the novelty stream remembers: the window's extremes, and older ones fading by
    /// `PointScorer.noveltyFade` robust scales a point. None yet when `high < low` (fresh: -1 and 1).
    public var high: Double
    public var low: Double
    /// The value and step streams' baselines of raw z (indexed by `Stream.rawValue`, 0 and 1): they decide whether
    /// the series' z's are heavy-tailed, and judge them where they are not (see `PointScorer.heavyTail`).
    public var rawBaselines: InlineArray<2, Baseline>

    public static let never = 1_000_000
    public static let fresh = DetectorState(
        baselines: InlineArray(repeating: .fresh), burst: 0, above: 0, below: 0, sinceAlarm: never)

    public init(
        baselines: InlineArray<7, Baseline>, burst: UInt64, above: UInt64, below: UInt64, sinceAlarm: Int,
        alarms: Double = 0, high: Double = -1, low: Double = 1,
        rawBaselines: InlineArray<2, Baseline> = InlineArray(repeating: .fresh)
    ) {
        precondition(baselines.count == Stream.allCases.count)
        self.baselines = baselines; self.burst = burst; self.above = above; self.below = below;
        self.sinceAlarm = sinceAlarm; self.alarms = alarms; self.high = high; self.low = low
        self.rawBaselines = rawBaselines
    }

    public static func == (a: DetectorState, b: DetectorState) -> Bool {
        a.burst == b.burst && a.above == b.above && a.below == b.below && a.sinceAlarm == b.sinceAlarm
            && a.alarms == b.alarms && a.high == b.high && a.low == b.low
            && a.rawBaselines[0] == b.rawBaselines[0] && a.rawBaselines[1] == b.rawBaselines[1]
            && a.baselines.indices.allSatisfy { a.baselines[$0] == b.baselines[$0] }
    }

    /// `[count, mean, variance] per stream, burst, above, below, since_alarm, alarms, high, low, [count, mean,
    /// variance] of the raw value and step baselines`, as stored in features.
    public var json: JSONValue {
        let n = numbers
        return .array(n.indices.map { .number(n[$0]) })
    }

    /// `json`, rendered straight into bytes (the worker stores it at every checkpoint).
    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        let n = numbers
        for i in n.indices {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeNumber(n[i], into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The stored numbers, unrounded: the next point must start from exactly the state this one left, whichever
    /// way it travels.
    private var numbers: InlineArray<34, Double> {
        var n = InlineArray<34, Double>(repeating: 0)
        for i in baselines.indices {
            let b = baselines[i]
            (n[3 * i], n[3 * i + 1], n[3 * i + 2]) = (Double(b.count), b.mean, b.variance)
        }
        let b = 3 * baselines.count
        (n[b], n[b + 1], n[b + 2], n[b + 3]) = (
            Double(burst), Double(above), Double(below), Double(min(sinceAlarm, Self.never))
        )
        (n[b + 4], n[b + 5], n[b + 6]) = (alarms, high, low)
        for i in 0..<2 {
            let r = rawBaselines[i]
            (n[b + 7 + 3 * i], n[b + 8 + 3 * i], n[b + 9 + 3 * i]) = (Double(r.count), r.mean, r.variance)
        }
        return n
    }

    private static let stored = 3 * Stream.allCases.count + 13  // 34, as `numbers` holds them
    /// The 0.1.x form, without `alarms`, `high`, `low` and the raw baselines (read as none yet, so an upgraded series
    /// keeps its baselines).
    private static let storedBefore = stored - 9

    /// Reads the stored form (or the 0.1.x one); nil for anything else, including an older detector's state (the
    /// point is then treated as having none, and its series starts afresh).
    public init?(json: JSONValue?) {
        guard case .array(let a)? = json, a.count == Self.stored || a.count == Self.storedBefore else { return nil }
        var n = InlineArray<34, Double>(repeating: 0)
        for i in a.indices { guard case .number(let x) = a[i] else { return nil }; n[i] = x }
        self.init(stored: n, count: a.count)
    }

    /// Reads the stored form from its JSON text, as PostgreSQL prints the jsonb array; nil for anything else, as
    /// `init(json:)`. A batch of series the worker has not cached starts each one from this text, and decoding it
    /// with `JSONDecoder` was more than half of the worker's time in such a batch.
    public init?(text: String) {
        let u = text.utf8
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        func isNumberByte(_ c: UInt8) -> Bool {  // no letters but the exponent's: no inf, nan or hex floats
            (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
        }
        var i = u.startIndex
        func skipSpace() { while i < u.endIndex && isSpace(u[i]) { u.formIndex(after: &i) } }
        skipSpace()
        guard i < u.endIndex, u[i] == UInt8(ascii: "[") else { return nil }
        u.formIndex(after: &i)
        var n = InlineArray<34, Double>(repeating: 0)
        var count = 0
        while true {
            skipSpace()
            let start = i
            while i < u.endIndex && isNumberByte(u[i]) { u.formIndex(after: &i) }
            guard count < Self.stored, i > start, let x = Double(Substring(u[start..<i])) else { return nil }
            n[count] = x
            count += 1
            skipSpace()
            guard i < u.endIndex else { return nil }
            let c = u[i]
            u.formIndex(after: &i)
            if c == UInt8(ascii: "]") { break }
            guard c == UInt8(ascii: ",") else { return nil }
        }
        skipSpace()
        guard i == u.endIndex, count == Self.stored || count == Self.storedBefore else { return nil }
        self.init(stored: n, count: count)
    }

    /// The first `count` stored numbers (`stored` or `storedBefore`) back into a state; nil when they cannot be one.
    private init?(stored n: InlineArray<34, Double>, count: Int) {
        for i in 0..<count { guard n[i].isFinite else { return nil } }
        var baselines = InlineArray<7, Baseline>(repeating: .fresh)
        for s in baselines.indices {
            let (c, m, v) = (n[3 * s], n[3 * s + 1], n[3 * s + 2])
            guard c >= 0, c < 0x1p52, v >= 0, c == c.rounded() else { return nil }
            baselines[s] = Baseline(count: Int(c), mean: m, variance: v)
        }
        let b = 3 * baselines.count
        for i in b..<(b + 3) { guard n[i] >= 0, n[i] < 0x1p52, n[i] == n[i].rounded() else { return nil } }
        guard n[b + 3] >= 0, n[b + 3] < 0x1p52 else { return nil }  // Int(_:) traps on what does not fit
        self.init(
            baselines: baselines, burst: UInt64(n[b]), above: UInt64(n[b + 1]), below: UInt64(n[b + 2]),
            sinceAlarm: Int(n[b + 3]))
        if count == Self.stored {
            guard n[b + 4] >= 0 else { return nil }
            (alarms, high, low) = (n[b + 4], n[b + 5], n[b + 6])
            for i in 0..<2 {
                let (c, m, v) = (n[b + 7 + 3 * i], n[b + 8 + 3 * i], n[b + 9 + 3 * i])
                guard c >= 0, c < 0x1p52, v >= 0, c == c.rounded() else { return nil }
                rawBaselines[i] = Baseline(count: Int(c), mean: m, variance: v)
            }
        }
    }
}
