import Foundation

/// Why a point scored as it did, for people: the one shape of `ad.anomalies.explanation`, written by the scorer
/// (`PointScore.explanation`) and read by the alert text (`AlertText`), the channel payloads, the delivery loop,
/// `adworker run --show-anomalies` and the SQL views (`ad.anomaly_details` reads `actual` and `expected`;
/// feedback reads `pattern`). Nothing else spells its keys.
///
/// The stored JSON (version 1; every key but `version` may be absent, see below):
///
/// ```
/// {"version": 2,
///  "detector": "robust",            // robust, seasonal, multivariate; "none" while warming up; or a trained
///                                   // model's algorithm (isolation_forest, autoencoder, pca)
///  "decided_by": "burst",           // the deciding stream: value, step, novelty, burst, shift, daily, weekly;
///                                   // "model" when the source's production model decided
///  "metric": "cpu",                 // the metric that contributed most
///  "actual": 45,                    // its value (6 significant digits)
///  "expected": 51,                  // the deciding stream's expected value (6)
///  "expected_range": [37.3, 64.7],  // the deciding stream's range (6): value, step, daily, weekly: expected ±
///                                   // the deviation at which that stream's score reaches `low`; novelty: the
///                                   // lowest and highest of the window; burst: median ± 4 robust scales;
///                                   // shift: median ± 2 robust scales (the band a point leaves to count)
///  "score": 0.91234567,             // the point's score (8)
///  "surprise": 10.4,                // the point's surprise (4)
///  "top_contributions": [           // the five strongest streams over all metrics, strongest first
///      {"metric": "cpu", "feature": "burst", "value": 6.1, "surprise": 10.4}],  // raw statistic, surprise (4)
///  "metrics_off": 1,                // metrics whose surprise reached the `low` threshold
///  "pattern": {"measure": "value", "direction": "above", "deviation": 0.4},     // see `Pattern` (4)
///  "resting": "within 24 points of an anomaly",   // only when the rest period held the score at 0
///  "reason": "Decided by the burst stream of cpu: 7 of the last 24 points lay beyond 4 robust scales of ...",
///  "summary": "7 of the last 24 points lay far from the median (51)",  // the same, in a few words
///  "severity_basis": {"by_score": "critical", "by_size": "low", "size": 2.2},  // see below
///  "model": {"id": "…", "name": "pca pump", "version": 3}}  // only when a trained model decided
/// ```
///
/// When a trained model decided, `top_contributions` are its input metrics with `feature` "share" and `value` the
/// metric's share of the model's statistic (summing to 1), `surprise` is the model's calibrated surprise, and there
/// is no `expected` nor `expected_range` (a multivariate model has no single expected value).
///
/// `reason` is one sentence that is true whichever stream decided: it names the stream and gives its numbers, and
/// says so when the value itself lies inside the expected range (when the burst, shift, step or a seasonal stream
/// decided, the range is that of the value or of the deciding stream, and the point can lie within it). While a
/// series warms up an explanation holds only `version`, `detector` ("none") and `reason`. Numbers are rounded as
/// shown (significant digits), non-finite ones are null; the rounding is the stored rows' since 0.1.0.
///
/// `severity_basis` says how the anomaly's severity came about (`SeverityRule`): the tier the score alone reaches
/// (`by_score`), the tier the size of the deviation alone reaches (`by_size`, absent below `low`), that size in
/// robust scales (`size`), when the window held fewer values than back a size in full, how many (`history`), and
/// `lasting: true` when the deviation had lasted (then the size's tier alone counts). The severity is the lower of
/// the two tiers (the size's alone when lasting), and at least `low`. Only anomalies have one.
///
/// Versions. `version` is bumped whenever a reader could notice the change: a key added, removed or renamed, or a
/// key's type or meaning changed. Readers accept every version as far as they can: a missing key reads as nil (or
/// no contributions), unknown keys are ignored. Version 0 is a row written before the field existed (0.1.0): it has
/// no `version`, `decided_by` nor `reason` (but a warm-up's `reason`), the rest as above. Version 2 (0.2.0) added
/// `model`, `summary` and `severity_basis`, and gave novelty, burst and shift their own `expected_range`.
public struct Explanation: Sendable, Equatable, Codable {
    /// The version this build writes.
    public static let currentVersion = 2

