import Foundation

/// What a rule is matched against: one anomaly, as the scoring transaction wrote it.
public struct AnomalyFacts: Sendable, Equatable {
    public var sourceID: UUID
    public var sourceName: String
    public var metric: String
    public var severity: Severity
    public var score: Double
    public var detector: String
    public var modelID: UUID?
    /// The anomalous point's time: silences and time-of-day windows are about when things happened.
    public var time: Date

    public init(
        sourceID: UUID, sourceName: String, metric: String, severity: Severity, score: Double,
        detector: String, modelID: UUID? = nil, time: Date
    ) {
        self.sourceID = sourceID; self.sourceName = sourceName; self.metric = metric; self.severity = severity
        self.score = score; self.detector = detector; self.modelID = modelID; self.time = time
    }
}

/// An alert rule's `conditions`, parsed. The grammar is the one `ad.rule_problem()` enforces at INSERT and
/// UPDATE (README, "Alert rules"); parsing here fails the same way, so a rule the database accepted is usable.
public struct RuleConditions: Sendable, Equatable {
    public struct Hours: Sendable, Equatable {
        /// Minutes after local midnight; the window is [from, to), wrapping midnight when to < from.
        public var from: Int, to: Int
        public func contains(minute: Int) -> Bool {
            from < to ? (from..<to).contains(minute) : minute >= from || minute < to
        }
    }
    public struct Silence: Sendable, Equatable {
        public var start: Date, end: Date, reason: String?
    }

    public var minSeverity: Severity = .low
    public var minScore: Double = 0
    public var sources: Set<String>?
    public var metrics: Set<String>?
    public var detectors: Set<String>?
    public var models: Set<UUID>?
    public var hours: Hours?
    /// Gregorian weekdays, 1 = Sunday ... 7 = Saturday (Calendar's numbering).
    public var weekdays: Set<Int>?
    public var timeZone: TimeZone = TimeZone(identifier: "UTC")!
    public var silences: [Silence] = []
    public var minOccurrences = 1
    /// Seconds over which `minOccurrences` anomalies must be seen; required when minOccurrences > 1.
    public var within: Double?

    public init() {}

