import Crypto
import Foundation

/// One header the caller adds to a message, such as `X-AD-Alert-Id: 42`.
public struct EmailHeader: Sendable, Hashable {
    /// The field name, printable ASCII without spaces or colons.
    public let name: String
    /// The unstructured value; non-ASCII text is encoded, long text folded.
    public let value: String

    /// A header; checked when the message is built.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// An email, checked when built and rendered as RFC 5322 / MIME text: `multipart/alternative` with a text/plain and
/// a text/html part (or text/plain alone), UTF-8, quoted-printable or base64, every line at most 998 characters.
/// Building has no I/O; a value of this type cannot carry header injection.
public struct EmailMessage: Sendable, Equatable {
    /// Content-Transfer-Encoding of the text parts.
    public enum TransferEncoding: String, Sendable {
        /// Readable for mostly-ASCII text.
        case quotedPrintable = "quoted-printable"
        /// Compact for mostly non-ASCII text.
        case base64
    }

    /// The From header.
    public let from: EmailAddress
    /// The To header and the RCPT TO recipients, in order, without duplicates.
    public let to: [EmailAddress]
    /// The subject, unencoded.
    public let subject: String
    /// The text/plain part.
    public let textBody: String
    /// The text/html part, if any.
    public let htmlBody: String?
    /// The Date header.
    public let date: Date
    /// The Message-ID without angle brackets, e.g. `alert-42@adworker`.
    public let messageID: String
    /// Extra headers, in order, after the standard ones.
    public let headers: [EmailHeader]
    /// How the text parts are encoded.
    public let transferEncoding: TransferEncoding

    private static let reservedHeaders: Set<String> = [
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding", "content-disposition",
    ]

    /// Checks every header value for CR/LF and control characters, every extra header name, and the Message-ID.
    /// - Parameters:
    ///   - messageID: `left@right` (angle brackets optional), stable per alert so a resend is recognisable,
    ///     e.g. `alert-<id>@adworker`.
    ///   - headers: extra headers such as `X-AD-Alert-Id`; the standard ones cannot be overridden.
    public init(
        from: EmailAddress,
        to: [EmailAddress],
        subject: String,
        textBody: String,
        htmlBody: String? = nil,
        date: Date = Date(),
        messageID: String,
        headers: [EmailHeader] = [],
        transferEncoding: TransferEncoding = .quotedPrintable
    ) throws(EmailMessageError) {
        var seen = Set<String>()
        let recipients = to.filter { seen.insert($0.address.lowercased()).inserted }
        guard !recipients.isEmpty else { throw .noRecipients }
        try HeaderText.validate(subject, field: "Subject")
        for header in headers {
            guard !header.name.isEmpty,
                header.name.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: ":") })
            else {
                throw .invalidHeaderName(header.name)
            }
            guard !Self.reservedHeaders.contains(header.name.lowercased()) else { throw .reservedHeader(header.name) }
            try HeaderText.validate(header.value, field: header.name)
        }
        self.from = from
        self.to = recipients
        self.subject = subject
        self.textBody = textBody
        self.htmlBody = htmlBody
        self.date = date
        self.messageID = try Self.validMessageID(messageID)
        self.headers = headers
        self.transferEncoding = transferEncoding
    }

    /// The Message-ID for an id of the caller's: `<alert-<id>@adworker>` without the brackets.
    /// Characters other than letters, digits and `-._` in `id` become `-`.
    public static func messageID(alertID id: String, domain: String = "adworker") -> String {
        let safe = String(id.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) ? $0 : "-" })
        return "alert-\(safe.isEmpty ? "-" : safe)@\(domain)"
    }

    /// The whole message: headers, blank line, body; CRLF line endings; lines at most 998 characters.
    public func rendered() -> String {
        var lines: [String] = []
        func header(_ name: String, _ value: String) { lines.append("\(name): \(value)") }
        header("From", from.headerValue(firstLineUsed: 6))
        header("To", addressList(to, firstLineUsed: 4))
        header("Subject", HeaderText.unstructured(subject, firstLineUsed: 9))
        header("Date", HeaderText.date(date))
        header("Message-ID", "<\(messageID)>")
        header("MIME-Version", "1.0")
        for extra in headers {
            header(extra.name, HeaderText.unstructured(extra.value, firstLineUsed: extra.name.count + 2))
        }
        if let htmlBody {
            let boundary = self.boundary
            header("Content-Type", "multipart/alternative;\r\n boundary=\"\(boundary)\"")
            lines.append("")
            lines.append("This is a multi-part message in MIME format.")
            for (type, body) in [("text/plain", textBody), ("text/html", htmlBody)] {
                lines.append("--\(boundary)")
                lines.append("Content-Type: \(type); charset=UTF-8")
                lines.append("Content-Transfer-Encoding: \(transferEncoding.rawValue)")
                lines.append("")
                lines.append(encode(body))
            }
            lines.append("--\(boundary)--")
        } else {
            header("Content-Type", "text/plain; charset=UTF-8")
            header("Content-Transfer-Encoding", transferEncoding.rawValue)
            lines.append("")
            lines.append(encode(textBody))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// The MIME boundary: derived from the content, so rendering is deterministic. It starts with "=_", which
    /// neither quoted-printable (where "=" is always followed by hex digits or a line break) nor base64 can produce,
    /// so it never occurs inside a part.
    var boundary: String {
        var hasher = SHA256()
        for part in [messageID, subject, textBody, htmlBody ?? ""] {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        let hex = hasher.finalize().prefix(12).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        return "=_ad_alt_\(hex)"
    }

    private func encode(_ body: String) -> String {
        switch transferEncoding {
        case .quotedPrintable: BodyEncoding.quotedPrintable(body)
        case .base64: BodyEncoding.base64(body)
        }
    }

    /// Mailboxes separated by commas, a line break before any that would pass 78 characters.
    private func addressList(_ addresses: [EmailAddress], firstLineUsed: Int) -> String {
        var out = "", length = firstLineUsed
        for (i, address) in addresses.enumerated() {
            let comma = i < addresses.count - 1 ? "," : ""
            var item = address.headerValue(firstLineUsed: i == 0 ? length : length + 1) + comma
            if i > 0 {
                let firstLine = item.components(separatedBy: "\r\n").first ?? item
                if length + 1 + firstLine.count > HeaderText.preferredLineLength {
                    item = address.headerValue(firstLineUsed: 1) + comma
                    out += "\r\n "
                    length = 1
                } else {
                    out += " "
                    length += 1
                }
            }
            out += item
            let itemLines = item.components(separatedBy: "\r\n")
            length = itemLines.count > 1 ? (itemLines.last?.count ?? 0) : length + item.count
        }
        return out
    }

    private static func validMessageID(_ raw: String) throws(EmailMessageError) -> String {
        try HeaderText.validate(raw, field: "Message-ID")
        var id = raw.trimmingASCIIWhitespace()
        if id.hasPrefix("<"), id.hasSuffix(">"), id.count >= 2 { id = String(id.dropFirst().dropLast()) }
        let atext = Set("!#$%&'*+-/=?^_`{|}~")
        guard id.utf8.count <= 900, let at = id.lastIndex(of: "@"),
            EmailAddress.isDotAtom(id[..<at], extra: atext),
            EmailAddress.isDotAtom(id[id.index(after: at)...], extra: atext)
                || EmailAddress.isDomain(id[id.index(after: at)...])
        else { throw .invalidMessageID(raw) }
        return id
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
