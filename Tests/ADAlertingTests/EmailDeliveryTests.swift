import ADCore
import ADDBTestSupport
import Foundation
import Testing

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct EmailDeliveryThroughTheWorker {
    func setUp(_ url: DatabaseURL, smtp: SMTPReceiverProcess, password: String) async throws {
        try await script(
            url,
            """
            INSERT INTO ad.channels (name, type, target, config) VALUES
                ('mail', 'email', 'ops@example.com, oncall@example.com',
                 '{"smtp_host": "localhost", "smtp_port": \(smtp.port), "tls": "starttls", "username": "adworker",
                   "from": "adworker@example.com", "ca_file": "\(smtp.caFile)", "timeout_seconds": 10}');
            SELECT ad.set_channel_secret('mail', '\(password)');
            INSERT INTO ad.alert_rules (name) VALUES ('r');
            SELECT ad.add_rule_channel('r', 'mail');
            """)
    }

    @Test func anAlertArrivesByMailOverSTARTTLSWithAuth() async throws {
        let smtp = try await SMTPReceiverProcess(
            tls: "starttls", extraArguments: ["--auth-user", "adworker", "--auth-password", "pa55word"])
        try await withAlertDatabase { url in
            try await setUp(url, smtp: smtp, password: "pa55word")
            var env = fastDelivery
            env["AD_DELIVERY_MAX_ATTEMPTS"] = "3"
            let worker = try WorkerProcess(url, name: "w", environment: env)
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await strings(url, "SELECT status FROM ad.alerts") == ["sent"]
                }, "\(worker.output)\n\(smtp.errors)")
            let mail = try smtp.messages()
            #expect(mail.count == 1)
            #expect(mail.first?.parsed.subject == "test m1")
            #expect(Set(mail.first?.rcpt_tos ?? []) == ["ops@example.com", "oncall@example.com"])
            #expect(mail.first?.tls == true)
            #expect(mail.first?.auth_user == "adworker")
            #expect(Set(mail.first?.parsed.parts.map(\.content_type) ?? []) == ["text/plain", "text/html"])
            #expect(
                try await strings(url, "SELECT smtp_reply FROM ad.delivery_attempts").first?.hasPrefix("250") == true)
            await worker.stop()
        }
        await smtp.stop()
    }

    @Test func anSMTPServerRejectingAuthFailsClearlyAndLosesNoAlert() async throws {
        let smtp = try await SMTPReceiverProcess(
            tls: "starttls", extraArguments: ["--auth-user", "adworker", "--auth-password", "pa55word"])
        try await withAlertDatabase { url in
            try await setUp(url, smtp: smtp, password: "wrong")
            var env = fastDelivery
            env["AD_DELIVERY_MAX_ATTEMPTS"] = "2"
            let worker = try WorkerProcess(url, name: "w", environment: env)
            try await openAlerts(url, count: 1)
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await strings(url, "SELECT status FROM ad.alerts") == ["failed"]
                }, "\(worker.output)")
            let replies = try await strings(
                url, "SELECT smtp_reply || ' | ' || error FROM ad.delivery_attempts ORDER BY attempt")
            #expect(replies.count == 2)
            #expect(replies.allSatisfy { $0.hasPrefix("535") }, "\(replies)")
            #expect(try smtp.messages().isEmpty)
            // The alert is still there for operators, and the password appears nowhere in the history.
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.delivery_attempts WHERE error LIKE '%wrong%' OR smtp_reply LIKE '%wrong%'")
                    == 0)
            #expect(!worker.output.contains("wrong"))
            await worker.stop()
        }
        await smtp.stop()
    }
}
