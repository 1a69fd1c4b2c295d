import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import Testing

/// The python of the virtualenv with Playwright (scripts/test sets it from scripts/lib/api-venv.sh).
private let playwrightPython = ProcessInfo.processInfo.environment["AD_TEST_API_PYTHON"].flatMap {
    $0.isEmpty ? nil : $0
}

/// The operator console in a real browser: Tests/browser/console_test.py drives Debian's chromium through
/// Playwright against a real worker, which scores the spike the script inserts and raises the alert; this test sets
/// the stage (history, an alert rule, tokens) and afterwards reads what the clicks did, in SQL.
@Suite(
    .tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"),
    .enabled(
        if: playwrightPython != nil,
        "needs Playwright: AD_TEST_API_PYTHON unset (scripts/test sets it from scripts/lib/api-venv.sh)"),
    .serialized)
struct ConsoleBrowserTests {
    @Test func anOperatorWatchesASpikeArriveAcknowledgesItAndMarksItAFalsePositive() async throws {
        let python = try #require(playwrightPython)
        try await withAPIWorker(environment: ["AD_POLL_INTERVAL": "0.2"]) { api in
            // History the worker scores first, and a rule that alerts on anything.
            try await sql(api.url, "INSERT INTO ad.alert_rules (name) VALUES ('everything')")
            try await insertPoints(api.url, from: 0, count: 40, value: "50 + (g % 5)")
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(api.url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "the history was not scored: \(api.worker.output)")
            let shots = ProcessInfo.processInfo.environment["AD_CONSOLE_SCREENSHOTS"]

            let (status, output) = try await runScript(
                python: python,
                environment: [
                    "AD_CONSOLE_URL": "http://127.0.0.1:\(api.port)",
                    "AD_CONSOLE_OPERATOR_TOKEN": api.token("ad_operator"),
                    "AD_CONSOLE_READER_TOKEN": api.token("ad_reader"),
                    "AD_CONSOLE_OPERATOR_PERSON": APITestEnvironment.people["ad_operator"]!,
                    "AD_CONSOLE_SOURCE": "src-a",
                    "DATABASE_URL": api.url.text,
                ].merging(shots.map { ["AD_CONSOLE_SCREENSHOTS": $0] } ?? [:]) { a, _ in a })
            try #require(status == 0, "console_test.py failed (\(status)):\n\(output)\nworker:\n\(api.worker.output)")

            // What the clicks did, read here as well as by the script.
            #expect(
                try await strings(
                    api.url,
                    """
                    SELECT an.status || ' ' || al.status || ' ' || u.name
                      FROM ad.alerts al JOIN ad.anomalies an ON an.id = al.anomaly_id
                      JOIN ad.users u ON u.id = al.acknowledged_by
                    """) == ["false_positive acknowledged Olga Operator"])
            // The audit trail has both changes, attributed to her (the alert was pending, sent or failed before:
            // which depends on delivery, not on the console).
            let changes = try await strings(
                api.url,
                """
                SELECT l.entity || ' ' || (l.old_value ->> 'status') || ' -> ' || (l.new_value ->> 'status')
                  FROM ad.audit_log l JOIN ad.users u ON u.id = l.user_id
                 WHERE l.action = 'status_change' AND u.name = 'Olga Operator'
                 ORDER BY l.id
                """)
            #expect(changes.contains("anomaly detected -> false_positive"), "\(changes)")
            #expect(changes.contains { $0.hasPrefix("alert ") && $0.hasSuffix(" -> acknowledged") }, "\(changes)")
            #expect(
                try await integer(
                    api.url,
                    """
                    SELECT count(*) FROM ad.scoring_adjustments a JOIN ad.users u ON u.id = a.undone_by
                     WHERE u.name = 'Olga Operator'
                    """) == 1, "the undo in the console is attributed")
            // The reader's attempt changed nothing, and nothing was attributed to the reader.
            #expect(
                try await integer(
                    api.url,
                    "SELECT count(*) FROM ad.audit_log l JOIN ad.users u ON u.id = l.user_id WHERE u.name = 'Rita Reader'"
                ) == 0)
        }
    }

    /// Runs the script; its exit status and everything it printed.
    private func runScript(python: String, environment: [String: String]) async throws -> (Int32, String) {
        let script = Repository.root().appendingPathComponent("Tests/browser/console_test.py").path
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("console-test-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        // The script has its own deadlines for everything it waits for; this only stops a hung browser.
        let deadline = ContinuousClock.now + .seconds(900)
        while p.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        try handle.close()
        return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
