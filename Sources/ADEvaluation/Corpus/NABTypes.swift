import ADCore
import Foundation

// Value types shared by the Numenta Anomaly Benchmark (NAB) scorer, loader and point-wise metrics.
// The scoring rules follow numenta/NAB (nab/sweeper.py, nab/optimizer.py, nab/scorer.py, nab/runner.py).

/// Something wrong with NAB input: a missing file, a malformed row, a window that does not match the data.
public enum NABError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A file the corpus needs is absent.
    case missingFile(path: String)
    /// A file could not be read or decoded.
    case unreadableFile(path: String, reason: String)
    /// A CSV header lacks a required column.
    case missingColumn(file: String, column: String)
    /// A CSV row (1-based line number, the header being line 1) could not be parsed.
    case malformedRow(file: String, line: Int, reason: String)
    /// A window bound is not one of the file's timestamps (NAB requires an exact match).
    case windowBoundNotFound(file: String, timestamp: String)
    /// A window ends before it starts, or overlaps another window of the same file.
    case invalidWindow(file: String, reason: String)
    /// The results file and the data file disagree (row count or timestamps).
    case dataMismatch(file: String, reason: String)
    /// A labels or profiles JSON document has an unexpected shape.
    case malformedJSON(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path): "NAB: missing file \(path)"
        case .unreadableFile(let path, let reason): "NAB: cannot read \(path): \(reason)"
        case .missingColumn(let file, let column): "NAB: \(file): no column named \"\(column)\" in the header"
        case .malformedRow(let file, let line, let reason): "NAB: \(file):\(line): \(reason)"
        case .windowBoundNotFound(let file, let timestamp):
            "NAB: \(file): window bound \(timestamp) is not a timestamp of the file"
        case .invalidWindow(let file, let reason): "NAB: \(file): invalid window: \(reason)"
        case .dataMismatch(let file, let reason): "NAB: \(file): results do not match the data file: \(reason)"
        case .malformedJSON(let path, let reason): "NAB: \(path): \(reason)"
        }
    }
}

