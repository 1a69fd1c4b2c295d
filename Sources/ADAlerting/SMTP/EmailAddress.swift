import Foundation

/// A mailbox: an ASCII `local@domain` address and an optional display name (which may be any Unicode).
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// `local@domain`, as given to MAIL FROM / RCPT TO.
    public let address: String
    /// The human name shown before the address, if any.
    public let displayName: String?

    /// Checks `address` (dot-atom local part, host name or address-literal domain) and the display name.
    public init(_ address: String, displayName: String? = nil) throws(EmailMessageError) {
        try Self.validate(address: address)
        if let displayName { try HeaderText.validate(displayName, field: "display name of \(address)") }
        self.address = address
        self.displayName = displayName.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Parses `user@example.com`, `<user@example.com>` or `Name <user@example.com>` (the name may be quoted).
    public static func parse(_ text: String) throws(EmailMessageError) -> EmailAddress {
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else { return try EmailAddress(trimmed) }
        let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
        var name = String(trimmed[..<open]).trimmingASCIIWhitespace()
        if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") {
            name = String(name.dropFirst().dropLast()).replacingBackslashEscapes()
        }
        return try EmailAddress(address, displayName: name.isEmpty ? nil : name)
    }

    /// `Name <local@domain>` or `local@domain`, unencoded.
    public var description: String {
        guard let displayName else { return address }
        return "\(displayName) <\(address)>"
    }

    /// The mailbox as it appears in a From or To header: the name as an atom phrase, a quoted string or
    /// RFC 2047 encoded-words.
    /// The address goes on a line of its own when it would push the name's last line past 78 characters.
    func headerValue(firstLineUsed: Int) -> String {
        guard let displayName else { return address }
        let phrase = HeaderText.phrase(displayName, firstLineUsed: firstLineUsed)
        let phraseLines = phrase.components(separatedBy: "\r\n")
        let used = phraseLines.count > 1 ? (phraseLines.last?.count ?? 0) : firstLineUsed + phrase.count
        let separator = used + " <>,".count + address.count > HeaderText.preferredLineLength ? "\r\n " : " "
        return "\(phrase)\(separator)<\(address)>"
    }

    private static let localSpecials = Set("!#$%&'*+-/=?^_`{|}~")

    private static func validate(address: String) throws(EmailMessageError) {
        func fail(_ reason: String) -> EmailMessageError { .invalidAddress(address, reason: reason) }
        guard !address.isEmpty else { throw fail("empty") }
        guard address.utf8.count <= 254 else { throw fail("longer than 254 characters") }
        guard address.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            throw fail("only ASCII addresses are supported")
        }
        if address.contains(where: { $0 == "\r" || $0 == "\n" }) { throw .headerInjection(field: "address") }
        guard let at = address.lastIndex(of: "@") else { throw fail("no @") }
        let local = address[..<at], domain = address[address.index(after: at)...]
        guard !local.isEmpty, local.utf8.count <= 64 else {
            throw fail("the part before @ must have 1 to 64 characters")
        }
        guard isDotAtom(local, extra: localSpecials) else {
            throw fail(
                "the part before @ may hold letters, digits, dots (not first, last or doubled) and !#$%&'*+-/=?^_`{|}~")
        }
        guard isDomain(domain) else { throw fail("the part after @ is not a host name or [address literal]") }
    }

    static func isDotAtom(_ text: Substring, extra: Set<Character>) -> Bool {
        guard !text.isEmpty, text.first != ".", text.last != ".", !text.contains("..") else { return false }
        return text.allSatisfy { $0 == "." || ($0.isASCII && ($0.isLetter || $0.isNumber)) || extra.contains($0) }
    }

    /// A host name (letters, digits, hyphens, dots) or an address literal like `[127.0.0.1]` / `[IPv6:::1]`.
    static func isDomain(_ text: Substring) -> Bool {
        if text.hasPrefix("["), text.hasSuffix("]"), text.count > 2 {
            return text.dropFirst().dropLast().allSatisfy { $0.isASCII && ($0.isHexDigit || ".:IPv6".contains($0)) }
        }
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }

    fileprivate func replacingBackslashEscapes() -> String {
        var out = "", escaped = false
        for c in self {
            if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}
