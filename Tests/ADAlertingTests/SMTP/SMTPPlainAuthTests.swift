import ADAlerting
import Foundation
import Testing

/// The reproduction: an email channel with `tls: "none"` and an attacker's host got the SMTP login in
/// cleartext. The client refuses before it connects, whatever built its settings.
@Suite struct SMTPAuthNeedsTLS {
    @Test func authWithoutTLSIsRefusedBeforeAnyConnection() async throws {
        // A port nothing listens on: were the client to connect, the error would be a connection failure.
        let settings = SMTPSettings(
            host: "127.0.0.1", port: 9, tls: .none, username: "adworker", password: "pa55word",
            from: try EmailAddress("a@example.com"), connectTimeout: .seconds(5))
        let message = try EmailMessage(
            from: try EmailAddress("a@example.com"), to: [try EmailAddress("b@example.com")], subject: "s",
            textBody: "t", messageID: EmailMessage.messageID(alertID: "x"))
        let error = await #expect(throws: SMTPError.self) {
            try await SMTPClient(settings: settings).send(message: message)
        }
        #expect(error?.kind == .invalidConfiguration)
        #expect(error?.stage == .setup)
        #expect(error?.description.contains("SMTP AUTH without TLS") == true, "\(String(describing: error))")
    }
}
