import Foundation
import Logging
import NIOCore
import NIOSSL

/// One delivery's conversation: its commands in order, the stage reached and the last reply, for errors.
/// Lives within one `SMTPClient.send` call.
final class SMTPConversation {
    private let settings: SMTPSettings
    private let logger: Logger
    private let timeout: TimeAmount
    private var stage = SMTPStage.setup
    private var lastReply: SMTPReply?
    private var rejected: [SMTPRecipientRejection] = []
    private var connection: SMTPConnection?

    init(settings: SMTPSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.timeout = TimeAmount(settings.commandTimeout)
    }

    func deliver(_ message: EmailMessage, group: any EventLoopGroup) async throws -> SMTPDeliveryResult {
        guard SMTPSettings.isValidHeloName(settings.heloName) else {
            throw SMTPError(
                .invalidConfiguration, stage: .setup,
                message: "HELO name \(String(reflecting: settings.heloName)) is not a domain or [address literal]")
        }
        guard (1...65535).contains(settings.port) else {
            throw SMTPError(.invalidConfiguration, stage: .setup, message: "port \(settings.port) is not in 1...65535")
        }
        guard settings.tls != .none || settings.username == nil else {
            throw SMTPError(
                .invalidConfiguration, stage: .setup,
                message:
                    "SMTP AUTH without TLS would send the password in clear: set tls to starttls or implicit (nothing was sent)"
            )
        }
        let tls = settings.tls == .none ? nil : try SMTPTLS.context(for: settings)
        try Task.checkCancellation()
        stage = .connect
        let connection = try await SMTPConnection.connect(
            host: settings.connectAddress ?? settings.host, port: settings.port,
            implicitTLS: settings.tls == .implicitTLS ? tls : nil,
            serverHostname: SMTPTLS.serverHostname(settings.host), connectTimeout: TimeAmount(settings.connectTimeout),
            group: group)
        self.connection = connection
        do {
            let result = try await converse(message, tls: tls)
            await quit()
            return result
        } catch {
            let failure = classify(error)
            switch failure.kind {
            case .connectionClosed, .timeout, .tlsFailed, .protocolViolation, .connectionFailed, .cancelled: break
            default: await quit()  // the server is still talking: say goodbye
            }
            await connection.close()
            throw failure
        }
    }

    private func converse(_ message: EmailMessage, tls: NIOSSLContext?) async throws -> SMTPDeliveryResult {
        // With implicit TLS the greeting comes after the handshake: until it arrives, failures are the handshake's.
        stage = settings.tls == .implicitTLS ? .tlsHandshake : .greeting
        let greeting = try await command(nil)
        stage = .greeting
        guard greeting.code == 220 else { throw refused(greeting, "the server did not accept the session") }

        var capabilities = try await hello(allowHELO: true)
        if settings.tls == .startTLS, let tls {
            guard capabilities.startTLS else {
                throw SMTPError(
                    .startTLSNotOffered, stage: .startTLS, reply: lastReply,
                    message:
                        "tls is starttls but \(settings.host):\(settings.port) does not offer STARTTLS; nothing was sent in plain text"
                )
            }
            stage = .startTLS
            let ready = try await command("STARTTLS")
            guard ready.code == 220 else { throw refused(ready, "the server refused STARTTLS") }
            stage = .tlsHandshake
            try await requireConnection().startTLS(tls, serverHostname: SMTPTLS.serverHostname(settings.host))
            // RFC 3207: forget everything learnt before TLS. The EHLO waits behind the handshake, whose failures
            // arrive as the EHLO's.
            capabilities = try await hello(allowHELO: false, waitingStage: .tlsHandshake)
        }

        var mechanism: String?
        if let username = settings.username { mechanism = try await authenticate(username, capabilities) }

        let data = SMTPDataEncoder.encode(message.rendered())
        stage = .mailFrom
        if let limit = capabilities.maximumMessageSize, data.count > limit {
            throw SMTPError(
                .messageTooLarge, stage: .mailFrom, reply: lastReply,
                message: "the message is \(data.count) bytes; the server accepts at most \(limit)")
        }
        var mail = "MAIL FROM:<\(settings.from.address)>"
        if capabilities.supports("SIZE") { mail += " SIZE=\(data.count)" }
        let sender = try await command(mail)
        guard sender.isPositiveCompletion else {
            throw refused(sender, "the server refused the sender <\(settings.from.address)>")
        }

        stage = .rcptTo
        var accepted: [String] = []
        for recipient in message.to {
            let reply = try await command("RCPT TO:<\(recipient.address)>")
            if reply.isPositiveCompletion {
                accepted.append(recipient.address)
            } else {
                rejected.append(SMTPRecipientRejection(address: recipient.address, reply: reply))
                logger.info(
                    "smtp recipient refused",
                    metadata: ["smtp.recipient": "\(recipient.address)", "smtp.reply": "\(reply)"])
            }
        }
        guard !accepted.isEmpty else {
            throw SMTPError(
                .recipientsRejected, stage: .rcptTo, reply: lastReply,
                message: "the server refused every recipient: " + rejected.map(\.description).joined(separator: ", "),
                rejectedRecipients: rejected)
        }

        stage = .data
        let go = try await command("DATA")
        guard go.code == 354 else { throw refused(go, "the server refused DATA") }
        stage = .messageBody
        let final = try await command(bytes: data, logAs: "<message, \(data.count) bytes>")
        guard final.isPositiveCompletion else { throw refused(final, "the server refused the message") }
        return SMTPDeliveryResult(
            reply: final, acceptedRecipients: accepted, rejectedRecipients: rejected,
            encrypted: settings.tls != .none, authMechanism: mechanism)
    }

