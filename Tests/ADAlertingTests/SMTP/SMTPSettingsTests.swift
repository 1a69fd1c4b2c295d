import ADCore
import Testing

@testable import ADAlerting

@Suite("SMTP settings from channel config")
struct SMTPSettingsTests {
    private let base: [String: JSONValue] = [
        "smtp_host": .string("smtp.example.com"), "from": .string("AD <ad@example.com>"),
    ]

    private func parse(
        _ changes: [String: JSONValue], password: String? = nil
    ) throws(SMTPSettingsError) -> SMTPSettings {
        try SMTPSettings.parse(base.merging(changes) { $1 }, password: password)
    }

    private func field(_ changes: [String: JSONValue], password: String? = nil) -> String? {
        do { _ = try parse(changes, password: password); return nil } catch { return error.field }
    }

    @Test func defaults() throws {
        let s = try parse([:])
        #expect(s.host == "smtp.example.com")
        #expect(s.tls == .startTLS)
        #expect(s.port == 587)
        #expect(s.from == (try EmailAddress("ad@example.com", displayName: "AD")))
        #expect(s.username == nil && s.password == nil)
        #expect(s.trustRoots == .system)
        #expect(s.certificateVerification == .full)
        #expect(SMTPSettings.isValidHeloName(s.heloName))
    }

    @Test func portFollowsTLSMode() throws {
        #expect(try parse(["tls": .string("implicit")]).port == 465)
        #expect(try parse(["tls": .string("none")]).port == 25)
        #expect(try parse(["tls": .string("STARTTLS")]).tls == .startTLS)
        #expect(try parse(["tls": .string("implicit"), "smtp_port": .number(2465)]).port == 2465)
        #expect(try parse(["smtp_port": .string("2525")]).port == 2525)
    }

    @Test func everyKey() throws {
        let s = try parse(
            [
                "username": .string("alerts"), "helo": .string("worker.example.com"), "timeout_seconds": .number(2.5),
                "ca_file": .string("/etc/ad/ca.pem"), "unrelated": .bool(true),
            ], password: "s3cret")
        #expect(s.username == "alerts")
        #expect(s.password == "s3cret")
        #expect(s.heloName == "worker.example.com")
        #expect(s.commandTimeout == .milliseconds(2500))
        #expect(s.connectTimeout == .milliseconds(2500))
        #expect(s.trustRoots == .pemFile("/etc/ad/ca.pem"))
        #expect(!s.description.contains("s3cret"))
        #expect(s.description.contains("password=<redacted>"))
    }

    @Test func errorsNameTheField() {
        #expect(field(["smtp_host": .null]) == "smtp_host")
        #expect(field(["smtp_host": .string("  ")]) == "smtp_host")
        #expect(field(["smtp_host": .string("smtp://x")]) == "smtp_host")
        #expect(field(["smtp_host": .number(1)]) == "smtp_host")
        #expect(field(["smtp_port": .number(0)]) == "smtp_port")
        #expect(field(["smtp_port": .number(70000)]) == "smtp_port")
        #expect(field(["smtp_port": .number(25.5)]) == "smtp_port")
        #expect(field(["smtp_port": .string("abc")]) == "smtp_port")
        #expect(field(["tls": .string("ssl")]) == "tls")
        #expect(field(["tls": .bool(true)]) == "tls")
        #expect(field(["from": .null]) == "from")
        #expect(field(["from": .string("not an address")]) == "from")
        #expect(field(["from": .string("a@b.c\r\nBcc: x@y.z")]) == "from")
        #expect(field(["username": .string("u")]) == "password")
        #expect(field(["username": .string("u")], password: "") == "password")
        #expect(field(["helo": .string("bad name")]) == "helo")
        #expect(field(["timeout_seconds": .number(0)]) == "timeout_seconds")
        #expect(field(["timeout_seconds": .string("5")]) == "timeout_seconds")
        #expect(field(["ca_file": .number(3)]) == "ca_file")
        // SMTP AUTH over plain text would hand the password to anyone on the path (or to a host an operator chose).
        #expect(field(["tls": .string("none"), "username": .string("u")], password: "p") == "tls")
        #expect(field(["tls": .string("none")]) == nil, "no username, no password: plain text is allowed")
    }

    @Test func messagesAreClear() {
        #expect(throws: SMTPSettingsError(field: "smtp_port", message: "must be an integer from 1 to 65535, got 0")) {
            try parse(["smtp_port": .number(0)])
        }
        #expect(
            throws: SMTPSettingsError(
                field: "tls", message: "must be \"starttls\", \"implicit\" or \"none\", got \"ssl\"")
        ) {
            try parse(["tls": .string("ssl")])
        }
        let error = SMTPSettingsError(field: "smtp_host", message: "is required")
        #expect(error.description == "email channel config: smtp_host: is required")
    }

    @Test func wholeJSONObject() throws {
        let config = JSONValue.object([
            ("smtp_host", .string("127.0.0.1")), ("from", .string("a@b.c")), ("tls", .string("none")),
        ])
        let s = try SMTPSettings.parse(config, password: nil)
        #expect(s.port == 25)
        #expect(throws: SMTPSettingsError.self) { try SMTPSettings.parse(JSONValue.array([]), password: nil) }
    }
}
