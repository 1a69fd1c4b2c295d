import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import Glibc
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

            // The doors before any browser: no session goes to the login page, the feed wants one, a login from
            // another origin is refused, and pages carry their security headers.
            func exchange(_ request: String) throws -> String {
                let s = try RawHTTPStream(
                    port: api.port,
                    request: request.replacingOccurrences(of: "HOST", with: "127.0.0.1:\(api.port)"))
                defer { s.close() }
                return try s.read(until: nil, deadline: .now + .seconds(120)).lowercased()
            }
            let home = try exchange("GET /console HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n")
            #expect(home.hasPrefix("http/1.1 303") && home.contains("location: /console/login"), "\(home)")
            let feed = try exchange("GET /console/feed HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n")
            #expect(feed.hasPrefix("http/1.1 401"), "\(feed)")
            let body = "token=\(api.token("ad_operator"))"
            let foreign = try exchange(
                "POST /console/login HTTP/1.1\r\nHost: HOST\r\nOrigin: http://evil.example\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Connection: close\r\n\r\n\(body)")
            #expect(foreign.hasPrefix("http/1.1 403") && !foreign.contains("set-cookie"), "\(foreign)")
            let login = try exchange("GET /console/login HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n")
            #expect(login.contains("content-security-policy: default-src 'none'; script-src 'self';"), "\(login)")
            #expect(login.contains("x-frame-options: deny"), "\(login)")

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

            // Every live feed the browser opened ended when it navigated away or closed.
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    let log = api.worker.output
                    return log.occurrences(of: "console feed opened") == log.occurrences(of: "console feed ended")
                }, "\(api.worker.output)")
            #expect(api.worker.output.contains("console feed ended: the client went away"))

            // A feed open when the worker is told to stop ends, and the worker exits cleanly: the stream does not
            // hold the shutdown.
            let anomaly = try #require(
                try await strings(api.url, "SELECT id::text FROM ad.anomalies WHERE status = 'false_positive'").first)
            let since = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-1800))
            let stream = try RawHTTPStream(
                port: api.port,
                request: "GET /console/feed?since=\(since) HTTP/1.1\r\nHost: 127.0.0.1:\(api.port)\r\n"
                    + "Cookie: ad_console=\(api.token("ad_operator"))\r\nAccept: text/event-stream\r\n\r\n")
            defer { stream.close() }
            let head = try stream.read(until: "\r\n\r\n", deadline: .now + .seconds(120))
            #expect(head.hasPrefix("HTTP/1.1 200") && head.contains("text/event-stream"), "\(head)")
            let frames = try stream.read(until: "id=\"anomaly-\(anomaly)\"", deadline: .now + .seconds(120))
            #expect(frames.contains("event: anomaly\ndata: <tr"), "\(frames)")
            api.worker.signal(SIGTERM)
            _ = try stream.read(until: nil, deadline: .now + .seconds(300))  // to the end of the stream
            #expect(await api.worker.waitForExit(timeout: .seconds(300)) == 0, "\(api.worker.output)")
            #expect(api.worker.output.contains("console feed ended: the server is shutting down"))
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

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }
}

/// A raw HTTP/1.1 exchange on a loopback socket, read as it arrives: what a streaming response (server-sent
/// events) needs and URLSession on Linux does not give.
final class RawHTTPStream {
    private let fd: Int32
    private var buffer = ""

    init(port: Int, request: String) throws {
        fd = try rawConnect(port: port)
        // Reads wake every 200 ms, so a deadline is checked without a read blocking past it.
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw SQLFailure(description: "send: \(errno)") }
    }

    /// Everything up to and including `marker` (nil: up to the end of the stream), which is consumed.
    func read(until marker: String?, deadline: ContinuousClock.Instant) throws -> String {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let marker, let range = buffer.range(of: marker) {
                let out = String(buffer[..<range.upperBound])
                buffer = String(buffer[range.upperBound...])
                return out
            }
            guard ContinuousClock.now < deadline else {
                throw SQLFailure(description: "no \(marker ?? "end of stream") by the deadline; read: \(buffer)")
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 {
                buffer += String(decoding: chunk[0..<n], as: UTF8.self)
            } else if n == 0 {
                guard let marker else {
                    defer { buffer = "" }
                    return buffer
                }
                throw SQLFailure(description: "the stream ended before \(marker); read: \(buffer)")
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                throw SQLFailure(description: "recv: \(errno)")
            }
        }
    }

    func close() { _ = Glibc.close(fd) }
}