    /// EHLO; HELO if EHLO gets a 5xx and `allowHELO` (not after STARTTLS, where only EHLO makes sense).
    private func hello(allowHELO: Bool, waitingStage: SMTPStage = .ehlo) async throws -> SMTPCapabilities {
        stage = waitingStage
        let ehlo = try await command("EHLO \(settings.heloName)")
        stage = .ehlo
        if ehlo.isPositiveCompletion { return SMTPCapabilities(ehloReply: ehlo) }
        guard allowHELO, ehlo.isPermanentNegative else { throw refused(ehlo, "the server refused EHLO") }
        let helo = try await command("HELO \(settings.heloName)")
        guard helo.isPositiveCompletion else { throw refused(helo, "the server refused EHLO and HELO") }
        return SMTPCapabilities()
    }

    /// AUTH PLAIN if offered, else AUTH LOGIN; returns the mechanism used.
    private func authenticate(_ username: String, _ capabilities: SMTPCapabilities) async throws -> String {
        stage = .auth
        let offered = capabilities.authMechanisms
        let password = settings.password ?? ""
        if settings.tls == .none {
            logger.warning(
                "smtp AUTH over an unencrypted connection (tls is none): the password is readable on the network")
        }
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        func failed(_ reply: SMTPReply) -> SMTPError {
            SMTPError(
                .authenticationFailed, stage: .auth, reply: reply,
                message: "the server refused the credentials of \(String(reflecting: username)): \(reply)")
        }
        if offered.contains("PLAIN") {
            let token = base64("\0\(username)\0\(password)")
            var reply = try await command("AUTH PLAIN \(token)", logAs: "AUTH PLAIN <credentials>")
            if reply.code == 334 { reply = try await command(token, logAs: "<credentials>") }
            guard reply.code == 235 else { throw failed(reply) }
            return "PLAIN"
        }
        if offered.contains("LOGIN") {
            var reply = try await command("AUTH LOGIN")
            guard reply.code == 334 else { throw failed(reply) }
            reply = try await command(base64(username), logAs: "<username>")
            guard reply.code == 334 else { throw failed(reply) }
            reply = try await command(base64(password), logAs: "<password>")
            guard reply.code == 235 else { throw failed(reply) }
            return "LOGIN"
        }
        let message =
            offered.isEmpty
            ? "a username is configured but the server does not offer AUTH"
                + (settings.tls == .none ? " (servers usually offer it only over TLS, and tls is none)" : "")
            : "the server offers AUTH \(offered.joined(separator: " ")); this client speaks PLAIN and LOGIN"
        throw SMTPError(.authenticationNotOffered, stage: .auth, reply: lastReply, message: message)
    }

