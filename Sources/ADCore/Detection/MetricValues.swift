/// A point's `values` as PostgreSQL prints a jsonb object of numbers (`{"cpu": 0.93, "mem": 512}`): metric names
/// and values, read without Foundation's JSON decoder, which the worker would otherwise run on every point.
public enum MetricValues {
    /// The object's members in the order written, each number read as `float8` reads it (the nearest double to the
    /// decimal, as `(values ->> metric)::float8` gives it); nil for anything but an object whose members are all
    /// numbers.
    public static func parse(_ text: String) -> [(metric: String, value: Double)]? {
        var text = text
        return text.withUTF8 { parse(bytes: $0) }
    }

    private static func parse(bytes p: UnsafeBufferPointer<UInt8>) -> [(metric: String, value: Double)]? {
        var i = 0
        func skipSpace() { while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x09 || p[i] == 0x0D { i += 1 } }
        func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < p.count, p[i] == byte else { return false }
            i += 1
            return true
        }
        /// A JSON string (the opening quote already taken), with its escapes resolved.
        func string() -> String? {
            var out: [UInt8] = []
            var pendingHigh: UInt32?
            while i < p.count {
                let b = p[i]
                i += 1
                if b == 0x22 { return pendingHigh == nil ? String(validating: out, as: UTF8.self) : nil }
                guard b == 0x5C else {
                    guard b >= 0x20, pendingHigh == nil else { return nil }
                    out.append(b)
                    continue
                }
                guard i < p.count else { return nil }
                let e = p[i]
                i += 1
                var scalar: UInt32
                switch e {
                case 0x22, 0x5C, 0x2F: scalar = UInt32(e)
                case 0x62: scalar = 0x08
                case 0x66: scalar = 0x0C
                case 0x6E: scalar = 0x0A
                case 0x72: scalar = 0x0D
                case 0x74: scalar = 0x09
                case 0x75:
                    guard i + 4 <= p.count,
                        let u = UInt32(
                            String(decoding: UnsafeBufferPointer(rebasing: p[i..<(i + 4)]), as: UTF8.self), radix: 16)
                    else { return nil }
                    i += 4
                    scalar = u
                default: return nil
                }
                if let high = pendingHigh {  // the low half of a surrogate pair must follow its high half
                    guard (0xDC00...0xDFFF).contains(scalar) else { return nil }
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
                    pendingHigh = nil
                } else if (0xD800...0xDBFF).contains(scalar) {
                    pendingHigh = scalar
                    continue
                }
                guard let s = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(s)).utf8)
            }
            return nil
        }
        /// A JSON number, by the standard library's correctly rounded conversion of its text.
        func number() -> Double? {
            skipSpace()
            let start = i
            while i < p.count,
                (0x30...0x39).contains(p[i]) || p[i] == 0x2D || p[i] == 0x2B || p[i] == 0x2E || p[i] == 0x65
                    || p[i] == 0x45
            {
                i += 1
            }
            guard i > start,
                let x = Double(String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)),
                x.isFinite
            else { return nil }
            return x
        }

        guard take(0x7B) else { return nil }
        var out: [(metric: String, value: Double)] = []
        if take(0x7D) { skipSpace(); return i == p.count ? out : nil }
        repeat {
            guard take(0x22), let key = string(), take(0x3A), let x = number() else { return nil }
            out.append((key, x))
        } while take(0x2C)
        guard take(0x7D) else { return nil }
        skipSpace()
        return i == p.count ? out : nil
    }
}