    public var version: Int
    public var detector: String?
    /// The deciding stream's name (`DetectorState.Stream.name`); nil while warming up and in version 0.
    public var decidedBy: String?
    public var metric: String?
    public var actual: Double?
    public var expected: Double?
    public var expectedRange: ExpectedRange?
    public var score: Double?
    public var surprise: Double?
    public var topContributions: [Contribution]
    public var metricsOff: Int?
    public var pattern: Pattern?
    public var resting: String?
    /// One sentence: why the point scored as it did.
    public var reason: String?
    /// The trained model that decided, if one did.
    public var model: ModelName?
    /// A few words a person reads: "58 is the highest of the last 180 points (about 3 hours)".
    public var summary: String?
    /// How the severity came about (anomalies only).
    public var severityBasis: SeverityBasis?

    /// The tiers the score and the deviation's size reach, and the size (see the type's documentation).
    public struct SeverityBasis: Sendable, Equatable, Codable {
        public var byScore: Severity?
        public var bySize: Severity?
        /// The deviation in robust scales, as the tiers read it (after the history's discount).
        public var size: Double?
        /// Values in the window, when fewer than a size needs to count in full.
        public var history: Int?
        /// True when the deviation had lasted, so the size alone set the tier.
        public var lasting: Bool?
        public init(byScore: Severity?, bySize: Severity?, size: Double?, history: Int? = nil, lasting: Bool? = nil) {
            self.byScore = byScore; self.bySize = bySize; self.size = size; self.history = history
            self.lasting = lasting
        }
        enum CodingKeys: String, CodingKey { case byScore = "by_score", bySize = "by_size", size, history, lasting }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                byScore: try c.decodeIfPresent(String.self, forKey: .byScore).flatMap(Severity.init(rawValue:)),
                bySize: try c.decodeIfPresent(String.self, forKey: .bySize).flatMap(Severity.init(rawValue:)),
                size: try c.decodeIfPresent(Double.self, forKey: .size),
                history: try c.decodeIfPresent(Int.self, forKey: .history),
                lasting: try c.decodeIfPresent(Bool.self, forKey: .lasting))
        }
        public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
        var json: JSONValue {
            var pairs: [(String, JSONValue)] = []
            if let byScore { pairs.append(("by_score", .string(byScore.rawValue))) }
            if let bySize { pairs.append(("by_size", .string(bySize.rawValue))) }
            if let size { pairs.append(("size", .number(size))) }
            if let history { pairs.append(("history", .number(Double(history)))) }
            if let lasting { pairs.append(("lasting", .bool(lasting))) }
            return .object(pairs)
        }
    }

    /// A trained model as an explanation names it.
    public struct ModelName: Sendable, Equatable, Codable {
        public var id: String
        public var name: String
        public var version: Int
        public init(id: String, name: String, version: Int) { self.id = id; self.name = name; self.version = version }
        public init(_ ref: ModelRef) {
            self.init(id: ref.id.uuidString.lowercased(), name: ref.name, version: ref.version)
        }
        var json: JSONValue {
            .object([("id", .string(id)), ("name", .string(name)), ("version", .number(Double(version)))])
        }
    }

    /// `[low, high]` in JSON.
    public struct ExpectedRange: Sendable, Equatable, Codable {
        public var low: Double?
        public var high: Double?
        public init(low: Double?, high: Double?) { self.low = low; self.high = high }

        /// Whether `x` lies within it (false when a bound is unknown).
        public func contains(_ x: Double) -> Bool {
            guard let low, let high else { return false }
            return low <= x && x <= high
        }

        public init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            guard c.count.map({ $0 == 2 }) ?? true else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected_range is not [low, high]")
            }
            let low = try c.decodeIfPresent(Double.self), high = try c.decodeIfPresent(Double.self)
            self.init(low: low, high: high)
        }

        public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }

        var json: JSONValue { .array([low.map(JSONValue.number) ?? .null, high.map(JSONValue.number) ?? .null]) }
    }

    /// One stream of one metric: its feature name, raw statistic and surprise.
    public struct Contribution: Sendable, Equatable, Codable {
        public var metric: String
        public var feature: String
        public var value: Double?
        public var surprise: Double?
        public init(metric: String, feature: String, value: Double?, surprise: Double?) {
            self.metric = metric; self.feature = feature; self.value = value; self.surprise = surprise
        }

        public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }

        var json: JSONValue {
            .object([
                ("metric", .string(metric)), ("feature", .string(feature)),
                ("value", value.map(JSONValue.number) ?? .null), ("surprise", surprise.map(JSONValue.number) ?? .null),
            ])
        }
    }

    public init(
        version: Int = Explanation.currentVersion, detector: String?, decidedBy: String? = nil,
        metric: String? = nil, actual: Double? = nil, expected: Double? = nil, expectedRange: ExpectedRange? = nil,
        score: Double? = nil, surprise: Double? = nil, topContributions: [Contribution] = [],
        metricsOff: Int? = nil, pattern: Pattern? = nil, resting: String? = nil, reason: String? = nil,
        model: ModelName? = nil, summary: String? = nil, severityBasis: SeverityBasis? = nil
    ) {
        self.version = version; self.detector = detector; self.decidedBy = decidedBy; self.metric = metric
        self.actual = actual; self.expected = expected; self.expectedRange = expectedRange; self.score = score
        self.surprise = surprise; self.topContributions = topContributions; self.metricsOff = metricsOff
        self.pattern = pattern; self.resting = resting; self.reason = reason; self.model = model
        self.summary = summary; self.severityBasis = severityBasis
    }

    enum CodingKeys: String, CodingKey {
        case version, detector, decidedBy = "decided_by", metric, actual, expected, expectedRange = "expected_range"
        case score, surprise, topContributions = "top_contributions", metricsOff = "metrics_off", pattern, resting,
            reason, model, summary, severityBasis = "severity_basis"
    }

    /// Tolerant of older rows: a missing `version` is 0, any other missing key nil (no contributions).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            version: try c.decodeIfPresent(Int.self, forKey: .version) ?? 0,
            detector: try c.decodeIfPresent(String.self, forKey: .detector),
            decidedBy: try c.decodeIfPresent(String.self, forKey: .decidedBy),
            metric: try c.decodeIfPresent(String.self, forKey: .metric),
            actual: try c.decodeIfPresent(Double.self, forKey: .actual),
            expected: try c.decodeIfPresent(Double.self, forKey: .expected),
            expectedRange: try c.decodeIfPresent(ExpectedRange.self, forKey: .expectedRange),
            score: try c.decodeIfPresent(Double.self, forKey: .score),
            surprise: try c.decodeIfPresent(Double.self, forKey: .surprise),
            topContributions: try c.decodeIfPresent([Contribution].self, forKey: .topContributions) ?? [],
            metricsOff: try c.decodeIfPresent(Int.self, forKey: .metricsOff),
            pattern: try c.decodeIfPresent(Pattern.self, forKey: .pattern),
            resting: try c.decodeIfPresent(String.self, forKey: .resting),
            reason: try c.decodeIfPresent(String.self, forKey: .reason),
            model: try c.decodeIfPresent(ModelName.self, forKey: .model),
            summary: try c.decodeIfPresent(String.self, forKey: .summary),
            severityBasis: try c.decodeIfPresent(SeverityBasis.self, forKey: .severityBasis))
    }

    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }

    /// Reads an explanation already parsed as a `JSONValue` (as in an alert document); throws what `JSONDecoder`
    /// throws when it is not one.
    public init(json: JSONValue) throws {
        self = try JSONDecoder().decode(Explanation.self, from: Data(json.render().utf8))
    }

    /// The stored document, keys in the order above, absent values left out.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [(CodingKeys.version.stringValue, .number(Double(version)))]
        func add(_ key: CodingKeys, _ value: JSONValue?) { if let value { pairs.append((key.stringValue, value)) } }
        add(.detector, detector.map(JSONValue.string))
        add(.decidedBy, decidedBy.map(JSONValue.string))
        add(.metric, metric.map(JSONValue.string))
        add(.actual, actual.map(JSONValue.number))
        add(.expected, expected.map(JSONValue.number))
        add(.expectedRange, expectedRange?.json)
        add(.score, score.map(JSONValue.number))
        add(.surprise, surprise.map(JSONValue.number))
        add(.topContributions, topContributions.isEmpty ? nil : .array(topContributions.map(\.json)))
        add(.metricsOff, metricsOff.map { .number(Double($0)) })
        add(.pattern, pattern?.json)
        add(.resting, resting.map(JSONValue.string))
        add(.reason, reason.map(JSONValue.string))
        add(.model, model?.json)
        add(.summary, summary.map(JSONValue.string))
        add(.severityBasis, severityBasis?.json)
        return .object(pairs)
    }

    /// The JSON text the worker stores.
    public func render() -> String { json.render() }

    /// A number as the explanation's sentences and the alert text print it.
    public static func format(_ x: Double) -> String { String(format: "%.4g", x) }
}