    /// What is wrong, naming the field as `ad.rule_problem()` does.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let message: String
        public var description: String { "conditions\(field.isEmpty ? "" : "." + field): \(message)" }
    }

    private static let weekdayNumbers = ["sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7]

    public static func parse(_ json: JSONValue) throws(Problem) -> RuleConditions {
        guard case .object(let pairs) = json else { throw Problem(field: "", message: "must be a JSON object") }
        var c = RuleConditions()
        for (key, value) in pairs {
            switch key {
            case "min_severity":
                guard case .string(let s) = value, let sev = Severity(rawValue: s) else {
                    throw Problem(field: key, message: "must be \"low\", \"medium\", \"high\" or \"critical\"")
                }
                c.minSeverity = sev
            case "min_score":
                guard case .number(let x) = value, (0...1).contains(x) else {
                    throw Problem(field: key, message: "must be a number from 0 to 1")
                }
                c.minScore = x
            case "sources", "metrics", "detectors", "models":
                guard case .array(let items) = value, !items.isEmpty else {
                    throw Problem(field: key, message: "must be a non-empty array of strings")
                }
                var set = Set<String>()
                for (i, item) in items.enumerated() {
                    guard case .string(let s) = item, (1...200).contains(s.count) else {
                        throw Problem(field: "\(key)[\(i)]", message: "must be a string of 1 to 200 characters")
                    }
                    set.insert(s)
                }
                switch key {
                case "sources": c.sources = set
                case "metrics": c.metrics = set
                case "detectors": c.detectors = set
                default:
                    var ids = Set<UUID>()
                    for (i, s) in items.enumerated() {
                        guard case .string(let text) = s, let id = UUID(uuidString: text) else {
                            throw Problem(field: "models[\(i)]", message: "must be a model id (a uuid)")
                        }
                        ids.insert(id)
                    }
                    c.models = ids
                }
            case "hours":
                guard case .object(let h) = value else {
                    throw Problem(field: key, message: "must be an object {\"from\": \"HH:MM\", \"to\": \"HH:MM\"}")
                }
                for (k, _) in h where k != "from" && k != "to" {
                    throw Problem(field: "hours.\(k)", message: "unknown field (known: from, to)")
                }
                func minute(_ k: String) throws(Problem) -> Int {
                    guard case .string(let s)? = value[k], let m = parseClock(s) else {
                        throw Problem(field: "hours.\(k)", message: "must be a time \"HH:MM\" from 00:00 to 23:59")
                    }
                    return m
                }
                let from = try minute("from"), to = try minute("to")
                guard from != to else {
                    throw Problem(field: key, message: "from and to must differ (leave hours out to match all day)")
                }
                c.hours = Hours(from: from, to: to)
            case "weekdays":
                guard case .array(let items) = value, !items.isEmpty else {
                    throw Problem(field: key, message: "must be a non-empty array like [\"mon\", \"tue\"]")
                }
                var days = Set<Int>()
                for (i, item) in items.enumerated() {
                    guard case .string(let s) = item, let d = weekdayNumbers[s] else {
                        throw Problem(
                            field: "weekdays[\(i)]", message: "must be one of mon, tue, wed, thu, fri, sat, sun")
                    }
                    days.insert(d)
                }
                c.weekdays = days
            case "timezone":
                guard case .string(let s) = value, let tz = TimeZone(identifier: s) else {
                    throw Problem(
                        field: key, message: "must be an IANA time zone name like \"Europe/Berlin\" or \"UTC\"")
                }
                c.timeZone = tz
            case "silences":
                guard case .array(let items) = value else {
                    throw Problem(field: key, message: "must be an array of {\"start\", \"end\", \"reason\"} objects")
                }
                for (i, item) in items.enumerated() {
                    guard case .object(let fields) = item else {
                        throw Problem(
                            field: "silences[\(i)]", message: "must be an object {\"start\", \"end\", \"reason\"}")
                    }
                    for (k, _) in fields where !["start", "end", "reason"].contains(k) {
                        throw Problem(
                            field: "silences[\(i)].\(k)", message: "unknown field (known: start, end, reason)")
                    }
                    func time(_ k: String) throws(Problem) -> Date {
                        guard case .string(let s)? = item[k], let d = parseTimestamp(s) else {
                            throw Problem(
                                field: "silences[\(i)].\(k)",
                                message: "must be a timestamp with a zone, like \"2026-05-01T22:00:00Z\"")
                        }
                        return d
                    }
                    let start = try time("start"), end = try time("end")
                    guard end > start else {
                        throw Problem(field: "silences[\(i)]", message: "end must be after start")
                    }
                    var reason: String? = nil
                    if let r = item["reason"] {
                        guard case .string(let s) = r else {
                            throw Problem(field: "silences[\(i)].reason", message: "must be a string")
                        }
                        reason = s
                    }
                    c.silences.append(Silence(start: start, end: end, reason: reason))
                }
            case "min_occurrences":
                guard case .number(let x) = value, x == x.rounded(), (1...10_000).contains(x) else {
                    throw Problem(field: key, message: "must be an integer from 1 to 10000")
                }
                c.minOccurrences = Int(x)
            case "within_seconds":
                guard case .number(let x) = value, x == x.rounded(), (1...2_678_400).contains(x) else {
                    throw Problem(
                        field: key, message: "must be an integer number of seconds from 1 to 2678400 (31 days)")
                }
                c.within = x
            default:
                throw Problem(
                    field: key,
                    message: "unknown field (known: min_severity, min_score, sources, metrics, "
                        + "detectors, models, hours, weekdays, timezone, silences, min_occurrences, within_seconds)")
            }
        }
        if c.minOccurrences > 1 && c.within == nil {
            throw Problem(field: "within_seconds", message: "required when min_occurrences is more than 1")
        }
        return c
    }

    /// Whether one anomaly passes every condition but the occurrence count (see `needsHistory`).
    public func matches(_ a: AnomalyFacts) -> Bool {
        guard a.severity >= minSeverity, a.score >= minScore else { return false }
        if let sources, !sources.contains(a.sourceName), !sources.contains(a.sourceID.uuidString.lowercased()),
            !sources.contains(a.sourceID.uuidString)
        {
            return false
        }
        if let metrics, !metrics.contains(a.metric) { return false }
        if let detectors, !detectors.contains(a.detector) { return false }
        if let models { guard let m = a.modelID, models.contains(m) else { return false } }
        if silenced(at: a.time) != nil { return false }
        if hours != nil || weekdays != nil {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            let parts = calendar.dateComponents([.hour, .minute, .weekday], from: a.time)
            if let hours, !hours.contains(minute: (parts.hour ?? 0) * 60 + (parts.minute ?? 0)) { return false }
            if let weekdays, let d = parts.weekday, !weekdays.contains(d) { return false }
        }
        return true
    }

    /// The silence covering `time`, if any.
    public func silenced(at time: Date) -> Silence? {
        silences.first { $0.start <= time && time < $0.end }
    }

    /// Whether firing needs a count of earlier matching anomalies (min_occurrences > 1).
    public var needsHistory: Bool { minOccurrences > 1 }

    /// Whether `matching` (times of anomalies on the same source and metric that match, this one included)
    /// reach min_occurrences within `within` seconds ending at `time`.
    public func enoughOccurrences(at time: Date, matching: [Date]) -> Bool {
        guard minOccurrences > 1, let within else { return true }
        let from = time.addingTimeInterval(-within)
        return matching.filter { $0 > from && $0 <= time }.count >= minOccurrences
    }

    /// "HH:MM" to minutes after midnight.
    static func parseClock(_ s: String) -> Int? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
            let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        return h * 60 + m
    }

    /// ISO 8601 with a zone, as `ad.rule_problem()` accepts: `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]](Z|±HH[[:]MM])`.
    public static func parseTimestamp(_ s: String) -> Date? {
        let pattern = #"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}(?::?\d{2})?)$"#
        guard let re = try? NSRegularExpression(pattern: pattern),
            let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s))
        else { return nil }
        func group(_ i: Int) -> String? {
            guard let r = Range(m.range(at: i), in: s) else { return nil }
            return String(s[r])
        }
        guard let y = Int(group(1) ?? ""), let mo = Int(group(2) ?? ""), let d = Int(group(3) ?? ""),
            let h = Int(group(4) ?? ""), let mi = Int(group(5) ?? ""), let zone = group(8),
            (1...12).contains(mo), (1...31).contains(d), (0...23).contains(h), (0...59).contains(mi)
        else { return nil }
        let sec = Int(group(6) ?? "0") ?? 0
        guard (0...59).contains(sec) else { return nil }
        let frac = Double(group(7) ?? "0") ?? 0
        var offset = 0
        if zone != "Z" {
            let sign = zone.hasPrefix("-") ? -1 : 1
            let digits = zone.dropFirst().replacingOccurrences(of: ":", with: "")
            let oh = Int(digits.prefix(2)) ?? 0, om = Int(digits.dropFirst(2)) ?? 0
            offset = sign * (oh * 3600 + om * 60)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard
            let base = calendar.date(
                from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: sec)),
            calendar.component(.day, from: base) == d
        else { return nil }
        return base.addingTimeInterval(frac - Double(offset))
    }
}

