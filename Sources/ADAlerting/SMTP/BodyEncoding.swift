import Foundation

/// Content-Transfer-Encodings for text parts (RFC 2045 §6). Both give 7-bit output with lines of at most 76
/// characters, so any UTF-8 text travels through any SMTP server. Pure functions.
enum BodyEncoding {
    /// Splits text into lines at CRLF, bare LF or bare CR.
    static func lines(_ text: String) -> [[UInt8]] {
        var lines: [[UInt8]] = [], current: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            switch byte {
            case UInt8(ascii: "\r"):
                if bytes.first == UInt8(ascii: "\n") { bytes.removeFirst() }
                lines.append(current); current = []
            case UInt8(ascii: "\n"):
                lines.append(current); current = []
            default:
                current.append(byte)
            }
        }
        lines.append(current)
        return lines
    }

    /// Quoted-printable: printable ASCII stays readable, everything else becomes `=XX`, with soft line breaks
    /// (`=` at the end of a line) keeping lines at 76 characters. Line breaks in the text become CRLF. A `.` or
    /// `From ` at the start of a line is encoded too, so no relay can mistake it for an end of data or an mbox line.
    static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for (lineNumber, line) in lines(text).enumerated() {
            if lineNumber > 0 { out += Array("\r\n".utf8) }
            var current: [UInt8] = []
            for (i, byte) in line.enumerated() {
                let isLast = i == line.count - 1
                let atLineStart = current.isEmpty
                let literal: Bool
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"): literal = !isLast
                case UInt8(ascii: "."): literal = !atLineStart
                case UInt8(ascii: "F"): literal = !(atLineStart && line[i...].starts(with: Array("From ".utf8)))
                case UInt8(ascii: "="): literal = false
                case 33...126: literal = true
                default: literal = false
                }
                let token: [UInt8] = literal ? [byte] : [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                let fitsAsLast = isLast && current.count + token.count <= 76
                if current.count + token.count > 75, !fitsAsLast {
                    out += current + [UInt8(ascii: "="), UInt8(ascii: "\r"), UInt8(ascii: "\n")]
                    current = []
                    // The token now starts a line: a literal "." or "F" there gets the same protection.
                    if literal,
                        byte == UInt8(ascii: ".")
                            || (byte == UInt8(ascii: "F") && line[i...].starts(with: Array("From ".utf8)))
                    {
                        current = [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                        continue
                    }
                }
                current += token
            }
            out += current
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Base64 of the text with CRLF line breaks (the canonical form of text/*), wrapped at 76 characters.
    static func base64(_ text: String) -> String {
        let canonical = lines(text).map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\r\n")
        let encoded = Data(canonical.utf8).base64EncodedString()
        var wrapped: [Substring] = []
        var start = encoded.startIndex
        while start < encoded.endIndex {
            let end = encoded.index(start, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            wrapped.append(encoded[start..<end])
            start = end
        }
        return wrapped.joined(separator: "\r\n")
    }
}
