import Foundation
import Glibc
import NIOCore
import NIOPosix
import Testing

@testable import ADAlerting

/// The client against a real SMTP server: scripts/receivers/smtp_receiver.py (aiosmtpd) on loopback, with a
/// throwaway CA. Fails, never skips, when /usr/bin/python3 cannot import aiosmtpd.
@Suite("SMTP client against aiosmtpd")
struct SMTPIntegrationTests {
    static let user = "alerts", password = "correct horse"

    private func settings(
        _ receiver: SMTPReceiverProcess, host: String = "127.0.0.1", tls: SMTPSettings.TLSMode,
        username: String? = user, password: String? = password, trustCA: Bool = true
    ) throws -> SMTPSettings {
        SMTPSettings(
            host: host, port: receiver.port, tls: tls, username: username, password: password,
            from: try EmailAddress("adworker@example.com"), heloName: "adworker.test",
            connectTimeout: .seconds(5), commandTimeout: .seconds(10),
            trustRoots: trustCA ? .pemFile(receiver.caFile) : .system)
    }

    private func message(
        to: [String] = ["oncall@example.com"], subject: String = "Anomalie: Temperatur über Grenzwert 🚨"
    )
        throws -> EmailMessage
    {
        try EmailMessage(
            from: EmailAddress("adworker@example.com", displayName: "AD Worker"),
            to: to.map { try EmailAddress($0) },
            subject: subject,
            textBody: "Score 0.97 for cpu.load at 10:00.\n.leading dot line\n",
            htmlBody: "<p>Score <b>0.97</b> für cpu.load</p>",
            messageID: EmailMessage.messageID(alertID: "1234"),
            headers: [EmailHeader("X-AD-Alert-Id", "1234")])
    }

    /// Runs `body` with a receiver and stops it afterwards, also when `body` throws.
    private func withReceiver<T>(
        tls: String, _ arguments: [String] = [], wrongName: Bool = false,
        _ body: (SMTPReceiverProcess) async throws -> T
    ) async throws -> T {
        let receiver = try await SMTPReceiverProcess(tls: tls, extraArguments: arguments, wrongName: wrongName)
        do {
            let result = try await body(receiver)
            await receiver.stop()
            return result
        } catch {
            let errors = receiver.errors
            await receiver.stop()
            if !errors.isEmpty { Issue.record("receiver stderr: \(errors.suffix(2000))") }
            throw error
        }
    }

    private static let auth = ["--auth-user", user, "--auth-password", password]

