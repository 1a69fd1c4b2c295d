import Testing

@testable import ADAlerting

/// The client against `ScriptedSMTPServer`: protocol corners a real server does not show on demand.
@Suite("SMTP client against a scripted server")
struct SMTPScriptedTests {
    private func client(
        _ server: ScriptedSMTPServer, tls: SMTPSettings.TLSMode = .none, timeout: Duration = .seconds(5)
    ) throws -> SMTPClient {
        SMTPClient(
            settings: SMTPSettings(
                host: "127.0.0.1", port: server.port, tls: tls, from: try EmailAddress("ad@example.com"),
                heloName: "adworker.test",
                connectTimeout: .seconds(5), commandTimeout: timeout))
    }

    private func message() throws -> EmailMessage {
        try EmailMessage(
            from: EmailAddress("ad@example.com"), to: [EmailAddress("a@example.com"), EmailAddress("b@example.com")],
            subject: "s", textBody: "t", messageID: "m@adworker")
    }

    /// A well-behaved server; `override` answers some commands differently.
    private static func standard(
        _ override: @escaping @Sendable (String) -> ScriptedSMTPServer.Action? = { _ in nil }
    )
        -> @Sendable (String) -> ScriptedSMTPServer.Action
    {
        { line in
            if let action = override(line) { return action }
            switch line.prefix(4).uppercased() {
            case "EHLO": return .reply("250-fake.test\n250-SIZE 100000\n250 8BITMIME")
            case "HELO": return .reply("250 fake.test")
            case "MAIL", "RCPT": return .reply("250 2.1.0 Ok")
            case "DATA": return .reply("354 End data with <CR><LF>.<CR><LF>")
            case "QUIT": return .reply("221 2.0.0 Bye")
            case ".": return .reply("250 2.0.0 Ok: queued as ABC")
            default: return .reply("502 5.5.2 Error: command not recognized")
            }
        }
    }

    private func withServer(
        greeting: ScriptedSMTPServer.Action = .reply("220 fake.test ESMTP"),
        _ respond: @escaping @Sendable (String) -> ScriptedSMTPServer.Action,
        _ body: (ScriptedSMTPServer) async throws -> Void
    ) async throws {
        let server = try await ScriptedSMTPServer(greeting: greeting, respond: respond)
        do { try await body(server) } catch { await server.stop(); throw error }
        await server.stop()
    }

    @Test func heloFallbackWhenEHLOIsRefused() async throws {
        let respond = Self.standard { $0.hasPrefix("EHLO") ? .reply("502 5.5.1 EHLO not supported") : nil }
        try await withServer(respond) { server in
            let m = try EmailMessage(
                from: EmailAddress("ad@example.com"), to: [EmailAddress("a@example.com")], subject: "s",
                textBody: "x", messageID: "m@adworker", transferEncoding: .base64)
            let result = try await client(server).send(message: m)
            #expect(result.description == "250 2.0.0 Ok: queued as ABC")
            let transcript = server.transcript
            #expect(
                transcript.prefix(4) == [
                    "EHLO adworker.test", "HELO adworker.test", "MAIL FROM:<ad@example.com>", "RCPT TO:<a@example.com>",
                ])
            #expect(transcript.contains("DATA"))
            #expect(transcript.last == "QUIT")
            #expect(transcript.contains("D:From: ad@example.com"))
        }
    }

    @Test func sizeIsAnnouncedAndEnforced() async throws {
        try await withServer(Self.standard()) { server in
            _ = try await client(server).send(message: try message())
            #expect(server.transcript.contains { $0.hasPrefix("MAIL FROM:<ad@example.com> SIZE=") })
        }
        let small = Self.standard { $0.hasPrefix("EHLO") ? .reply("250-fake.test\n250 SIZE 100") : nil }
        try await withServer(small) { server in
            let error = await #expect(throws: SMTPError.self) { try await client(server).send(message: try message()) }
            #expect(error?.kind == .messageTooLarge)
            #expect(error?.isPermanent == true)
            #expect(!server.transcript.contains { $0.hasPrefix("MAIL") })
        }
    }

    @Test func silentServerTimesOut() async throws {
        try await withServer(greeting: .silence, Self.standard()) { server in
            let error = await #expect(throws: SMTPError.self) {
                try await client(server, timeout: .milliseconds(300)).send(message: try message())
            }
            #expect(error?.kind == .timeout)
            #expect(error?.stage == .greeting)
            #expect(error?.isTransient == true)
        }
    }

    @Test func cancellationEndsTheWait() async throws {
        try await withServer(greeting: .silence, Self.standard()) { server in
            let client = try client(server, timeout: .seconds(30))
            let m = try message()
            let task = Task { try await client.send(message: m) }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let error = await #expect(throws: SMTPError.self) { try await task.value }
            // Cancelled, not timed out (30 s): the cancellation ended the wait, however busy the machine.
            #expect(error?.kind == .cancelled)
            #expect(error?.isTransient == true)
        }
    }

    @Test func busyGreetingIsTransient() async throws {
        try await withServer(greeting: .reply("421 4.3.2 Service not available, try later"), Self.standard()) {
            server in
            let error = await #expect(throws: SMTPError.self) { try await client(server).send(message: try message()) }
            #expect(error?.kind == .rejected)
            #expect(error?.stage == .greeting)
            #expect(error?.replyCode == 421)
            #expect(error?.isTransient == true)
        }
    }

    @Test func garbageIsAProtocolViolation() async throws {
        try await withServer(greeting: .reply("SSH-2.0-OpenSSH_9.2"), Self.standard()) { server in
            let error = await #expect(throws: SMTPError.self) { try await client(server).send(message: try message()) }
            #expect(error?.kind == .protocolViolation)
            #expect(error?.isPermanent == true)
        }
    }

    @Test func dataInjectedAfterStartTLSIsRefused() async throws {
        let respond = Self.standard { line in
            if line.hasPrefix("EHLO") { return .reply("250-fake.test\n250 STARTTLS") }
            if line == "STARTTLS" { return .reply("220 2.0.0 Ready to start TLS\n250 injected") }
            return nil
        }
        try await withServer(respond) { server in
            let error = await #expect(throws: SMTPError.self) {
                try await client(server, tls: .startTLS).send(message: try message())
            }
            #expect(error?.kind == .protocolViolation)
            #expect(error?.description.contains("injection") == true)
        }
    }

    @Test func transientRejectionOfTheMessage() async throws {
        try await withServer(Self.standard { $0 == "." ? .reply("452 4.3.1 Insufficient system storage") : nil }) {
            server in
            let error = await #expect(throws: SMTPError.self) { try await client(server).send(message: try message()) }
            #expect(error?.kind == .rejected)
            #expect(error?.stage == .messageBody)
            #expect(error?.replyCode == 452)
            #expect(error?.isTransient == true)
            #expect(server.transcript.last == "QUIT")
        }
    }

    @Test func droppedConnectionIsTransient() async throws {
        try await withServer(Self.standard { $0.hasPrefix("MAIL") ? .close : nil }) { server in
            let error = await #expect(throws: SMTPError.self) { try await client(server).send(message: try message()) }
            #expect(error?.kind == .connectionClosed)
            #expect(error?.stage == .mailFrom)
            #expect(error?.isTransient == true)
            #expect(error?.reply?.code == 250)  // the last reply the server did send (to EHLO)
        }
    }
}
