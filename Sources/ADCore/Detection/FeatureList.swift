/// The features of one metric of one point: a slot per feature the scorer can write (no allocation), those stored
/// (`Key.isStored`) rendered straight into JSON bytes in the order jsonb keeps keys (shorter first, then bytewise), so the text reads as psql
/// shows the stored value. The worker renders them for every point it scores: building a `JSONValue` tree per
/// point, rounding through `pow` and printing each number through `Double.description` was a third of the scorer's
/// time (`perf` over scoring 200,000 points).
public struct FeatureList: Sendable {
    /// Every feature a metric can have, in jsonb's key order (the detector state, `lik`, goes after `sd`).
    public enum Key: Int, Sendable, CaseIterable {
        case n, x, dd, dt, dw, sd, mean, rate, burst, delta, scale, median, delta_z, robust_z, surprise, lag_daily,
            novelty_z, lag_weekly, seasonal_z, daily_ratio, level_shift, weekly_ratio, seasonal_weekly_z,
            seasonal_z_abstains, seasonal_weekly_z_abstains

        public var name: StaticString {
            switch self {
            case .n: "n"
            case .x: "x"
            case .dd: "dd"
            case .dt: "dt"
            case .dw: "dw"
            case .sd: "sd"
            case .mean: "mean"
            case .rate: "rate"
            case .burst: "burst"
            case .delta: "delta"
            case .scale: "scale"
            case .median: "median"
            case .delta_z: "delta_z"
            case .robust_z: "robust_z"
            case .surprise: "surprise"
            case .lag_daily: "lag_daily"
            case .novelty_z: "novelty_z"
            case .lag_weekly: "lag_weekly"
            case .seasonal_z: "seasonal_z"
            case .daily_ratio: "daily_ratio"
            case .level_shift: "level_shift"
            case .weekly_ratio: "weekly_ratio"
            case .seasonal_weekly_z: "seasonal_weekly_z"
            case .seasonal_z_abstains: "seasonal_z_abstains"
            case .seasonal_weekly_z_abstains: "seasonal_weekly_z_abstains"
            }
        }

        /// Whether the key is stored in `ad.data_points.features` (and in `json`). The window's mean and standard
        /// deviation, the step (`delta`), the seconds since the previous point (`dt`) and their quotient (`rate`) are
        /// not: the scorer uses none of them (its centre and scale are `median` and `scale`), the last three follow
        /// from the point's and its predecessor's `values`, and each stored number costs the scoring `UPDATE` its
        /// parse into jsonb and its bytes in the row and the WAL (five of a metric's fifteen numbers;
        /// docs/performance.md, History, issue 22). The scorer still fills them: they cost nothing there.
        public var isStored: Bool {
            switch self {
            case .mean, .sd, .rate, .delta, .dt: false
            default: true
            }
        }

        /// The sentence a `.note` stands for (said of a seasonal stream that abstains; empty for other keys).
        public var note: StaticString {
            switch self {
            case .seasonal_z_abstains: "the value a day before was an anomaly"
            case .seasonal_weekly_z_abstains: "the value a week before was an anomaly"
            default: ""
            }
        }
    }

    public enum Value: Sendable, Equatable {
        case absent
        /// Rounded to `digits` significant decimals as `JSONValue.rounded` rounds; null when nil or not finite.
        case rounded(Double?, digits: Int)
        /// Unrounded (read back by later points).
        case exact(Double)
        /// The key's fixed sentence (`Key.note`).
        case note
    }

    /// By `Key.rawValue`: the number, and what it is (0: absent, 1: exact, 2: the key's note, 3: null, else 10 +
    /// significant digits). Two small inline arrays rather than one of `Value`: the list is copied a few times per
    /// metric, and rendered slot by slot.
    private var numbers = InlineArray<25, Double>(repeating: 0)
    private var kinds = InlineArray<25, UInt8>(repeating: 0)
    /// The detector state the metric leaves, stored as `lik` when set (at the worker's checkpoints).
    public var state: DetectorState?

    public subscript(key: Key) -> Value {
        get {
            let (x, kind) = (numbers[key.rawValue], kinds[key.rawValue])
            switch kind {
            case 0: return .absent
            case 1: return .exact(x)
            case 2: return .note
            case 3: return .rounded(nil, digits: 6)
            default: return .rounded(x, digits: Int(kind) - 10)
            }
        }
        set {
            switch newValue {
            case .absent: kinds[key.rawValue] = 0
            case .exact(let x): (numbers[key.rawValue], kinds[key.rawValue]) = (x, 1)
            case .note: kinds[key.rawValue] = 2
            case .rounded(let x, let digits):
                precondition((1...17).contains(digits))
                if let x {
                    (numbers[key.rawValue], kinds[key.rawValue]) = (x, UInt8(10 + digits))
                } else {
                    kinds[key.rawValue] = 3
                }
            }
        }
    }

    /// `key`: `x` rounded to `digits` significant decimals.
    mutating func set(_ key: Key, _ x: Double?, digits: Int = 6) { self[key] = .rounded(x, digits: digits) }

    /// The same features as a value, in the same order.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = []
        for key in Key.allCases where key.isStored {
            let v: JSONValue
            switch self[key] {
            case .absent: continue
            case .rounded(let x, let digits): v = .rounded(x, digits)
            case .exact(let x): v = .number(x)
            case .note: v = .string("\(key.note)")
            }
            pairs.append(("\(key.name)", v))
        }
        if let state { pairs.insert(("lik", state.json), at: pairs.firstIndex { $0.0.utf8.count > 3 } ?? pairs.count) }
        return .object(pairs)
    }

    /// Compact JSON text of an object of metrics' features, as `JSONValue.object` of each one's `json` renders.
    public static func render(_ metrics: [(metric: String, features: FeatureList)]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(metrics, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `render`, appended to `out` as UTF-8.
    public static func write(_ metrics: [(metric: String, features: FeatureList)], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, m) in metrics.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.quote(m.metric, into: &out)
            out.append(UInt8(ascii: ":"))
            m.features.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    private func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ k: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))  // our names need no escaping
            k.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        for k in Key.allCases {
            let (x, kind) = (numbers[k.rawValue], k.isStored ? kinds[k.rawValue] : 0)
            switch kind {
            case 0: break
            case 1: key(k.name); JSONValue.writeNumber(x, into: &out)
            case 2:
                key(k.name)
                out.append(UInt8(ascii: "\""))
                k.note.withUTF8Buffer { out.append(contentsOf: $0) }
                out.append(UInt8(ascii: "\""))
            case 3: key(k.name); out.append(contentsOf: "null".utf8)
            default: key(k.name); JSONValue.writeRounded(x, digits: Int(kind) - 10, into: &out)
            }
            if k == .sd, let state { key("lik"); state.write(into: &out) }  // "lik" sorts after every 2-letter key
        }
        out.append(UInt8(ascii: "}"))
    }
}