extension Pattern: Codable {
    enum CodingKeys: String, CodingKey { case measure, direction, deviation }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let measure = try c.decode(String.self, forKey: .measure)
        let direction = try c.decode(String.self, forKey: .direction)
        let deviation = try c.decode(Double.self, forKey: .deviation)
        guard let d = Direction(rawValue: direction),
            let p = Pattern(measure: measure, direction: d, deviation: deviation)
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .direction, in: c,
                debugDescription: "not a pattern: \(measure) \(direction) \(deviation)")
        }
        self = p
    }

    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}

extension DetectorState.Stream {
    /// Its name, as an explanation's `decided_by` and its `reason` give it.
    public var name: String {
        switch self {
        case .value: "value"
        case .step: "step"
        case .novelty: "novelty"
        case .burst: "burst"
        case .shift: "shift"
        case .daily: "daily"
        case .weekly: "weekly"
        }
    }
}

extension Explanation {
    /// The numbers behind the deciding stream's verdict, as the scorer computed them (for `reason`).
    public enum Why: Sendable, Equatable {
        /// x lies `z` (signed) robust scales from the median of the last `window` values.
        case value(z: Double, median: Double, window: Int)
        /// The change from the previous value lies `deviation` (signed) robust scales from the window's usual
        /// change `typicalChange`.
        case step(previous: Double?, typicalChange: Double, deviation: Double)
        /// x lies `distance` robust scales outside [low, high], the range of the last `window` values.
        case novelty(distance: Double, low: Double, high: Double, window: Int)
        /// `count` of the last `span` points lay beyond `z` robust scales of the median; the window's own rate
        /// would give `expected`.
        case burst(count: Int, span: Int, z: Double, median: Double, expected: Double)
        /// `count` of the last `span` points lay above (below) the median by more than `z` robust scales; the
        /// window's own rate would give `expected`.
        case shift(count: Int, span: Int, above: Bool, z: Double, median: Double, expected: Double)
        /// x differs from its value a day (week) earlier, `lag`, by `x - lag`; the window's own such differences
        /// centre on `typicalDifference`, and this one lies `deviation` (signed) robust scales from it.
        case seasonal(daily: Bool, lag: Double, typicalDifference: Double, deviation: Double)

