import Foundation

/// Header-value checks and encodings for the MIME builder: RFC 5322 folding, RFC 2047 encoded-words, quoted strings,
/// RFC 5322 dates. Pure functions.
enum HeaderText {
    /// Lines are folded to stay within this length where the text allows (RFC 5322 §2.1.1 "SHOULD").
    static let preferredLineLength = 78
    /// The hard limit on a line, without CRLF (RFC 5322 §2.1.1 "MUST").
    static let maximumLineLength = 998

    /// Rejects CR and LF (header injection) and other control characters; TAB is allowed.
    static func validate(_ value: String, field: String) throws(EmailMessageError) {
        for scalar in value.unicodeScalars {
            if scalar == "\r" || scalar == "\n" || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\u{85}" {
                throw .headerInjection(field: field)
            }
            if scalar != "\t", scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                throw .invalidHeaderValue(
                    field: field,
                    reason: "control character U+\(String(scalar.value, radix: 16, uppercase: true)) is not allowed")
            }
        }
    }

    /// An unstructured value (Subject, extra headers): plain ASCII folded at spaces, or UTF-8 encoded-words when it
    /// has non-ASCII characters, text that would read as an encoded-word, or a word too long to fold.
    /// `firstLineUsed` is how much of the first line the header name and ": " take.
    static func unstructured(_ value: String, firstLineUsed: Int) -> String {
        if needsEncoding(value), !value.isEmpty { return encodedWords(value, firstLineUsed: firstLineUsed) }
        return foldedASCII(value, firstLineUsed: firstLineUsed) ?? encodedWords(value, firstLineUsed: firstLineUsed)
    }

    /// A display name: an atom phrase, a quoted string, or encoded-words.
    static func phrase(_ value: String, firstLineUsed: Int) -> String {
        if needsEncoding(value) || value.count > 60 { return encodedWords(value, firstLineUsed: firstLineUsed) }
        let atext = Set("!#$%&'*+-/=?^_`{|}~ ")
        if value.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || atext.contains($0) }),
            value.first != " ", value.last != " "
        {
            return value
        }
        var quoted = "\""
        for c in value {
            if c == "\"" || c == "\\" { quoted.append("\\") }
            quoted.append(c)
        }
        return quoted + "\""
    }

    private static func needsEncoding(_ value: String) -> Bool {
        !value.unicodeScalars.allSatisfy({ $0.isASCII }) || value.contains("=?")
    }

    /// ASCII text folded before spaces to keep lines near 78 characters; nil if a line would exceed 998.
    static func foldedASCII(_ value: String, firstLineUsed: Int) -> String? {
        var segments: [Substring] = []
        var start = value.startIndex
        for i in value.indices where value[i] == " " && i != start {
            segments.append(value[start..<i])
            start = i
        }
        segments.append(value[start...])
        var out = "", length = firstLineUsed, lineHasText = false
        for segment in segments {
            let foldable = segment.first == " " && segment.contains { $0 != " " && $0 != "\t" }
            if lineHasText, foldable, length + segment.count > preferredLineLength {
                out += "\r\n"
                length = 0
                lineHasText = false
            }
            out += segment
            length += segment.count
            lineHasText = lineHasText || segment.contains { $0 != " " && $0 != "\t" }
            if length > maximumLineLength { return nil }
        }
        return out
    }

    /// RFC 2047 "B" encoded-words in UTF-8, each at most 75 characters, never splitting a character, one per line.
    static func encodedWords(_ value: String, firstLineUsed: Int) -> String {
        let overhead = "=?UTF-8?B?".count + "?=".count
        func capacity(lineRoom: Int) -> Int { max(0, (lineRoom - overhead) / 4) * 3 }
        let continuation = capacity(lineRoom: 75)  // a continuation line is " " + word, at most 76
        var limit = capacity(lineRoom: 76 - firstLineUsed)
        if limit < 12 { limit = continuation }
        var words: [String] = [], chunk: [UInt8] = []
        for scalar in value.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if !chunk.isEmpty, chunk.count + bytes.count > limit {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
                limit = continuation
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// `Tue, 01 Jul 2025 10:00:00 +0000` (RFC 5322 §3.3), always in UTC.
    static func date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        let weekday = days[((c.weekday ?? 1) - 1 + 7) % 7]
        let month = months[((c.month ?? 1) - 1 + 12) % 12]
        return
            "\(weekday), \(two(c.day)) \(month) \(c.year ?? 1970) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }
}
