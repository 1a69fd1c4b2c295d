import Foundation

/// A JSON value, for per-source configuration (decoded) and for features and explanations (rendered).
/// Object keys render in the order given, so output is deterministic.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.number(x), .number(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The value under `key`, for objects.
    public subscript(key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    /// A number rounded to `digits` significant decimals, or null when not finite (JSON has no NaN).
    public static func rounded(_ x: Double?, _ digits: Int = 6) -> JSONValue {
        roundedValue(x, digits).map(JSONValue.number) ?? .null
    }

    /// `x` rounded to `digits` significant decimals, as `rounded` stores it; nil when not finite.
    public static func roundedValue(_ x: Double?, _ digits: Int = 6) -> Double? {
        guard let x, x.isFinite else { return nil }
        if x == 0 || x == x.rounded() && abs(x) < 1e15 { return x }
        let magnitude = Int(floor(log10(abs(x))))
        let scale = pow(10.0, Double(digits - 1 - magnitude))
        let r = (x * scale).rounded() / scale
        return r.isFinite ? r : x
    }

    /// Compact JSON text.
    public func render() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Into bytes (String appends were a quarter of the worker's CPU time when features were rendered this way;
    /// they now go through `FeatureList`, which shares the number writers below).
    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let x): Self.writeNumber(x, into: &out)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() { if i > 0 { out.append(UInt8(ascii: ",")) }; v.write(into: &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.quote(k, into: &out); out.append(UInt8(ascii: ":")); v.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A number as `.number` renders it.
    static func writeNumber(_ x: Double, into out: inout [UInt8]) {
        if !x.isFinite {
            out.append(contentsOf: "null".utf8)
        } else if x == x.rounded(), abs(x) < 1e15 {
            integer(Int64(x), into: &out)
        } else {
            out.append(contentsOf: x.description.utf8)
        }
    }

    /// 10^k for k in 0...18, each exact (as `pow(10, k)` gives them).
    private static let powersOfTen: [Double] = (0...18).map { pow(10.0, Double($0)) }

    /// A number as `.rounded(x, digits)` renders it, without dividing back and printing the quotient: `x` scaled to
    /// an integer of `digits` digits (the same multiplication and rounding), printed with the decimal point put
    /// back. `.rounded` gives the double nearest that decimal, and `description` prints the shortest text that reads
    /// back as it: for a decimal of at most 15 significant digits, that decimal itself. Magnitudes the table does not
    /// reach go the long way.
    static func writeRounded(_ x: Double?, digits: Int, into out: inout [UInt8]) {
        guard let x, x.isFinite else { out.append(contentsOf: "null".utf8); return }
        if x == 0 || x == x.rounded() && abs(x) < 1e15 { integer(Int64(x), into: &out); return }
        let k = digits - 1 - Int(floor(log10(abs(x))))
        // 10^k fits in UInt64
        guard digits <= 15, k >= 0, k <= 18 else { rounded(x, digits).write(into: &out); return }
        let m = (x * powersOfTen[k]).rounded()
        if m < 0 { out.append(UInt8(ascii: "-")) }
        // |m| < 10^digits: its digits with the point put back k from the right, trailing zeros of the fraction dropped.
        var u = UInt64(m.magnitude), decimals = k
        while decimals > 0 && u % 10 == 0 { u /= 10; decimals -= 1 }
        let unit = UInt64(powersOfTen[decimals])
        integer(Int64(u / unit), into: &out)
        guard decimals > 0 else { return }
        out.append(UInt8(ascii: "."))
        var fraction = u % unit, place = unit / 10
        while place > 0 { out.append(UInt8(ascii: "0") + UInt8(fraction / place)); fraction %= place; place /= 10 }
    }

    private static func integer(_ n: Int64, into out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var m = n.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10; count += 1
            } while m > 0
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(b); out.append(b)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 0xF)])
            default:
                out.append(b)  // ASCII, or a byte of a multi-byte UTF-8 sequence: valid JSON as it is
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue: Decodable {
    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var pairs: [(String, JSONValue)] = []
            for key in object.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                pairs.append((key.stringValue, try object.decode(JSONValue.self, forKey: key)))
            }
            self = .object(pairs)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let x = try? single.decode(Double.self) {
            self = .number(x)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONValue: Encodable {
    /// As `render()` writes it (non-finite numbers as null), through any encoder.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer(); try c.encode(b)
        case .number(let x):
            var c = encoder.singleValueContainer()
            if x.isFinite { try c.encode(x) } else { try c.encodeNil() }
        case .string(let s):
            var c = encoder.singleValueContainer(); try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let pairs):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (k, v) in pairs { try c.encode(v, forKey: AnyKey(stringValue: k)) }
        }
    }
}