    @Test func startTLSWithAuthDelivers() async throws {
        try await withReceiver(tls: "starttls", Self.auth) { receiver in
            let client = SMTPClient(settings: try settings(receiver, host: "localhost", tls: .startTLS))
            let result = try await client.send(message: try message(to: ["oncall@example.com", "ops@example.org"]))
            #expect(result.reply.code == 250)
            #expect(result.description.hasPrefix("250 2.0.0 Ok: queued"))
            #expect(result.encrypted)
            #expect(result.authMechanism == "PLAIN")
            #expect(result.acceptedRecipients == ["oncall@example.com", "ops@example.org"])
            let received = try #require(try receiver.messages().first)
            #expect(try receiver.messages().count == 1)
            #expect(received.tls)
            #expect(received.auth_user == Self.user)
            #expect(received.mail_from == "adworker@example.com")
            #expect(received.rcpt_tos == ["oncall@example.com", "ops@example.org"])
            // Python's email package, independently of this repository's MIME code:
            #expect(received.parsed.defects.isEmpty)
            #expect(received.parsed.subject == "Anomalie: Temperatur über Grenzwert 🚨")
            #expect(received.parsed.from == "AD Worker <adworker@example.com>")
            #expect(received.parsed.to == "oncall@example.com, ops@example.org")
            #expect(received.parsed.message_id == "<alert-1234@adworker>")
            #expect(received.parsed.content_type == "multipart/alternative")
            #expect(received.parsed.parts.map(\.content_type) == ["text/plain", "text/html"])
            #expect(received.parsed.parts.allSatisfy { $0.charset == "utf-8" })
            // Text parts travel in canonical CRLF form.
            #expect(
                received.parsed.parts.first?.content.replacingOccurrences(of: "\r\n", with: "\n")
                    == "Score 0.97 for cpu.load at 10:00.\n.leading dot line\n")
            #expect(received.parsed.parts.last?.content.contains("<p>Score <b>0.97</b> für cpu.load</p>") == true)
            #expect(received.data.contains("X-AD-Alert-Id: 1234\r\n"))
        }
    }

    @Test func implicitTLSWithAuthDelivers() async throws {
        try await withReceiver(tls: "implicit", Self.auth) { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .implicitTLS))
            let result = try await client.send(message: try message())
            #expect(result.reply.isPositiveCompletion)
            let received = try #require(try receiver.messages().first)
            #expect(received.tls)
            #expect(received.auth_user == Self.user)
            #expect(received.parsed.parts.count == 2)
        }
    }

    @Test func authLoginWhenPlainIsNotOffered() async throws {
        try await withReceiver(tls: "starttls", Self.auth + ["--auth-mechanisms", "LOGIN"]) { receiver in
            let result = try await SMTPClient(settings: try settings(receiver, tls: .startTLS)).send(
                message: try message())
            #expect(result.authMechanism == "LOGIN")
            #expect(try receiver.messages().first?.auth_user == Self.user)
        }
    }

    @Test func plainTextWithoutAuth() async throws {
        try await withReceiver(tls: "none") { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .none, username: nil, password: nil))
            let result = try await client.send(message: try message())
            #expect(!result.encrypted)
            #expect(result.authMechanism == nil)
            let received = try #require(try receiver.messages().first)
            #expect(!received.tls)
            #expect(received.auth_user == nil)
        }
    }

    @Test func wrongPasswordIsPermanent535() async throws {
        try await withReceiver(tls: "starttls", Self.auth) { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .startTLS, password: "wrong"))
            let error = await #expect(throws: SMTPError.self) { try await client.send(message: try message()) }
            #expect(error?.kind == .authenticationFailed)
            #expect(error?.stage == .auth)
            #expect(error?.replyCode == 535)
            #expect(error?.isPermanent == true)
            #expect(error?.description.contains("535 5.7.8 Authentication credentials invalid") == true)
            #expect(try receiver.messages().isEmpty)
        }
    }

    @Test func untrustedCertificateFailsVerification() async throws {
        try await withReceiver(tls: "starttls", Self.auth) { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .startTLS, trustCA: false))
            let error = await #expect(throws: SMTPError.self) { try await client.send(message: try message()) }
            #expect(error?.kind == .tlsFailed)
            #expect(error?.stage == .tlsHandshake)
            #expect(error?.isPermanent == true)
            #expect(
                error?.description.uppercased().contains("CERTIFICATE_VERIFY_FAILED") == true,
                "\(String(describing: error))")
            #expect(try receiver.messages().isEmpty)
        }
    }

    @Test func untrustedCertificateWithImplicitTLS() async throws {
        try await withReceiver(tls: "implicit") { receiver in
            let client = SMTPClient(
                settings: try settings(receiver, tls: .implicitTLS, username: nil, password: nil, trustCA: false))
            let error = await #expect(throws: SMTPError.self) { try await client.send(message: try message()) }
            #expect(error?.kind == .tlsFailed)
            #expect(error?.stage == .tlsHandshake)
        }
    }

    @Test func certificateForAnotherNameFailsVerification() async throws {
        try await withReceiver(tls: "implicit", wrongName: true) { receiver in
            for host in ["127.0.0.1", "localhost"] {
                var settings = try settings(receiver, host: host, tls: .implicitTLS, username: nil, password: nil)
                let error = await #expect(throws: SMTPError.self, "\(host)") {
                    try await SMTPClient(settings: settings).send(message: try message())
                }
                #expect(error?.kind == .tlsFailed)
                #expect(
                    error?.description.contains("elsewhere.test") == true
                        || error?.description.contains("alidate") == true,
                    "\(String(describing: error))")
                // The chain is fine; only the name is wrong:
                settings.certificateVerification = .noHostnameVerification
                _ = try await SMTPClient(settings: settings).send(message: try message())
            }
            #expect(try receiver.messages().count == 2)
        }
    }

    @Test func rejectedRecipientIsReported() async throws {
        try await withReceiver(tls: "starttls", Self.auth + ["--reject-rcpt", "gone@example.com"]) { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .startTLS))
            let result = try await client.send(message: try message(to: ["gone@example.com", "oncall@example.com"]))
            #expect(result.acceptedRecipients == ["oncall@example.com"])
            #expect(result.rejectedRecipients.map(\.address) == ["gone@example.com"])
            #expect(result.rejectedRecipients.first?.reply.code == 550)
            #expect(result.description.contains("gone@example.com: 550 5.1.1"))
            #expect(try receiver.messages().first?.rcpt_tos == ["oncall@example.com"])
        }
    }

    @Test func allRecipientsRejectedFails() async throws {
        try await withReceiver(tls: "starttls", Self.auth + ["--reject-rcpt", "gone@example.com"]) { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .startTLS))
            let error = await #expect(throws: SMTPError.self) {
                try await client.send(message: try message(to: ["gone@example.com"]))
            }
            #expect(error?.kind == .recipientsRejected)
            #expect(error?.replyCode == 550)
            #expect(error?.rejectedRecipients.map(\.address) == ["gone@example.com"])
            #expect(error?.isPermanent == true)
            #expect(try receiver.messages().isEmpty)
        }
    }

    @Test func startTLSRequiredButNotOffered() async throws {
        try await withReceiver(tls: "none", ["--auth-user", Self.user, "--auth-password", Self.password]) { receiver in
            let client = SMTPClient(settings: try settings(receiver, tls: .startTLS))
            let error = await #expect(throws: SMTPError.self) { try await client.send(message: try message()) }
            #expect(error?.kind == .startTLSNotOffered)
            #expect(error?.isPermanent == true)
            #expect(error?.description.contains("does not offer STARTTLS") == true)
            #expect(try receiver.messages().isEmpty)
        }
    }

    @Test func authConfiguredButNotOffered() async throws {
        try await withReceiver(tls: "starttls", ["--auth-mechanisms", ""]) { receiver in  // "AUTH" with no mechanism
            let client = SMTPClient(settings: try settings(receiver, tls: .startTLS))
            let error = await #expect(throws: SMTPError.self) { try await client.send(message: try message()) }
            #expect(error?.kind == .authenticationNotOffered)
            #expect(error?.stage == .auth)
            #expect(error?.isPermanent == true)
            #expect(try receiver.messages().isEmpty)
        }
    }

    @Test func closedPortIsTransient() async throws {
        let (port, socket) = try Self.closedPort()
        defer { close(socket) }
        let settings = SMTPSettings(
            host: "127.0.0.1", port: port, tls: .startTLS, from: try EmailAddress("a@example.com"),
            connectTimeout: .seconds(5))
        let error = await #expect(throws: SMTPError.self) {
            try await SMTPClient(settings: settings).send(message: try message())
        }
        #expect(error?.kind == .connectionFailed)
        #expect(error?.stage == .connect)
        #expect(error?.reply == nil)
        #expect(error?.isTransient == true)
    }

    @Test func unreadableCAFileIsAConfigurationError() async throws {
        var settings = SMTPSettings(host: "127.0.0.1", port: 1, from: try EmailAddress("a@example.com"))
        settings.trustRoots = .pemFile("/nonexistent/ca.pem")
        let error = await #expect(throws: SMTPError.self) {
            try await SMTPClient(settings: settings).send(message: try message())
        }
        #expect(error?.kind == .invalidConfiguration)
        #expect(error?.description.contains("/nonexistent/ca.pem") == true)
        #expect(error?.isPermanent == true)

        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-ca-\(UUID().uuidString).pem")
        try "hello".write(to: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: garbage) }
        settings.trustRoots = .pemFile(garbage.path)
        let notPEM = await #expect(throws: SMTPError.self) {
            try await SMTPClient(settings: settings).send(message: try message())
        }
        #expect(notPEM?.kind == .invalidConfiguration)
        #expect(notPEM?.description.contains("is not PEM") == true)
    }

    /// A port nothing listens on: bind an ephemeral port, then close it.
    /// A port that refuses connections for as long as the returned socket is open: bound, never listening. (A port
    /// bound and closed again could be taken by another test's server before the client connects.)
    static func closedPort() throws -> (port: Int, socket: Int32) {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EBADF) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        return (Int(UInt16(bigEndian: address.sin_port)), fd)
    }
}
