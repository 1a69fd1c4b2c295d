/// The extensions a server lists in its EHLO reply (RFC 5321 §4.1.1.1): every line after the first is a keyword
/// and its parameters, such as `STARTTLS`, `AUTH PLAIN LOGIN` or `SIZE 10240000`.
public struct SMTPCapabilities: Sendable, Equatable {
    /// Upper-cased keyword → its parameters, as sent.
    public let extensions: [String: [String]]

    /// No extensions (the server answered HELO, not EHLO).
    public init() { extensions = [:] }

    /// The extensions in an EHLO reply; the first line (the server's name and greeting) is skipped.
    public init(ehloReply: SMTPReply) {
        var found: [String: [String]] = [:]
        for line in ehloReply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard var keyword = words.first?.uppercased() else { continue }
            var parameters = Array(words.dropFirst())
            // Old servers advertise "AUTH=LOGIN PLAIN" alongside or instead of "AUTH LOGIN PLAIN".
            if keyword.hasPrefix("AUTH=") {
                parameters.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
            }
            found[keyword, default: []].append(contentsOf: parameters)
        }
        extensions = found
    }

    /// Whether the server lists `keyword` (case-insensitive).
    public func supports(_ keyword: String) -> Bool { extensions[keyword.uppercased()] != nil }

    /// The server offers STARTTLS (RFC 3207).
    public var startTLS: Bool { supports("STARTTLS") }

    /// The SASL mechanisms after AUTH, upper-cased, without duplicates, in the server's order.
    public var authMechanisms: [String] {
        var seen = Set<String>()
        return (extensions["AUTH"] ?? []).map { $0.uppercased() }.filter { seen.insert($0).inserted }
    }

    /// The SIZE limit in bytes (RFC 1870), or nil when not announced or announced as 0 (no limit).
    public var maximumMessageSize: Int? {
        guard let value = extensions["SIZE"]?.first, let size = Int(value), size > 0 else { return nil }
        return size
    }
}