/// A NAB timestamp, `YYYY-MM-DD HH:MM:SS[.ffffff]`, as microseconds since 1970-01-01 00:00:00 (no time zone:
/// NAB compares wall-clock values).
public struct NABTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01 00:00:00.
    public var microseconds: Int64

    /// A timestamp from its microsecond count.
    public init(microseconds: Int64) { self.microseconds = microseconds }

    /// Parses `YYYY-MM-DD HH:MM:SS` with an optional fraction of up to 9 digits (microseconds are kept; `T` is
    /// accepted as the separator). Returns nil for anything else, including out-of-range fields.
    public init?(_ text: some StringProtocol) {
        var copy = String(text)
        guard let value = copy.withUTF8({ NABTimestamp.parse($0) }) else { return nil }
        self = value
    }

    /// Parses the UTF-8 bytes of a timestamp (see `init?(_:)`). Straight-line code: it runs once per CSV row.
    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> NABTimestamp? {
        let n = b.count
        guard n >= 19, b[4] == 45, b[7] == 45, b[10] == 32 || b[10] == 84, b[13] == 58, b[16] == 58 else { return nil }
        let year = digits(b, 0, 4), month = digits(b, 5, 2), day = digits(b, 8, 2)
        let hour = digits(b, 11, 2), minute = digits(b, 14, 2), second = digits(b, 17, 2)
        guard year >= 0, (1...12).contains(month), (1...31).contains(day), (0..<24).contains(hour),
            (0..<60).contains(minute), (0..<61).contains(second)
        else { return nil }
        var micros: Int64 = 0
        if n > 19 {
            guard b[19] == 46, n > 20, n <= 29 else { return nil }
            let fraction = digits(b, 20, n - 20)
            guard fraction >= 0 else { return nil }
            var scale: Int64 = 1
            for _ in 0..<(abs(n - 26)) { scale *= 10 }
            micros = n <= 26 ? fraction * scale : fraction / scale
        }
        let days = CivilCalendar.days(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        return NABTimestamp(microseconds: seconds * 1_000_000 + micros)
    }

    private static func digits(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ count: Int) -> Int64 {
        CivilCalendar.digits(b, from, count)
    }

    public static func < (lhs: NABTimestamp, rhs: NABTimestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// `YYYY-MM-DD HH:MM:SS`, with `.ffffff` when there is a fraction.
    public var description: String {
        let (days, secs, micros) = CivilCalendar.split(micros: microseconds)
        let (y, m, d) = CivilCalendar.date(days: days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out =
            "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(secs / 3600, 2)):\(pad(secs / 60 % 60, 2)):\(pad(secs % 60, 2))"
        if micros != 0 { out += ".\(pad(micros, 6))" }
        return out
    }
}

/// A labelled anomaly window: every row whose timestamp lies in `start...end` is inside it. Both bounds must be
/// timestamps of the file.
public struct NABWindow: Sendable, Hashable {
    /// The first timestamp of the window.
    public var start: NABTimestamp
    /// The last timestamp of the window (inclusive).
    public var end: NABTimestamp

    /// A window from its bounds.
    public init(start: NABTimestamp, end: NABTimestamp) {
        self.start = start
        self.end = end
    }
}

/// The cost-matrix weights of a NAB application profile (`config/profiles.json`).
public struct NABProfile: Sendable, Hashable {
    /// The profile's name, e.g. `standard`.
    public var name: String
    /// Weight of the earliest true positive in a window (the sigmoid is scaled so that it scores exactly this).
    public var tpWeight: Double
    /// Weight of a false positive (multiplies the negative sigmoid outside windows).
    public var fpWeight: Double
    /// Cost of a window with no detection.
    public var fnWeight: Double
    /// Weight of a true negative (unused by NAB's scoring; kept for completeness).
    public var tnWeight: Double

    /// A profile from its weights.
    public init(name: String, tpWeight: Double, fpWeight: Double, fnWeight: Double, tnWeight: Double = 1) {
        self.name = name
        self.tpWeight = tpWeight
        self.fpWeight = fpWeight
        self.fnWeight = fnWeight
        self.tnWeight = tnWeight
    }

    /// NAB's `standard` profile.
    public static let standard = NABProfile(name: "standard", tpWeight: 1, fpWeight: 0.11, fnWeight: 1)
    /// NAB's `reward_low_FP_rate` profile.
    public static let rewardLowFPRate = NABProfile(name: "reward_low_FP_rate", tpWeight: 1, fpWeight: 0.22, fnWeight: 1)
    /// NAB's `reward_low_FN_rate` profile.
    public static let rewardLowFNRate = NABProfile(name: "reward_low_FN_rate", tpWeight: 1, fpWeight: 0.11, fnWeight: 2)
    /// The three published NAB profiles, in NAB's order.
    public static let nabProfiles: [NABProfile] = [.standard, .rewardLowFPRate, .rewardLowFNRate]

    /// Decodes a `profiles.json` document (`{name: {"CostMatrix": {"tpWeight": …, …}}}`). The published profiles
    /// come first in NAB's order, any others after them by name.
    public static func decodeProfiles(from data: Data, path: String = "profiles.json") throws -> [NABProfile] {
        struct Entry: Decodable {
            struct Matrix: Decodable { var tpWeight: Double, fpWeight: Double, fnWeight: Double, tnWeight: Double? }
            var CostMatrix: Matrix
        }
        let entries: [String: Entry]
        do {
            entries = try JSONDecoder().decode([String: Entry].self, from: data)
        } catch {
            throw NABError.malformedJSON(
                path: path, reason: "expected {profile: {\"CostMatrix\": {tpWeight, fpWeight, fnWeight}}}: \(error)")
        }
        let known = nabProfiles.map(\.name)
        let names = entries.keys.sorted { a, b in
            switch (known.firstIndex(of: a), known.firstIndex(of: b)) {
            case let (x?, y?): x < y
            case (_?, nil): true
            case (nil, _?): false
            case (nil, nil): a < b
            }
        }
        return names.compactMap { name in
            entries[name].map { e in
                NABProfile(
                    name: name, tpWeight: e.CostMatrix.tpWeight, fpWeight: e.CostMatrix.fpWeight,
                    fnWeight: e.CostMatrix.fnWeight, tnWeight: e.CostMatrix.tnWeight ?? 1)
            }
        }
    }
}

/// One row of a detector's results: when, how anomalous the detector found it, and the optional ground-truth label.
public struct NABRow: Sendable, Hashable {
    /// The row's timestamp.
    public var timestamp: NABTimestamp
    /// The detector's anomaly score, normally in [0, 1].
    public var score: Double
    /// The `label` column when the results have one (NAB derives it from the windows).
    public var label: Bool?

    /// A row from its fields.
    public init(timestamp: NABTimestamp, score: Double, label: Bool? = nil) {
        self.timestamp = timestamp
        self.score = score
        self.label = label
    }
}

/// One data file of the corpus with a detector's scores and its labelled windows, checked on creation:
/// scores are finite, window bounds are timestamps of the file, windows neither overlap nor run backwards.
public struct NABFile: Sendable {
    /// The file's path relative to the data directory, e.g. `realKnownCause/nyc_taxi.csv` (also the key in
    /// `combined_windows.json`).
    public let name: String
    /// The category: the data subfolder (`realKnownCause`), or "" when the name has no folder.
    public let category: String
    /// The rows, in file order.
    public let rows: [NABRow]
    /// The labelled windows, sorted by start.
    public let windows: [NABWindow]
    /// Each window as the closed range of row indices it covers, in the order of `windows`.
    public let windowRanges: [ClosedRange<Int>]

    /// Validates and builds a file.
    /// - Throws: `NABError.malformedRow` for a non-finite score, `.windowBoundNotFound` when a bound is not one of
    ///   the timestamps, `.invalidWindow` for a window ending before it starts or overlapping another.
    public init(name: String, rows: [NABRow], windows: [NABWindow]) throws {
        self.name = name
        if let slash = name.lastIndex(of: "/") {
            let folder = name[..<slash]
            category = String(folder.split(separator: "/").last ?? folder)
        } else {
            category = ""
        }
        for (i, row) in rows.enumerated() where !row.score.isFinite {
            throw NABError.malformedRow(
                file: name, line: i + 2, reason: "anomaly score \(row.score) is not a finite number")
        }
        self.rows = rows
        let sorted = windows.sorted { $0.start < $1.start }
        var firstIndex: [NABTimestamp: Int] = [:]
        if !sorted.isEmpty {
            firstIndex.reserveCapacity(rows.count)
            for (i, row) in rows.enumerated() where firstIndex[row.timestamp] == nil { firstIndex[row.timestamp] = i }
        }
        var ranges: [ClosedRange<Int>] = []
        for w in sorted {
            guard let lo = firstIndex[w.start] else {
                throw NABError.windowBoundNotFound(file: name, timestamp: w.start.description)
            }
            guard let hi = firstIndex[w.end] else {
                throw NABError.windowBoundNotFound(file: name, timestamp: w.end.description)
            }
            guard lo <= hi else { throw NABError.invalidWindow(file: name, reason: "\(w.end) is before \(w.start)") }
            if let last = ranges.last, lo <= last.upperBound {
                throw NABError.invalidWindow(
                    file: name, reason: "window starting \(w.start) overlaps the previous window")
            }
            ranges.append(lo...hi)
        }
        self.windows = sorted
        windowRanges = ranges
    }

    /// Rows before this index are NAB's probationary period: `min(floor(p·n), p·5000)` (`getProbationPeriod`),
    /// i.e. 15% of the rows but at most 750 with the default `p = 0.15`.
    public func probationaryLength(percent: Double = NABSweeper.defaultProbationaryPercent) -> Int {
        let limit = min((percent * Double(rows.count)).rounded(.down), percent * 5000)
        // Row i is scored when Double(i) >= limit, i.e. from ceil(limit) on.
        return max(0, Int(limit.rounded(.up)))
    }

    /// Whether each row lies inside a labelled window.
    public func inWindowFlags() -> [Bool] {
        var flags = [Bool](repeating: false, count: rows.count)
        for r in windowRanges { for i in r { flags[i] = true } }
        return flags
    }
}