/// An enabled rule, as the worker loads it.
public struct AlertRule: Sendable {
    public var id: UUID
    public var name: String
    public var conditions: RuleConditions
    public init(id: UUID, name: String, conditions: RuleConditions) {
        self.id = id; self.name = name; self.conditions = conditions
    }
}

/// The title and message of an alert, from its opening anomaly's explanation.
public enum AlertText {
    public static func title(
        rule: String, source: String, metric: String, severity: Severity, explanation: Explanation?
    ) -> String {
        var t = "[\(severity.rawValue.uppercased())] \(metric) on \(source)"
        if let actual = explanation?.actual {
            t += ": \(format(actual))"
            if let expected = explanation?.expected { t += " (expected \(format(expected)))" }
        }
        return t + " - rule \(rule)"
    }

    /// What happened, the numbers, why (the explanation's reason) and every top contribution with its raw value
    /// and surprise. Without an explanation (nil), the facts alone.
    public static func message(
        rule: String, source: String, metric: String, severity: Severity, score: Double,
        detector: String, time: Date, explanation e: Explanation?
    ) -> String {
        var lines = ["Anomaly on \(source), metric \(metric), at \(iso(time))."]
        var values: [String] = []
        if let actual = e?.actual { values.append("actual \(format(actual))") }
        if let expected = e?.expected { values.append("expected \(format(expected))") }
        if let r = e?.expectedRange, let lo = r.low, let hi = r.high {
            values.append("expected range [\(format(lo)), \(format(hi))]")
        }
        if !values.isEmpty { lines.append(values.joined(separator: ", ") + ".") }
        lines.append(
            "Severity \(severity.rawValue), score \(String(format: "%.6f", score)), detector \(detector), rule \(rule)."
        )
        if let reason = e?.reason { lines.append("Why: " + reason) }
        if let top = e?.topContributions, !top.isEmpty {
            let parts = top.map { c in
                "\(c.metric)/\(c.feature) \(c.value.map(format) ?? "?") (surprise \(c.surprise.map(format) ?? "?"))"
            }
            lines.append("Top contributions: " + parts.joined(separator: ", ") + ".")
        }
        return lines.joined(separator: "\n")
    }

    /// A number as alerts print it: the explanation's format, so a message and its reason agree.
    public static func format(_ x: Double) -> String { Explanation.format(x) }

    public static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }
}

/// When a failed delivery is tried again: exponential backoff with jitter, up to a number of attempts.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    /// Seconds before the first retry (before jitter), doubling each time up to `cap`.
    public var base: Double
    public var cap: Double

    public init(maxAttempts: Int = 8, base: Double = 5, cap: Double = 900) {
        self.maxAttempts = maxAttempts; self.base = base; self.cap = cap
    }

    public enum Decision: Sendable, Equatable {
        case retry(at: Date)
        case giveUp
    }

    /// After failed attempt number `attempt` (from 1) finished at `now`: retry after a delay drawn uniformly from
    /// [d/2, d] with d = min(cap, base·2^(attempt-1)) ("equal jitter": never immediate, never in step), or give up.
    public func decide(afterAttempt attempt: Int, now: Date, random unit: Double) -> Decision {
        guard attempt < maxAttempts else { return .giveUp }
        let d = min(cap, base * pow(2, Double(min(max(attempt - 1, 0), 40))))
        return .retry(at: now.addingTimeInterval(d / 2 + d / 2 * max(0, min(1, unit))))
    }
}
