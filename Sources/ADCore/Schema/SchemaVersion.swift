/// A schema version such as `0.1.0`: dot-separated non-negative integers, ordered numerically.
public struct SchemaVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The numeric parts, most significant first.
    public let parts: [Int]

    /// Parses `text`; nil unless it is one or more dot-separated non-negative integers.
    public init?(_ text: String) {
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        var parts: [Int] = []
        for piece in pieces {
            guard !piece.isEmpty, piece.allSatisfy(\.isASCII), let n = Int(piece), n >= 0 else { return nil }
            parts.append(n)
        }
        guard !parts.isEmpty else { return nil }
        self.parts = parts
    }

    public var description: String { parts.map(String.init).joined(separator: ".") }

    public static func < (a: SchemaVersion, b: SchemaVersion) -> Bool {
        for k in 0..<max(a.parts.count, b.parts.count) {
            let x = k < a.parts.count ? a.parts[k] : 0
            let y = k < b.parts.count ? b.parts[k] : 0
            if x != y { return x < y }
        }
        return false
    }

    public static func == (a: SchemaVersion, b: SchemaVersion) -> Bool { !(a < b) && !(b < a) }

    public func hash(into hasher: inout Hasher) {
        var p = parts
        while p.count > 1, p.last == 0 { p.removeLast() }
        hasher.combine(p)
    }
}
