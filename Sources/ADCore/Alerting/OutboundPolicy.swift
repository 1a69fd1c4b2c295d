/// Where the worker may send alerts: a destination address is refused when it points inward (loopback,
/// link-local and cloud metadata, private networks, CGNAT, multicast, unspecified, reserved), unless the owner
/// allowed its host or a network holding it in `ad_internal.outbound_allowlist`. Pure: the delivery loop resolves
/// the name once, asks `decide` about each address, and connects only to an address that passed (so a name that
/// changes between the check and the connect cannot turn the send inward).
public struct OutboundPolicy: Sendable, Equatable {
    /// Host names the owner allowed, lowercased, without a trailing dot.
    public var allowedHosts: Set<String>
    /// Networks the owner allowed.
    public var allowedNetworks: [IPNetwork]

    public init(allowedHosts: Set<String> = [], allowedNetworks: [IPNetwork] = []) {
        self.allowedHosts = Set(allowedHosts.map(Self.normalise))
        self.allowedNetworks = allowedNetworks
    }

    /// The policy from the allowlist's rows (`host` or `network` text each); a row that cannot be read is skipped
    /// and returned in `problems`, so one bad row never allows more than it says.
    public static func fromAllowlist(
        _ rows: [(host: String?, network: String?)]
    ) -> (
        OutboundPolicy, problems: [String]
    ) {
        var hosts = Set<String>(), networks: [IPNetwork] = [], problems: [String] = []
        for row in rows {
            if let h = row.host, !h.isEmpty { hosts.insert(h) }
            if let n = row.network, !n.isEmpty {
                if let net = IPNetwork(n) { networks.append(net) } else { problems.append("network \"\(n)\"") }
            }
        }
        return (OutboundPolicy(allowedHosts: hosts, allowedNetworks: networks), problems)
    }

    /// Why sending to `address` (which `host` resolved to) is refused, or nil when it is allowed.
    public func refusal(host: String, address: IPAddress) -> String? {
        guard let kind = address.inwardKind else { return nil }
        if allowedHosts.contains(Self.normalise(host)) { return nil }
        if allowedNetworks.contains(where: { $0.contains(address) }) { return nil }
        let shown = host == address.description ? address.description : "\(host) (\(address))"
        return
            "destination \(shown) is \(kind): refused by the outbound policy; the database owner may allow it: "
            + "INSERT INTO ad_internal.outbound_allowlist (network, note) VALUES ('\(address.hostNetwork)', '...')"
    }

    /// Of the addresses a host resolved to, the first allowed one, or the refusal of the first (nothing allowed).
    public func choose(host: String, addresses: [IPAddress]) -> Result<IPAddress, Refused> {
        var first: String?
        for a in addresses {
            if let why = refusal(host: host, address: a) { first = first ?? why } else { return .success(a) }
        }
        return .failure(Refused(reason: first ?? "destination \(host) resolved to no address"))
    }

    /// A refused destination; never worth retrying until the owner changes the allowlist.
    public struct Refused: Error, Sendable, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    static func normalise(_ host: String) -> String {
        var h = host.lowercased()
        if h.hasSuffix(".") { h.removeLast() }
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        return h
    }
}

