/// Per-source detection settings, from `ad.data_sources.config`. Every field is optional; see `defaults`.
///
/// ```json
/// {"window": 1000, "min_history": 12, "likelihood_window": 3000, "warmup": 100, "rest_period": 100,
///  "detectors": ["robust", "seasonal", "multivariate"], "seasonality": ["daily", "weekly"],
///  "thresholds": {"low": 0.45, "medium": 0.55, "high": 0.65, "critical": 0.8}}
/// ```
public struct SourceConfig: Sendable, Hashable {
    /// The detectors a source can enable.
    public enum Detector: String, Sendable, CaseIterable {
        /// Median and MAD of the recent window, per metric.
        case robust
        /// The same time a day and/or a week earlier, per metric.
        case seasonal
        /// Fisher's combination of the metrics' evidence: several metrics off together.
        case multivariate
    }

    /// Seasonal lags the feature query provides.
    public enum Seasonality: String, Sendable, CaseIterable {
        case daily, weekly
        /// The lag in seconds.
        public var seconds: Double { self == .daily ? 86_400 : 604_800 }
    }

    /// Score thresholds of the severity tiers; a point scoring at least `low` is an anomaly.
    public struct Thresholds: Sendable, Hashable {
        public var low: Double, medium: Double, high: Double, critical: Double
        public init(low: Double, medium: Double, high: Double, critical: Double) {
            self.low = low; self.medium = medium; self.high = high; self.critical = critical
        }
    }

    /// Points of history for the rolling statistics (10 to 1000).
    public var window: Int
    /// Points of history needed before a metric is scored (3 to `window`).
    public var minHistory: Int
    /// Points the raw scores' running mean and variance span (100 to 100000).
    public var likelihoodWindow: Int
    /// Raw scores needed before they are judged against the series' own (0 to 100000); until then, the normal tail.
    public var warmup: Int
    /// Points after an anomaly in which only a more surprising point is one (0 to 100000; 0 turns it off).
    public var restPeriod: Int
    public var detectors: Set<Detector>
    public var seasonality: Set<Seasonality>
    public var thresholds: Thresholds

    public static let defaults = SourceConfig(
        window: 1000, minHistory: 12, likelihoodWindow: 3000, warmup: 100, restPeriod: 100,
        detectors: Set(Detector.allCases), seasonality: Set(Seasonality.allCases),
        thresholds: Thresholds(low: 0.45, medium: 0.55, high: 0.65, critical: 0.8))

    public init(
        window: Int, minHistory: Int, likelihoodWindow: Int = 3000, warmup: Int = 100, restPeriod: Int = 100,
        detectors: Set<Detector>, seasonality: Set<Seasonality>, thresholds: Thresholds
    ) {
        self.window = window; self.minHistory = minHistory; self.detectors = detectors
        self.likelihoodWindow = likelihoodWindow; self.warmup = warmup; self.restPeriod = restPeriod
        self.seasonality = seasonality; self.thresholds = thresholds
    }

    /// A configuration that cannot be used, naming the field.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        /// The JSON path of the bad field, such as `thresholds.high`.
        public let field: String
        public let message: String
        public init(field: String, message: String) { self.field = field; self.message = message }
        public var description: String { field.isEmpty ? "config: \(message)" : "config.\(field): \(message)" }
    }

    /// Parses and validates a configuration object; unknown fields are errors (they are usually typos).
    public static func parse(_ json: JSONValue) throws(Problem) -> SourceConfig {
        guard case .object(let pairs) = json else { throw Problem(field: "", message: "must be a JSON object") }
        var c = defaults
        let known = [
            "window", "min_history", "likelihood_window", "warmup", "rest_period", "detectors", "seasonality",
            "thresholds",
        ]
        for (key, _) in pairs where !known.contains(key) {
            throw Problem(field: key, message: "unknown setting (known: \(known.joined(separator: ", ")))")
        }
        if let v = json["window"] { c.window = try integer(v, "window", 10...1000) }
        if let v = json["min_history"] { c.minHistory = try integer(v, "min_history", 3...1000) }
        if let v = json["likelihood_window"] { c.likelihoodWindow = try integer(v, "likelihood_window", 100...100_000) }
        if let v = json["warmup"] { c.warmup = try integer(v, "warmup", 0...100_000) }
        if let v = json["rest_period"] { c.restPeriod = try integer(v, "rest_period", 0...100_000) }
        if c.minHistory > c.window {
            throw Problem(field: "min_history", message: "must not exceed window (\(c.window)), got \(c.minHistory)")
        }
        if let v = json["detectors"] {
            let names = try strings(v, "detectors")
            var set = Set<Detector>()
            for name in names {
                guard let d = Detector(rawValue: name) else {
                    throw Problem(
                        field: "detectors",
                        message: "unknown detector \"\(name)\" (known: robust, seasonal, multivariate)")
                }
                set.insert(d)
            }
            guard set.contains(.robust) || set.contains(.seasonal) else {
                throw Problem(
                    field: "detectors", message: "needs robust or seasonal (multivariate combines their evidence)")
            }
            c.detectors = set
        }
        if let v = json["seasonality"] {
            var set = Set<Seasonality>()
            for name in try strings(v, "seasonality") {
                guard let s = Seasonality(rawValue: name) else {
                    throw Problem(
                        field: "seasonality", message: "unknown seasonality \"\(name)\" (known: daily, weekly)")
                }
                set.insert(s)
            }
            c.seasonality = set
        }
        if let v = json["thresholds"] {
            guard case .object(let tp) = v else { throw Problem(field: "thresholds", message: "must be an object") }
            let tiers = ["low", "medium", "high", "critical"]
            for (key, _) in tp where !tiers.contains(key) {
                throw Problem(field: "thresholds.\(key)", message: "unknown tier (known: low, medium, high, critical)")
            }
            var t = c.thresholds
            if let x = v["low"] { t.low = try probability(x, "thresholds.low") }
            if let x = v["medium"] { t.medium = try probability(x, "thresholds.medium") }
            if let x = v["high"] { t.high = try probability(x, "thresholds.high") }
            if let x = v["critical"] { t.critical = try probability(x, "thresholds.critical") }
            guard t.low < t.medium, t.medium < t.high, t.high < t.critical else {
                throw Problem(
                    field: "thresholds",
                    message:
                        "must increase: low < medium < high < critical, got \(t.low), \(t.medium), \(t.high), \(t.critical)"
                )
            }
            c.thresholds = t
        }
        return c
    }

    private static func integer(_ v: JSONValue, _ field: String, _ range: ClosedRange<Int>) throws(Problem) -> Int {
        guard case .number(let x) = v, x == x.rounded(), let i = Int(exactly: x), range.contains(i) else {
            throw Problem(
                field: field,
                message: "must be an integer from \(range.lowerBound) to \(range.upperBound), got \(v.render())")
        }
        return i
    }

    private static func probability(_ v: JSONValue, _ field: String) throws(Problem) -> Double {
        guard case .number(let x) = v, x > 0, x < 1 else {
            throw Problem(field: field, message: "must be a number between 0 and 1 (exclusive), got \(v.render())")
        }
        return x
    }

    private static func strings(_ v: JSONValue, _ field: String) throws(Problem) -> [String] {
        guard case .array(let items) = v else {
            throw Problem(field: field, message: "must be an array of strings, got \(v.render())")
        }
        return try items.map { (item: JSONValue) throws(Problem) -> String in
            guard case .string(let s) = item else {
                throw Problem(field: field, message: "must be an array of strings, got \(v.render())")
            }
            return s
        }
    }
}