        /// The stream it speaks for.
        public var stream: DetectorState.Stream {
            switch self {
            case .value: .value
            case .step: .step
            case .novelty: .novelty
            case .burst: .burst
            case .shift: .shift
            case .seasonal(let daily, _, _, _): daily ? .daily : .weekly
            }
        }
    }

    /// The sentence for a warming-up point.
    public static func warmingUp(minHistory: Int) -> String {
        "Warming up: fewer than \(minHistory) earlier points, so no stream has judged this point yet."
    }

    /// One sentence: which stream of which metric decided and why, then what a reader of the numbers would
    /// otherwise miss: the value inside its expected range, several metrics combined, the rest period.
    public static func reason(
        _ why: Why, metric: String, actual: Double, expectedRange: ExpectedRange?,
        multivariate: Int? = nil, restingWithin: Int? = nil,
        severity: (Severity, SeverityBasis, SeverityRule)? = nil
    ) -> String {
        let f = format
        func signed(_ x: Double) -> String { x < 0 ? f(x) : "+" + f(x) }
        func side(_ z: Double) -> String { z < 0 ? "below" : "above" }
        func rate(_ count: Int, _ expected: Double) -> String {
            Double(count) > 2 * expected
                ? ", far more than this series' usual rate would give (about \(f(expected)))"
                : ", where this series' usual rate would give about \(f(expected))"
        }
        let stream = why.stream
        var s = "Decided by the \(stream.name) stream of \(metric): "
        let unusual: String
        switch why {
        case .value(let z, let median, let window):
            s +=
                "\(f(actual)) lies \(f(abs(z))) robust scales \(side(z)) the median (\(f(median))) of the last \(window) points"
            unusual = "its distance from the median"
        case .step(let previous, let typical, let deviation):
            let change = previous.map { " (\(f($0)) to \(f(actual)), \(signed(actual - $0)))" } ?? ""
            s +=
                "the change from the previous value\(change) lies \(f(abs(deviation))) robust scales \(side(deviation)) "
                + "the window's usual change (\(signed(typical)))"
            unusual = "the size of the change"
        case .novelty(let distance, let low, let high, let window):
            s +=
                distance > 0
                ? "\(f(actual)) lies outside the range of the last \(window) points ([\(f(low)), \(f(high))]) by "
                    + "\(f(distance)) robust scales"
                : "\(f(actual)) lies within the range of the last \(window) points ([\(f(low)), \(f(high))])"
            unusual = "that no recent point went so far"
        case .burst(let count, let span, let z, let median, let expected):
            s +=
                "\(count) of the last \(span) points lay beyond \(f(z)) robust scales of the median (\(f(median)))"
                + rate(count, expected)
            unusual = "how many recent points lay far out"
        case .shift(let count, let span, let above, let z, let median, let expected):
            s +=
                "\(count) of the last \(span) points lay \(above ? "above" : "below") the median (\(f(median))) by more "
                + "than \(f(z)) robust scales, a run to one side" + rate(count, expected)
            unusual = "the run to one side"
        case .seasonal(let daily, let lag, let typical, let deviation):
            let when = daily ? "a day" : "a week"
            s +=
                "\(f(actual)) differs from its value \(when) earlier (\(f(lag))) by \(signed(actual - lag)), "
                + "\(f(abs(deviation))) robust scales \(side(deviation)) the usual difference (\(signed(typical)))"
            unusual = "its difference from \(when) earlier"
        }
        if let r = expectedRange, r.contains(actual), let lo = r.low, let hi = r.high {
            s +=
                "; the value itself (\(f(actual))) lies inside the expected range [\(f(lo)), \(f(hi))]: "
                + "it is \(unusual) that is unusual, not the value"
        }
        if let n = multivariate {
            s += "; \(n) metrics were off together, and their combination (Fisher's method) decided the score"
        }
        if let rest = restingWithin {
            s += "; but the series is resting (within \(rest) points of its last anomaly), so the point scores 0"
        }
        if let (final, basis, _) = severity, let byScore = basis.byScore, final > byScore, let size = basis.size {
            s +=
                "; severity \(final.rawValue), not \(byScore.rawValue) as the score alone would make it: the value has "
            s +=
                "stayed off to this side for at least half of the last 48 points, and lies \(f(size)) robust scales from normal"
        }
        if let (final, basis, rule) = severity, let byScore = basis.byScore, final < byScore,
            let size = basis.size, let next = Severity.allCases.first(where: { $0 > final })
        {
            let needed = rule.sizes[Severity.allCases.firstIndex(of: next)!]
            let discount: String =
                basis.history.map { " (discounted: only \($0) points of history back its scale)" } ?? ""
            s +=
                "; severity \(final.rawValue), not \(byScore.rawValue) as the score alone would make it: the deviation "
            s += "is \(f(size)) robust scales\(discount), and \(next.rawValue) needs \(f(needed))"
        }
        return s + "."
    }