/// An IPv4 or IPv6 address as bytes.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])  // 16 bytes

    /// Parses the strict textual forms only (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`); the lenient forms a resolver
    /// takes (`2130706433`, `0177.0.0.1`) are names here, and their resolved address is what gets checked.
    public init?(_ text: String) {
        var t = Substring(text)
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        if let v4 = Self.parseV4(t) {
            self = .v4(v4)
        } else if let v6 = Self.parseV6(t) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    public init(v6 bytes: [UInt8]) { self = .v6(bytes) }

    static func parseV4(_ t: Substring) -> UInt32? {
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: UInt32 = 0
        for p in parts {
            guard (1...3).contains(p.count), p.allSatisfy({ $0.isASCII && $0.isNumber }),
                p.count == 1 || p.first != "0", let n = UInt32(p), n <= 255
            else { return nil }
            out = out << 8 | n
        }
        return out
    }

    static func parseV6(_ t: Substring) -> [UInt8]? {
        guard t.contains(":"), !t.contains("%") else { return nil }
        var text = t
        var tail: [UInt8] = []
        // An embedded IPv4 address at the end (::ffff:1.2.3.4).
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseV4(text[text.index(after: lastColon)...]) else { return nil }
            tail = [UInt8(v4 >> 24), UInt8(v4 >> 16 & 0xFF), UInt8(v4 >> 8 & 0xFF), UInt8(v4 & 0xFF)]
            text = text[...lastColon]
            if text.hasSuffix("::") {
            } else if text.hasSuffix(":") {
                text = text.dropLast()
            }
        }
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(g.count), let n = UInt16(g, radix: 16) else { return nil }
                out.append(n)
            }
            return out
        }
        let want = (16 - tail.count) / 2
        var words: [UInt16]
        if let range = text.range(of: "::") {
            guard let head = groups(text[..<range.lowerBound]), let rest = groups(text[range.upperBound...]),
                !text[range.upperBound...].contains("::"), head.count + rest.count < want
            else { return nil }
            words = head + Array(repeating: 0, count: want - head.count - rest.count) + rest
        } else {
            guard let all = groups(text), all.count == want else { return nil }
            words = all
        }
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + tail
    }

    /// The IPv4 address an IPv6 one carries (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16),
    /// which is where the packets end up and so what the policy checks.
    public var embeddedV4: UInt32? {
        guard case .v6(let b) = self else { return nil }
        func v4(_ i: Int) -> UInt32 {
            UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
        }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return v4(12) }  // ::ffff:0:0/96
        if b[0..<12].allSatisfy({ $0 == 0 }) && !(b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1) {
            return v4(12)  // ::a.b.c.d (deprecated IPv4-compatible), not :: or ::1
        }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..<12].allSatisfy({ $0 == 0 }) {
            return v4(12)  // 64:ff9b::/96
        }
        if b[0] == 0x20 && b[1] == 0x02 { return v4(2) }  // 2002::/16
        return nil
    }

    /// What kind of inward address this is ("loopback", "link-local", ...), or nil for an ordinary public one.
    public var inwardKind: String? {
        switch self {
        case .v4(let a): return Self.kind(v4: a)
        case .v6(let b):
            if let inner = embeddedV4, let k = Self.kind(v4: inner) { return "\(k) (as IPv6 \(self))" }
            if b.allSatisfy({ $0 == 0 }) { return "unspecified" }
            if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
            if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "link-local" }  // fe80::/10
            if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return "private (site-local)" }  // fec0::/10
            if b[0] & 0xFE == 0xFC { return "private (unique local)" }  // fc00::/7
            if b[0] == 0xFF { return "multicast" }
            if b[0] == 0x01 && b[1..<8].allSatisfy({ $0 == 0 }) { return "reserved (discard-only)" }  // 100::/64
            return nil
        }
    }

    static func kind(v4 a: UInt32) -> String? {
        func inNet(_ base: UInt32, _ bits: UInt32) -> Bool { a >> (32 - bits) == base >> (32 - bits) }
        if a == 0xA9FE_A9FE { return "link-local (the cloud metadata service)" }
        if inNet(0x7F00_0000, 8) { return "loopback" }
        if inNet(0x0000_0000, 8) { return "unspecified (this network)" }
        if inNet(0xA9FE_0000, 16) { return "link-local" }
        if inNet(0x0A00_0000, 8) || inNet(0xAC10_0000, 12) || inNet(0xC0A8_0000, 16) { return "private" }
        if inNet(0x6440_0000, 10) { return "private (shared CGNAT space)" }
        if inNet(0xC000_0000, 24) { return "reserved (IETF protocol assignments)" }
        if inNet(0xC612_0000, 15) { return "reserved (benchmarking)" }
        if inNet(0xE000_0000, 4) { return "multicast" }
        if inNet(0xF000_0000, 4) { return "reserved (broadcast and future use)" }
        return nil
    }

    /// The one-address network (`127.0.0.1/32`, `::1/128`), for the allowlist hint.
    public var hostNetwork: String {
        switch self {
        case .v4: "\(self)/32"
        case .v6: "\(self)/128"
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6(let b):
            let words = stride(from: 0, to: 16, by: 2).map { UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]) }
            // The longest run of two or more zero words becomes "::" (RFC 5952).
            var best = (start: -1, length: 0), i = 0
            while i < 8 {
                if words[i] == 0 {
                    var j = i
                    while j < 8 && words[j] == 0 { j += 1 }
                    if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                    i = j
                } else {
                    i += 1
                }
            }
            let hex = words.map { String($0, radix: 16) }
            if best.start < 0 { return hex.joined(separator: ":") }
            return hex[..<best.start].joined(separator: ":") + "::"
                + hex[(best.start + best.length)...].joined(separator: ":")
        }
    }
}

/// A network in CIDR notation (`127.0.0.0/8`, `::1/128`); a bare address is its one-address network.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let a = IPAddress(String(parts[0])) else { return nil }
        let max: Int
        switch a {
        case .v4: max = 32
        case .v6: max = 128
        }
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...max).contains(p) else { return nil }
            prefix = p
        } else {
            prefix = max
        }
        address = a
    }

    /// Whether `other` is in this network (an IPv4 network also holds the IPv6 forms that carry its addresses).
    public func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case (.v4(let n), .v4(let a)):
            return prefix == 0 || n >> UInt32(32 - prefix) == a >> UInt32(32 - prefix)
        case (.v4, .v6):
            guard let inner = other.embeddedV4 else { return false }
            return contains(.v4(inner))
        case (.v6(let n), .v6(let a)):
            var left = prefix, i = 0
            while left > 0 {
                let bits = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if n[i] & mask != a[i] & mask { return false }
                left -= bits; i += 1
            }
            return true
        case (.v6, .v4):
            return false
        }
    }

    public var description: String { "\(address)/\(prefix)" }
}

/// Fixed limits of one send (the SQL check of `ad.channels` uses the same numbers).
public enum DeliveryLimits {
    /// The largest `timeout_seconds` a channel may ask for (and the default `AD_DELIVERY_MAX_SEND`).
    public static let maxChannelTimeout: Double = 60
    /// How much longer than the longest send a lease must be: time to record the outcome.
    public static let leaseMargin: Double = 10
    /// A channel's total deadline when its config sets none: HTTP channels, email.
    public static let defaultHTTPTimeout: Double = 10
    public static let defaultEmailTimeout: Double = 60
    /// Seconds spent at most reading a response body after its head (which decided the outcome).
    public static let drainSeconds: Double = 1
    /// Bytes of a response body read at most (the rest is never read); none of it is recorded.
    public static let responseBytes = 1024
}
