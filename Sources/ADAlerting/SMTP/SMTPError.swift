/// The step of the SMTP conversation an error happened in.
public enum SMTPStage: String, Sendable, Equatable {
    /// Loading the TLS configuration (CA file), before connecting.
    case setup
    /// Opening the TCP connection.
    case connect
    /// The TLS handshake (immediately for implicit TLS, after STARTTLS otherwise).
    case tlsHandshake = "TLS handshake"
    /// Waiting for the 220 greeting.
    case greeting
    /// EHLO (or its HELO fallback).
    case ehlo = "EHLO"
    /// The STARTTLS command.
    case startTLS = "STARTTLS"
    /// AUTH PLAIN / AUTH LOGIN.
    case auth = "AUTH"
    /// MAIL FROM.
    case mailFrom = "MAIL FROM"
    /// RCPT TO.
    case rcptTo = "RCPT TO"
    /// The DATA command.
    case data = "DATA"
    /// Sending the message text and waiting for the final reply.
    case messageBody = "message body"
}

/// A recipient the server refused at RCPT TO.
public struct SMTPRecipientRejection: Sendable, Equatable, CustomStringConvertible {
    /// The refused address.
    public let address: String
    /// The server's reply, e.g. `550 5.1.1 User unknown`.
    public let reply: SMTPReply

    /// A rejection of `address`.
    public init(address: String, reply: SMTPReply) {
        self.address = address
        self.reply = reply
    }

    public var description: String { "\(address): \(reply)" }
}

/// Why a message was not delivered. Carries the server's last reply (if one came), the stage, and whether trying
/// again later may help (`isTransient`).
public struct SMTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The settings cannot be used (unreadable CA file, bad TLS configuration). Permanent.
        case invalidConfiguration
        /// The TCP connection could not be opened (refused, unreachable, name not resolved). Transient.
        case connectionFailed
        /// The server closed the connection or it broke mid-conversation. Transient.
        case connectionClosed
        /// No reply (or handshake) within the configured time. Transient. At stage `.messageBody` the server may
        /// have taken the message all the same, so a retry can deliver it twice (with the same Message-ID).
        case timeout
        /// The calling task was cancelled (e.g. the worker is shutting down); the connection was closed. Transient.
        case cancelled
        /// The TLS handshake failed, e.g. the certificate is not trusted or not for this host. Permanent.
        case tlsFailed
        /// TLS mode is STARTTLS but the server does not offer it; nothing was sent. Permanent.
        case startTLSNotOffered
        /// Credentials are configured but the server offers no AUTH mechanism this client speaks. Permanent.
        case authenticationNotOffered
        /// The server refused the credentials. Transient for 4xx, permanent for 5xx.
        case authenticationFailed
        /// The server refused a command. Transient for 4xx, permanent for 5xx.
        case rejected
        /// The server refused every recipient. Transient if any refusal was 4xx.
        case recipientsRejected
        /// The message is larger than the server's announced SIZE limit. Permanent.
        case messageTooLarge
        /// The server's bytes are not SMTP, or it sent data after STARTTLS that could be injected. Permanent.
        case protocolViolation
    }

    /// What went wrong.
    public let kind: Kind
    /// Where in the conversation.
    public let stage: SMTPStage
    /// The server's last reply before the failure, if any: `535 5.7.8 Authentication credentials invalid`.
    public let reply: SMTPReply?
    /// A sentence for people.
    public let message: String
    /// Recipients refused at RCPT TO before the failure.
    public let rejectedRecipients: [SMTPRecipientRejection]

    /// An error; `reply` is the server's last reply.
    public init(
        _ kind: Kind, stage: SMTPStage, reply: SMTPReply? = nil, message: String,
        rejectedRecipients: [SMTPRecipientRejection] = []
    ) {
        self.kind = kind
        self.stage = stage
        self.reply = reply
        self.message = message
        self.rejectedRecipients = rejectedRecipients
    }

    /// The last reply's code, e.g. 535, or nil when the server sent none.
    public var replyCode: Int? { reply?.code }

    /// True when a later attempt may succeed: 4xx replies, connection failures, timeouts.
    public var isTransient: Bool {
        switch kind {
        case .connectionFailed, .connectionClosed, .timeout, .cancelled: true
        case .authenticationFailed, .rejected: reply?.isTransientNegative ?? true
        case .recipientsRejected: rejectedRecipients.contains { $0.reply.isTransientNegative }
        case .invalidConfiguration, .tlsFailed, .startTLSNotOffered, .authenticationNotOffered,
            .messageTooLarge, .protocolViolation:
            false
        }
    }

    /// True when retrying the same message will fail again: 5xx replies, configuration and TLS problems.
    public var isPermanent: Bool { !isTransient }

    /// `SMTP AUTH failed: ... (server: 535 5.7.8 Authentication credentials invalid)`.
    public var description: String {
        var text = "SMTP \(stage.rawValue) failed: \(message)"
        if let reply, !message.contains(reply.description) { text += " (server: \(reply))" }
        if !rejectedRecipients.isEmpty, kind != .recipientsRejected {
            text += "; rejected recipients: " + rejectedRecipients.map(\.description).joined(separator: ", ")
        }
        return text
    }
}
