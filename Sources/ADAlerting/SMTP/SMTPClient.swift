import Logging
import NIOCore
import NIOPosix

/// What the server said when it took the message.
public struct SMTPDeliveryResult: Sendable, Equatable, CustomStringConvertible {
    /// The reply to the end of the message data, e.g. `250 2.0.0 Ok: queued as 4F2A1` (record it in the history).
    public let reply: SMTPReply
    /// Recipients the server accepted.
    public let acceptedRecipients: [String]
    /// Recipients the server refused; the message went to the others.
    public let rejectedRecipients: [SMTPRecipientRejection]
    /// Whether the conversation was encrypted (STARTTLS or implicit TLS).
    public let encrypted: Bool
    /// The AUTH mechanism used (`PLAIN`, `LOGIN`), or nil without credentials.
    public let authMechanism: String?

    /// The final reply, then any refused recipients.
    public var description: String {
        guard !rejectedRecipients.isEmpty else { return reply.description }
        return "\(reply); rejected: " + rejectedRecipients.map(\.description).joined(separator: ", ")
    }
}

/// Sends email over SMTP: one connection per message, then QUIT.
///
/// The conversation: connect (TLS from the start for implicit TLS), 220 greeting, EHLO (HELO if EHLO is refused
/// with 5xx), STARTTLS and EHLO again (required in `.startTLS` mode), AUTH PLAIN or LOGIN when a username is set,
/// MAIL FROM, RCPT TO per recipient (going on if at least one is accepted), DATA with the dot-stuffed message, QUIT.
/// Every failure is an `SMTPError` with the server's last reply.
public struct SMTPClient: Sendable {
    /// Where and how to connect.
    public let settings: SMTPSettings
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    /// A client for one server. The event loop group defaults to NIO's shared singleton.
    public init(
        settings: SMTPSettings,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "ad.alerting.smtp")
    ) {
        self.settings = settings
        self.eventLoopGroup = eventLoopGroup
        var logger = logger
        logger[metadataKey: "smtp.server"] = "\(settings.host):\(settings.port)"
        self.logger = logger
    }

    /// Delivers `message` to all its recipients, with `settings.from` as the envelope sender.
    /// - Returns: the server's final reply and the recipients it accepted and refused.
    /// - Throws: `SMTPError` with the stage, the last reply and `isTransient`.
    public func send(message: EmailMessage) async throws(SMTPError) -> SMTPDeliveryResult {
        let conversation = SMTPConversation(settings: settings, logger: logger)
        do {
            let result = try await conversation.deliver(message, group: eventLoopGroup)
            logger.debug(
                "smtp message accepted",
                metadata: ["smtp.reply": "\(result.reply)", "smtp.message_id": "\(message.messageID)"])
            return result
        } catch {
            let failure = conversation.classify(error)
            logger.debug("smtp delivery failed", metadata: ["smtp.error": "\(failure)"])
            throw failure
        }
    }
}
