/// Turns the bytes a server sends into replies: splits lines (CRLF, tolerating a bare LF), checks each line's
/// shape, and joins `250-…` continuation lines up to the final `250 …` line. Pure: feed it bytes, take replies.
public struct SMTPReplyParser: Sendable {
    /// Longest reply line accepted, without its line ending. RFC 5321 allows 512 octets; servers exceed it.
    public static let maximumLineLength = 4096
    /// Most lines one reply may have.
    public static let maximumLinesPerReply = 1000

    /// What can be wrong with the server's bytes; the connection is useless afterwards.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// A line that is not `NNN`, `NNN text` or `NNN-text` with NNN in 200...599.
        case malformedLine(String)
        /// A line longer than `maximumLineLength`.
        case lineTooLong
        /// A reply with more than `maximumLinesPerReply` lines.
        case tooManyLines
        /// A continuation line whose code differs from the reply's first line.
        case inconsistentCode(expected: Int, got: Int)

        public var description: String {
            switch self {
            case .malformedLine(let line): "malformed reply line \(String(reflecting: String(line.prefix(200))))"
            case .lineTooLong: "reply line longer than \(SMTPReplyParser.maximumLineLength) bytes"
            case .tooManyLines: "reply with more than \(SMTPReplyParser.maximumLinesPerReply) lines"
            case .inconsistentCode(let expected, let got):
                "multi-line reply changed its code from \(expected) to \(got)"
            }
        }
    }

    private var buffer: [UInt8] = []
    private var start = 0
    private var pendingCode: Int?
    private var pendingLines: [String] = []

    /// An empty parser.
    public init() {}

    /// True while bytes have arrived that do not yet make a whole reply (a partial line or an unfinished
    /// multi-line reply). After the reply to STARTTLS this must be false: anything else was injected in plain text.
    public var hasBufferedInput: Bool { start < buffer.count || pendingCode != nil }

    /// Adds bytes received from the server.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete reply, or nil until more bytes arrive.
    public mutating func nextReply() throws(Failure) -> SMTPReply? {
        while let line = try nextLine() {
            let (code, isLast, text) = try Self.parseLine(line)
            if let expected = pendingCode, expected != code { throw .inconsistentCode(expected: expected, got: code) }
            pendingCode = code
            pendingLines.append(text)
            if isLast {
                let reply = SMTPReply(code: code, lines: pendingLines)
                pendingCode = nil
                pendingLines = []
                return reply
            }
            if pendingLines.count >= Self.maximumLinesPerReply { throw .tooManyLines }
        }
        return nil
    }

    /// Parses a whole server transcript (for tests and diagnostics); fails on a trailing partial reply.
    public static func parse(_ transcript: String) throws(Failure) -> [SMTPReply] {
        var parser = SMTPReplyParser()
        parser.append(transcript.utf8)
        var replies: [SMTPReply] = []
        while let reply = try parser.nextReply() { replies.append(reply) }
        if parser.hasBufferedInput { throw .malformedLine("incomplete reply at end of input") }
        return replies
    }

    private mutating func nextLine() throws(Failure) -> [UInt8]? {
        guard let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.count - start > Self.maximumLineLength + 1 { throw .lineTooLong }
            return nil
        }
        var end = newline
        if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(buffer[start..<end])
        start = newline + 1
        if line.count > Self.maximumLineLength { throw .lineTooLong }
        return line
    }

    private static func parseLine(_ line: [UInt8]) throws(Failure) -> (code: Int, isLast: Bool, text: String) {
        func malformed() -> Failure { .malformedLine(String(decoding: line, as: UTF8.self)) }
        guard line.count >= 3 else { throw malformed() }
        var code = 0
        for byte in line[0..<3] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { throw malformed() }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard (200...599).contains(code) else { throw malformed() }
        if line.count == 3 { return (code, true, "") }
        let separator = line[3]
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw malformed() }
        let text = String(decoding: line[4...], as: UTF8.self)
        return (code, separator == UInt8(ascii: " "), text)
    }
}
