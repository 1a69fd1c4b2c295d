/// Splits a PostgreSQL script into statements, the way psql does for the constructs our scripts use.
///
/// The extended query protocol runs one statement per message, so `adworker migrate` runs a script statement by
/// statement. Semicolons inside quoted strings (`'...'`, `E'...'`), quoted identifiers, dollar-quoted bodies
/// (`$tag$...$tag$`), line comments and nested block comments do not end a statement. psql meta-commands
/// (lines starting with a backslash) are not SQL and are rejected.
public enum SQLScript {
    /// A script that cannot be split.
    public struct SplitError: Error, Equatable, CustomStringConvertible {
        /// What is wrong.
        public let message: String
        /// 1-based line where the problem starts.
        public let line: Int
        public var description: String { "line \(line): \(message)" }
    }

    /// The statements of `script`, without their terminating semicolons, comments kept, blank ones dropped.
    public static func statements(in script: String) throws(SplitError) -> [String] {
        let s = Array(script.unicodeScalars)
        var out: [String] = []
        var start = 0
        var i = 0
        var line = 1
        var atLineStart = true
        var hasCode = false

        func flush(upTo end: Int) {
            if hasCode {
                var text = String(String.UnicodeScalarView(s[start..<end]))
                while let last = text.unicodeScalars.last, last.properties.isWhitespace {
                    text.unicodeScalars.removeLast()
                }
                while let first = text.unicodeScalars.first, first.properties.isWhitespace {
                    text.unicodeScalars.removeFirst()
                }
                out.append(text)
            }
            hasCode = false
        }

        while i < s.count {
            let c = s[i]
            if c == "\n" { line += 1; atLineStart = true; i += 1; continue }
            if atLineStart && c == "\\" {
                throw SplitError(message: "psql meta-command is not SQL", line: line)
            }
            if !c.properties.isWhitespace { atLineStart = false }
            switch c {
            case "-" where i + 1 < s.count && s[i + 1] == "-":
                while i < s.count && s[i] != "\n" { i += 1 }
                continue
            case "/" where i + 1 < s.count && s[i + 1] == "*":
                let open = line
                var depth = 0
                repeat {
                    if s[i] == "/" && i + 1 < s.count && s[i + 1] == "*" { depth += 1; i += 2; continue }
                    if s[i] == "*" && i + 1 < s.count && s[i + 1] == "/" { depth -= 1; i += 2; continue }
                    if s[i] == "\n" { line += 1 }
                    i += 1
                } while depth > 0 && i < s.count
                if depth > 0 { throw SplitError(message: "unterminated block comment", line: open) }
                continue
            case "'", "\"":
                hasCode = true
                let escapes =
                    c == "'" && i > 0 && (s[i - 1] == "E" || s[i - 1] == "e")
                    && (i < 2 || !isIdentifierChar(s[i - 2]))
                let open = line
                i += 1
                var closed = false
                while i < s.count {
                    if s[i] == "\n" { line += 1 }
                    if escapes && s[i] == "\\" { i += 2; continue }
                    if s[i] == c {
                        if i + 1 < s.count && s[i + 1] == c { i += 2; continue }
                        closed = true; i += 1; break
                    }
                    i += 1
                }
                if !closed { throw SplitError(message: "unterminated quoted text", line: open) }
                continue
            case "$":
                if let tagEnd = dollarTagEnd(s, from: i), i == 0 || !isIdentifierChar(s[i - 1]) {
                    hasCode = true
                    let tag = Array(s[i...tagEnd])
                    let open = line
                    i = tagEnd + 1
                    var closed = false
                    while i < s.count {
                        if s[i] == "$" && i + tag.count <= s.count && Array(s[i..<(i + tag.count)]) == tag {
                            i += tag.count; closed = true; break
                        }
                        if s[i] == "\n" { line += 1 }
                        i += 1
                    }
                    if !closed { throw SplitError(message: "unterminated dollar-quoted text", line: open) }
                    continue
                }
                hasCode = true
            case ";":
                flush(upTo: i)
                start = i + 1
                i += 1
                continue
            default:
                if !c.properties.isWhitespace { hasCode = true }
            }
            i += 1
        }
        flush(upTo: s.count)
        return out
    }

    private static func isIdentifierChar(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || ("0"..."9").contains(c)
    }

    /// For `$tag$` or `$$` starting at `i`, the index of the closing `$` of the tag.
    private static func dollarTagEnd(_ s: [Unicode.Scalar], from i: Int) -> Int? {
        var j = i + 1
        while j < s.count {
            if s[j] == "$" { return j }
            let c = s[j]
            let ok = c == "_" || c.properties.isAlphabetic || (j > i + 1 && ("0"..."9").contains(c))
            if !ok { return nil }
            j += 1
        }
        return nil
    }
}