    /// A few words a person reads, for the deciding stream: how far the value is, or what is unusual about it.
    /// `spacing` (seconds between points) turns a count of points into a time ("about 3 hours").
    public static func summary(_ why: Why, actual: Double, spacing: Double?) -> String {
        let f = format
        func signed(_ x: Double) -> String { x < 0 ? f(x) : "+" + f(x) }
        func points(_ n: Int) -> String {
            guard let spacing, spacing > 0, spacing.isFinite else { return "the last \(n) points" }
            return "the last \(n) points (about \(duration(Double(n) * spacing)))"
        }
        switch why {
        case .value(let z, let median, let window):
            let side = z < 0 ? "below" : "above"
            let last: String = points(window)
            return "\(f(actual)) is \(f(abs(z))) robust scales \(side) the median (\(f(median))) of \(last)"
        case .step(let previous, let typical, _):
            guard let previous else { return "\(f(actual)) changed unusually from the previous value" }
            return "\(f(actual)) changed by \(signed(actual - previous)) from \(f(previous)) in one point; the usual "
                + "change is \(signed(typical))"
        case .novelty(let distance, let low, let high, let window):
            if distance <= 0 { return "\(f(actual)) is within the range of \(points(window)) [\(f(low)), \(f(high))]" }
            return actual > high
                ? "\(f(actual)) is the highest of \(points(window)); the highest before was \(f(high))"
                : "\(f(actual)) is the lowest of \(points(window)); the lowest before was \(f(low))"
        case .burst(let count, let span, _, let median, let expected):
            return "\(count) of the last \(span) points lay far from the median (\(f(median))), where about "
                + "\(f(expected)) would be usual"
        case .shift(let count, let span, let above, _, let median, let expected):
            return "\(count) of the last \(span) points lay \(above ? "above" : "below") the median (\(f(median))), "
                + "where about \(f(expected)) would be usual"
        case .seasonal(let daily, let lag, let typical, _):
            return "\(f(actual)) where \(daily ? "a day" : "a week") earlier it was \(f(lag)) "
                + "(\(signed(actual - lag)); usually \(signed(typical)))"
        }
    }

    /// A time span in the unit a person would use ("40 seconds", "25 minutes", "3 hours", "2 days").
    public static func duration(_ seconds: Double) -> String {
        func unit(_ n: Double, _ name: String) -> String {
            let r = Int(n.rounded())
            return "\(r) \(name)\(r == 1 ? "" : "s")"
        }
        if seconds < 120 { return unit(seconds, "second") }
        if seconds < 2 * 3600 { return unit(seconds / 60, "minute") }
        if seconds < 2 * 86400 { return unit(seconds / 3600, "hour") }
        return unit(seconds / 86400, "day")
    }
}
