/// The features of one metric of one point, in the order they are stored: fixed names and numbers, rendered
/// straight into JSON bytes. The worker renders them for every point it scores; building a `JSONValue` tree per
/// point, rounding through `pow` and printing each number through `Double.description` was a third of the scorer's
/// time (`perf` over scoring 200,000 points).
public struct FeatureList: Sendable {
    public enum Value: Sendable {
        /// Rounded to `digits` significant decimals as `JSONValue.rounded` rounds; null when nil or not finite.
        case rounded(Double?, digits: Int)
        /// Unrounded (read back by later points).
        case exact(Double)
        case note(StaticString)
    }

    public private(set) var entries: [(key: StaticString, value: Value)] = []
    /// The detector state the metric leaves, stored last as `lik` when set (at the worker's checkpoints).
    public var state: DetectorState?

    init() { entries.reserveCapacity(24) }  // every feature, without growing

    mutating func append(_ key: StaticString, _ value: Value) { entries.append((key, value)) }

    /// `key`: `x` rounded to `digits` significant decimals.
    mutating func append(_ key: StaticString, _ x: Double?, digits: Int = 6) { entries.append((key, .rounded(x, digits: digits))) }

    /// The same features as a value.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = entries.map { e in
            let v: JSONValue = switch e.value {
            case .rounded(let x, let digits): .rounded(x, digits)
            case .exact(let x): .number(x)
            case .note(let s): .string("\(s)")
            }
            return ("\(e.key)", v)
        }
        if let state { pairs.append(("lik", state.json)) }
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
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            Self.key(e.key, into: &out)
            switch e.value {
            case .rounded(let x, let digits): JSONValue.writeRounded(x, digits: digits, into: &out)
            case .exact(let x): JSONValue.writeNumber(x, into: &out)
            case .note(let s):
                out.append(UInt8(ascii: "\""))
                s.withUTF8Buffer { out.append(contentsOf: $0) }
                out.append(UInt8(ascii: "\""))
            }
        }
        if let state {
            if !entries.isEmpty { out.append(UInt8(ascii: ",")) }
            Self.key("lik", into: &out)
            state.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `"key":` (our names and notes need no escaping).
    private static func key(_ k: StaticString, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }
}
