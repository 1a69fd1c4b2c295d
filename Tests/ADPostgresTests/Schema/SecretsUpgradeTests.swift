import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import Testing

/// 0.1.0 let operators keep credentials in readable columns (an Authorization header, a Slack webhook URL as the
/// target) and a channel timeout longer than the delivery lease. The update to 0.2.0 moves the credentials into the
/// worker-only secret store and cuts the timeout.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct SecretsMoveOnUpgrade {
    @Test func plaintextCredentialsOf010MoveIntoTheSecretStore() async throws {
        try await withScratchDatabase { url in
            try await Release010.migrate(url)
            for statement in [
                #"INSERT INTO ad.channels (name, type, target, headers, config) VALUES ('hook', 'webhook', 'https://h.example/x', '{"Authorization": "Bearer s3cr3t", "X-Team": "ops", "X-Custom": "Token abc"}', '{"timeout_seconds": 300}')"#,
                "INSERT INTO ad.channels (name, type, target) VALUES ('team', 'slack', 'https://hooks.slack.com/services/T0/B0/XXXX')",
                "SELECT ad.set_channel_secret('hook', 'hmac')",
            ] {
                try await sql(url, statement)
            }
            _ = try await migrate(url)
            #expect(
                try await strings(
                    url, "SELECT headers::text || ' ' || config::text FROM ad.channels WHERE name = 'hook'")
                    == [#"{"X-Team": "ops"} {"timeout_seconds": 60}"#])
            #expect(
                try await strings(
                    url,
                    """
                    SELECT h.name || '=' || h.value FROM ad_internal.channel_secret_headers h
                      JOIN ad.channels c ON c.id = h.channel_id ORDER BY 1
                    """) == ["authorization=Bearer s3cr3t", "x-custom=Token abc"])
            #expect(
                try await strings(
                    url,
                    """
                    SELECT c.name || ' ' || c.target || ' ' || s.secret FROM ad_internal.channel_secrets s
                      JOIN ad.channels c ON c.id = s.channel_id ORDER BY 1
                    """) == [
                        "hook https://h.example/x hmac",
                        "team https://hooks.slack.com https://hooks.slack.com/services/T0/B0/XXXX",
                    ])
            #expect(
                try await strings(
                    url,
                    "SELECT count(*)::text FROM ad.channels WHERE ad.channel_problem(type, target, headers, config) IS NOT NULL"
                )
                    == ["0"], "every migrated channel passes 0.2.0's checks")
        }
    }
}
