/// One SMTP reply (RFC 5321 §4.2): a three-digit code and one or more lines of text.
///
/// A multi-line reply (`250-first`, `250-second`, `250 last`) is one `SMTPReply` with three `lines`.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The reply code, 200...599.
    public let code: Int
    /// The text of each line, without the code and the `-`/space separator; may be empty strings.
    public let lines: [String]

    /// Creates a reply; `lines` holds the text after the code on each line.
    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// All lines' text, joined with newlines.
    public var text: String { lines.joined(separator: "\n") }

    /// The RFC 3463 enhanced status code at the start of the first line (`5.7.8`), if the server sent one.
    public var enhancedStatusCode: String? {
        let first = lines.first ?? ""
        let token = first.prefix { $0 != " " }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let cls = parts.first, ["2", "4", "5"].contains(String(cls)),
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { ("0"..."9").contains($0) } })
        else { return nil }
        return String(token)
    }

    /// 2xx: the command succeeded.
    public var isPositiveCompletion: Bool { (200...299).contains(code) }
    /// 3xx: the server waits for more (354 after DATA, 334 during AUTH).
    public var isPositiveIntermediate: Bool { (300...399).contains(code) }
    /// 4xx: failed for now; the same command may succeed later.
    public var isTransientNegative: Bool { (400...499).contains(code) }
    /// 5xx: failed for good.
    public var isPermanentNegative: Bool { (500...599).contains(code) }

    /// The reply as one line, as a delivery history records it: `250 2.0.0 Ok: queued`.
    /// Lines of a multi-line reply are joined with a space.
    public var description: String {
        let text = lines.filter { !$0.isEmpty }.joined(separator: " ")
        return text.isEmpty ? String(code) : "\(code) \(text)"
    }
}