    private func command(_ line: String?, logAs: String? = nil) async throws -> SMTPReply {
        try await command(bytes: line.map { Array(($0 + "\r\n").utf8) }, logAs: logAs ?? line)
    }

    private func command(bytes: [UInt8]?, logAs: String?) async throws -> SMTPReply {
        if let logAs { logger.trace("smtp >> \(logAs)") }
        let reply = try await requireConnection().exchange(bytes: bytes, timeout: timeout)
        lastReply = reply
        logger.trace("smtp << \(reply)")
        return reply
    }

    private func requireConnection() throws -> SMTPConnection {
        guard let connection else { throw SMTPTransportError.connectionClosed }
        return connection
    }

    private func refused(_ reply: SMTPReply, _ message: String) -> SMTPError {
        SMTPError(.rejected, stage: stage, reply: reply, message: "\(message): \(reply)", rejectedRecipients: rejected)
    }

    /// QUIT, waiting briefly for the 221; the outcome no longer matters.
    private func quit() async {
        guard let connection else { return }
        _ = try? await connection.exchange("QUIT", timeout: min(timeout, .seconds(5)))
        await connection.close()
    }

    /// Any error met during the conversation as an `SMTPError` with the current stage and last reply.
    func classify(_ error: any Error) -> SMTPError {
        let server = "\(settings.host):\(settings.port)"
        func make(_ kind: SMTPError.Kind, _ message: String, stage: SMTPStage? = nil) -> SMTPError {
            SMTPError(
                kind, stage: stage ?? self.stage, reply: lastReply, message: message, rejectedRecipients: rejected)
        }
        func tlsFailure(_ error: any Error) -> SMTPError {
            var hint = ""
            if "\(error)".contains("CERTIFICATE_VERIFY_FAILED") {
                hint =
                    settings.trustRoots == .system
                    ? "; the server's certificate does not chain to a CA in the system trust store (set ca_file for a private CA)"
                    : "; the server's certificate does not chain to a CA in the configured ca_file"
            }
            return make(.tlsFailed, "TLS with \(server) failed: \(error)\(hint)", stage: .tlsHandshake)
        }
        switch error {
        case let error as SMTPError:
            return error
        case is CancellationError:
            return make(.cancelled, "the delivery was cancelled")
        case _ where Task.isCancelled:
            return make(.cancelled, "the delivery was cancelled (\(error))")
        case let error as SMTPTransportError:
            switch error {
            case .timeout:
                return make(
                    .timeout,
                    stage == .tlsHandshake
                        ? "no TLS handshake and reply from \(server) within \(settings.commandTimeout)"
                        : "no reply from \(server) within \(settings.commandTimeout)")
            case .connectionClosed:
                return make(.connectionClosed, "\(server) closed the connection")
            case .dataBeforeTLSHandshake:
                return make(
                    .protocolViolation,
                    "\(server) sent data after its 220 reply to STARTTLS, before the TLS handshake (possible response injection)"
                )
            case .malformed(let failure):
                return make(.protocolViolation, "\(server) does not speak SMTP: \(failure)")
            }
        case let error as NIOSSLError:
            if case .uncleanShutdown = error {
                return make(.connectionClosed, "\(server) closed the connection during TLS")
            }
            return tlsFailure(error)
        case is NIOSSLExtraError, is BoringSSLError:
            return tlsFailure(error)
        default:
            if let error = error as? ChannelError, case .connectTimeout = error {
                return make(.timeout, "could not connect to \(server) within \(settings.connectTimeout)")
            }
            return stage == .connect
                ? make(.connectionFailed, "cannot connect to \(server): \(error)")
                : make(.connectionClosed, "the connection to \(server) failed: \(error)")
        }
    }
}
