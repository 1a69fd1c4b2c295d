import Foundation

/// A small, independent reader for the MIME the tests render: splits headers and body, unfolds headers, decodes
/// RFC 2047 "B" encoded-words, quoted-printable and base64, and splits multipart bodies. Only what the tests need.
struct MIMEReader {
    let headers: [(name: String, value: String)]
    let body: String

    init(_ text: String) throws {
        guard let split = text.range(of: "\r\n\r\n") else {
            throw SMTPReceiverError("no blank line between headers and body")
        }
        var headers: [(String, String)] = []
        for line in text[..<split.lowerBound].components(separatedBy: "\r\n") {
            if line.hasPrefix(" ") || line.hasPrefix("\t"), let last = headers.popLast() {
                headers.append((last.0, last.1 + line))  // unfolding removes only the CRLF
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
            } else {
                throw SMTPReceiverError("not a header line: \(line)")
            }
        }
        self.headers = headers
        body = String(text[split.upperBound...])
    }

    /// The unfolded raw value of the first header called `name`.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// A header value with encoded-words decoded (whitespace between adjacent encoded-words dropped).
    func decodedHeader(_ name: String) -> String? { header(name).map(Self.decodeWords) }

    /// The parameter `name` of a header value like `multipart/alternative; boundary="x"`.
    static func parameter(_ name: String, in value: String) -> String? {
        for part in value.split(separator: ";").dropFirst() {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].lowercased() == name else { continue }
            var v = String(pair[1])
            if v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
            return v
        }
        return nil
    }

    /// The parts of a multipart body between `--boundary` lines.
    func parts(boundary: String) throws -> [MIMEReader] {
        let delimiter = "\r\n--\(boundary)"
        let chunks = ("\r\n" + body).components(separatedBy: delimiter)
        guard chunks.count >= 3, chunks.last?.hasPrefix("--") == true else {
            throw SMTPReceiverError("bad multipart body")
        }
        return try chunks.dropFirst().dropLast().map { chunk in
            guard chunk.hasPrefix("\r\n") else { throw SMTPReceiverError("boundary line not followed by CRLF") }
            return try MIMEReader(String(chunk.dropFirst("\r\n".count)))  // one Character
        }
    }

    /// The body decoded per Content-Transfer-Encoding, as UTF-8.
    func decodedBody() throws -> String {
        switch header("Content-Transfer-Encoding")?.lowercased() {
        case "quoted-printable"?: return try Self.decodeQuotedPrintable(body)
        case "base64"?:
            guard let data = Data(base64Encoded: body.replacingOccurrences(of: "\r\n", with: "")) else {
                throw SMTPReceiverError("bad base64")
            }
            return String(decoding: data, as: UTF8.self)
        default: return body
        }
    }

    static func decodeQuotedPrintable(_ text: String) throws -> String {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "=") {
                if i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "\r"), bytes[i + 2] == UInt8(ascii: "\n") {
                    i += 3; continue
                }
                guard i + 2 < bytes.count,
                    let v = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
                else {
                    throw SMTPReceiverError("bad quoted-printable escape at \(i)")
                }
                out.append(v); i += 3
            } else {
                out.append(bytes[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeWords(_ value: String) -> String {
        let pattern = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/
        var out = "", rest = Substring(value), previousWasWord = false
        while let match = rest.firstMatch(of: pattern) {
            let between = rest[..<match.range.lowerBound]
            if !(previousWasWord && between.allSatisfy({ $0 == " " || $0 == "\t" })) { out += between }
            if let data = Data(base64Encoded: String(match.output.3)) { out += String(decoding: data, as: UTF8.self) }
            rest = rest[match.range.upperBound...]
            previousWasWord = true
        }
        return out + rest
    }
}
