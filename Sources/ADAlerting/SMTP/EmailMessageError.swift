/// Why an `EmailAddress` or `EmailMessage` could not be built. Nothing with these problems is ever sent.
public enum EmailMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a usable `local@domain` address (only ASCII addresses are supported; no SMTPUTF8).
    case invalidAddress(String, reason: String)
    /// A header value (or display name) contains CR or LF: it would let text become new headers or the body.
    case headerInjection(field: String)
    /// A header value contains another control character.
    case invalidHeaderValue(field: String, reason: String)
    /// A header name that is empty or has characters outside printable ASCII, or a colon or space.
    case invalidHeaderName(String)
    /// An extra header that the builder writes itself (From, To, Subject, Date, Message-ID, MIME-Version, Content-*).
    case reservedHeader(String)
    /// A Message-ID that is not `left@right` made of atext and dots.
    case invalidMessageID(String)
    /// A message without recipients.
    case noRecipients

    public var description: String {
        switch self {
        case .invalidAddress(let address, let reason):
            "invalid email address \(String(reflecting: address)): \(reason)"
        case .headerInjection(let field):
            "header \(field) contains a line break (CR or LF); header values must be a single line"
        case .invalidHeaderValue(let field, let reason):
            "header \(field): \(reason)"
        case .invalidHeaderName(let name):
            "invalid header name \(String(reflecting: name)): use printable ASCII without spaces or colons"
        case .reservedHeader(let name):
            "header \(name) is written by the message builder and cannot be set as an extra header"
        case .invalidMessageID(let id):
            "invalid Message-ID \(String(reflecting: id)): expected left@right, e.g. alert-42@adworker"
        case .noRecipients:
            "the message has no recipients"
        }
    }
}
