import ADCore
import ADTestSupport
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

// Real receivers for the alert channels' tests: scripts/receivers/http_receiver.py (generic webhook, Slack,
// PagerDuty, with outage simulation) and Debian's Prometheus Alertmanager (scripts/receivers/alertmanager.sh).
// Both run as child processes on loopback; stop() (or deinit) always ends them.

/// Why a receiver could not start or answer.
public struct ReceiverError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The repository's `scripts/receivers` folder (AD_RECEIVERS_DIR overrides).
public var receiverScripts: URL {
    if let dir = ProcessInfo.processInfo.environment["AD_RECEIVERS_DIR"] { return URL(fileURLWithPath: dir) }
    let repo = Repository.root()
    return repo.appendingPathComponent("scripts/receivers")
}

// MARK: - HTTP receiver

/// One request the HTTP receiver recorded, with its verdict.
public struct ReceivedRequest: Sendable {
    public enum Verdict: String, Sendable, Decodable {
        case ok
        case invalid
        case badSignature = "bad-signature"
        case forcedFailure = "forced-failure"
    }

    /// When it arrived (ISO-8601, UTC).
    public let time: String
    public let method: String
    /// The path without the query, e.g. "/webhook/ops".
    public let path: String
    /// Header names lowercased; use `header(_:)` for a case-insensitive lookup.
    public let headers: [String: String]
    /// The raw body as text.
    public let body: String
    /// The body parsed as JSON, or `.null` when it was not JSON.
    public let json: JSONValue
    /// The status the receiver answered.
    public let status: Int
    public let verdict: Verdict
    /// Why the request was refused (empty when valid).
    public let reasons: [String]

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

extension ReceivedRequest: Decodable {
    private enum Keys: String, CodingKey { case time, method, path, headers, body, json, status, verdict, reasons }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        time = try c.decode(String.self, forKey: .time)
        method = try c.decode(String.self, forKey: .method)
        path = try c.decode(String.self, forKey: .path)
        let raw = try c.decode([String: String].self, forKey: .headers)
        headers = Dictionary(raw.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        body = try c.decode(String.self, forKey: .body)
        json = try c.decodeIfPresent(JSONValue.self, forKey: .json) ?? .null
        status = try c.decode(Int.self, forKey: .status)
        verdict = try c.decode(Verdict.self, forKey: .verdict)
        reasons = try c.decode([String].self, forKey: .reasons)
    }
}

/// scripts/receivers/http_receiver.py as a child process on an ephemeral loopback port.
///
///     let receiver = HTTPReceiver()
///     try receiver.start(secrets: ["ops": "s3cret"])
///     defer { receiver.stop() }
///     // point a channel at receiver.url("/webhook/ops"), deliver, then:
///     let got = try await receiver.records()
public final class HTTPReceiver: @unchecked Sendable {
    public static let python = "/usr/bin/python3"
    public static var script: URL { receiverScripts.appendingPathComponent("http_receiver.py") }

    private let lock = NSLock()
    private var process: Process?
    private var directory: URL?
    private var _port: Int?

    public init() {}

    deinit { stop() }

    /// The port it listens on; nil before `start`.
    public var port: Int? { lock.withLock { _port } }

    /// `http://127.0.0.1:PORT`. Only valid after `start`.
    public var baseURL: URL {
        guard let port else { preconditionFailure("HTTPReceiver.baseURL before start()") }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// `baseURL` + `path` (which starts with "/"), e.g. `url("/slack/ops")`.
    public func url(_ path: String) -> URL { URL(string: baseURL.absoluteString + path)! }

    /// Launches the receiver and waits for its `listening on <port>` line.
    /// `secrets` maps webhook endpoint names (`/webhook/<name>`) to HMAC secrets.
    public func start(secrets: [String: String] = [:], timeout: Duration = .seconds(10)) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw ReceiverError(
                "\(Self.python) is missing: install the Debian package python3 (scripts/test installs it)")
        }
        guard FileManager.default.fileExists(atPath: Self.script.path) else {
            throw ReceiverError("the receiver script \(Self.script.path) is missing")
        }
        stop()
        let launched = try LaunchedReceiver.launch(Self.script, folderPrefix: "ad-receiver", timeout: timeout) { dir in
            ["--port", "0", "--out", dir.appendingPathComponent("records.jsonl").path]
                + secrets.sorted { $0.key < $1.key }.flatMap { ["--secret", "\($0.key)=\($0.value)"] }
        }
        lock.withLock {
            directory = launched.directory
            process = launched.process
            _port = launched.port
        }
    }

    /// Every request recorded so far, in the order they were recorded (read from the `--out` file).
    public func records() async throws -> [ReceivedRequest] {
        guard let dir = lock.withLock({ directory }) else {
            throw ReceiverError("HTTPReceiver.records() before start()")
        }
        let data = try Data(contentsOf: dir.appendingPathComponent("records.jsonl"))
        let decoder = JSONDecoder()
        // Only complete lines: the receiver may be writing the last one.
        return try data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
            .filter { !$0.isEmpty }
            .map { try decoder.decode(ReceivedRequest.self, from: Data($0)) }
    }

    /// The records whose path starts with `prefix`.
    public func records(under prefix: String) async throws -> [ReceivedRequest] {
        try await records().filter { $0.path.hasPrefix(prefix) }
    }

    /// Waits until at least `count` requests (under `prefix`) were recorded; returns them, or throws on timeout.
    public func waitForRecords(
        _ count: Int, under prefix: String = "/", timeout: Duration = .seconds(15)
    ) async throws
        -> [ReceivedRequest]
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            let got = try await records(under: prefix)
            if got.count >= count { return got }
            if ContinuousClock.now > deadline {
                throw ReceiverError(
                    "expected \(count) request(s) under \(prefix) within \(timeout), got \(got.count): "
                        + got.map { "\($0.path) \($0.status) \($0.verdict.rawValue)" }.joined(separator: "; "))
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// The next `count` requests (control requests aside) are answered with `status`.
    public func fail(status: Int, count: Int) async throws {
        try await control(
            "/_control/fail", .object([("status", .number(Double(status))), ("count", .number(Double(count)))]))
    }

    /// Every request for the next `seconds` is answered with `status`.
    public func fail(status: Int, seconds: Double) async throws {
        try await control(
            "/_control/fail", .object([("status", .number(Double(status))), ("seconds", .number(seconds))]))
    }

    /// The next `count` requests wait `seconds` before being answered (for client timeouts).
    public func hang(seconds: Double, count: Int) async throws {
        try await control(
            "/_control/fail", .object([("hang_seconds", .number(seconds)), ("count", .number(Double(count)))]))
    }

    /// Clears forced failures and hangs (records stay).
    public func reset() async throws {
        try await control("/_control/reset", .object([]))
    }

    private func control(_ path: String, _ body: JSONValue) async throws {
        let r = try await TestHTTP.send("POST", url(path), json: body)
        guard r.status == 200 else { throw ReceiverError("\(path) answered \(r.status): \(r.text)") }
    }

    /// What the receiver wrote to stderr (a Python traceback, when something broke).
    public var stderr: String {
        guard let dir = lock.withLock({ directory }) else { return "" }
        return (try? String(contentsOf: dir.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
    }

    /// Ends the receiver (SIGTERM, then SIGKILL) and removes its files. Safe to call twice.
    public func stop() {
        let (p, dir) = lock.withLock { () -> (Process?, URL?) in
            defer { process = nil; directory = nil; _port = nil }
            return (process, directory)
        }
        if let p { terminate(p) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }
}

/// A receiver script (python3, standard library only) as a child process, started in a temporary folder of its own
/// (which holds its stdout and stderr), ready once it prints `listening on <port>`. HTTPReceiver and HostileReceiver
/// start theirs this way.
struct LaunchedReceiver {
    let process: Process
    let directory: URL
    let port: Int

    /// Starts `script` with the arguments `arguments(folder)` gives; on failure (the script exits, or prints no port
    /// within `timeout`) stops it, removes its folder and throws what it printed.
    static func launch(
        _ script: URL, folderPrefix: String, timeout: Duration, arguments: (URL) -> [String]
    ) throws -> LaunchedReceiver {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(folderPrefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let stdout = dir.appendingPathComponent("stdout"), stderr = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HTTPReceiver.python)
        p.arguments = [script.path] + arguments(dir)
        p.standardOutput = try FileHandle(forWritingTo: stdout)
        p.standardError = try FileHandle(forWritingTo: stderr)
        p.standardInput = FileHandle.nullDevice
        try runWithStopSignalsUnblocked(p)
        let deadline = ContinuousClock.now + timeout
        while true {
            let out = (try? String(contentsOf: stdout, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().first,
                line.hasPrefix("listening on "), let port = Int(line.dropFirst("listening on ".count))
            {
                return LaunchedReceiver(process: p, directory: dir, port: port)
            }
            if !p.isRunning || ContinuousClock.now > deadline {
                let why = p.isRunning ? "within \(timeout)" : "(it exited with status \(p.terminationStatus))"
                let err = (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""
                terminate(p)
                try? FileManager.default.removeItem(at: dir)
                throw ReceiverError(
                    "\(script.lastPathComponent) did not print 'listening on <port>' \(why); stdout: "
                        + "\(out.debugDescription); stderr: \(err.isEmpty ? "(empty)" : err)")
            }
            usleep(10_000)
        }
    }
}

/// Runs `p` with SIGTERM, SIGINT and SIGHUP unblocked. Process spawns the child from the calling thread, and a child
/// inherits that thread's signal mask: launched from a Swift-concurrency (libdispatch) worker thread, which blocks
/// nearly every signal, the child would ignore SIGTERM (Go programs such as Alertmanager keep it blocked for life).
/// The process as a whole already takes these signals on its main thread, so unblocking them here for a moment
/// changes nothing for the test process.
func runWithStopSignalsUnblocked(_ p: Process) throws {
    var stopSignals = sigset_t(), previous = sigset_t()
    sigemptyset(&stopSignals)
    for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, s) }
    pthread_sigmask(SIG_UNBLOCK, &stopSignals, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    try p.run()
}

/// Starts a server process with its standard output and error in a new file `log` and no standard input (as
/// `runWithStopSignalsUnblocked`).
func runLogged(_ p: Process, to log: URL) throws {
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    p.standardOutput = handle
    p.standardError = handle
    p.standardInput = FileHandle.nullDevice
    try runWithStopSignalsUnblocked(p)
}

/// SIGTERM, up to `grace` seconds, then SIGKILL; waits for the exit so no zombie or listener is left behind.
func terminate(_ p: Process, grace: TimeInterval = 5) {
    guard p.isRunning else { return }
    kill(p.processIdentifier, SIGTERM)
    let deadline = Date().addingTimeInterval(grace)
    while p.isRunning, Date() < deadline { usleep(10_000) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }
}

/// Waits while a server started on `port` runs, up to `timeout`, polling `ready` every `every`: nil once it is
/// ready; otherwise why not (with the end of its output, `log`) and whether starting it on another port may help
/// (it exited because the port, free when chosen, was taken meanwhile: `inUse` in its output).
func awaitReady(
    _ p: Process, name: String, port: Int, log: URL, timeout: Duration, every: Duration,
    inUse: String = "address already in use", ready: () async -> Bool
) async throws -> (why: String, retry: Bool)? {
    let deadline = ContinuousClock.now + timeout
    while p.isRunning, ContinuousClock.now < deadline {
        if await ready() { return nil }
        try await Task.sleep(for: every)
    }
    let output = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(4000)
    let why =
        p.isRunning
        ? "\(name) on port \(port) was not ready within \(timeout); output: \(output)"
        : "\(name) on port \(port) exited with status \(p.terminationStatus); output: \(output)"
    return (why, !p.isRunning && output.contains(inUse))
}

// MARK: - Alertmanager

/// Debian's Prometheus Alertmanager (0.25), run by scripts/receivers/alertmanager.sh on a free loopback port with a
/// throwaway data directory and a single route to a receiver that notifies nobody.
///
/// Alertmanager 0.25's `GET /api/v2/alerts` never lists an alert whose `endsAt` is past: a resolved alert
/// disappears from it at once (the v2 API has no `resolved` parameter; `active=false` does not bring it back).
/// To see that a resolve arrived, check that the alert is gone and that
/// `metric("alertmanager_alerts_received_total", labels: ["status": "resolved"])` grew.
public final class AlertmanagerProcess: @unchecked Sendable {
    public static let binary = "/usr/bin/prometheus-alertmanager"
    public static var script: URL { receiverScripts.appendingPathComponent("alertmanager.sh") }

    private let lock = NSLock()
    private var process: Process?
    private var directory: URL?
    private var _port: Int?

    public init() {}

    deinit { stop() }

    public var port: Int? { lock.withLock { _port } }

    /// `http://127.0.0.1:PORT`. Only valid after `start`.
    public var baseURL: URL {
        guard let port else { preconditionFailure("AlertmanagerProcess.baseURL before start()") }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// `baseURL` + `path`, e.g. `url("/api/v2/alerts")`.
    public func url(_ path: String) -> URL { URL(string: baseURL.absoluteString + path)! }

    /// Starts Alertmanager and waits until `GET /-/ready` answers 200. The deadline is for a start that must
    /// happen, not a speed: a suite run with both cores saturated (now beside the browser and schemathesis tests)
    /// saw two starts not ready within 30 s, with nothing printed yet.
    public func start(timeout: Duration = .seconds(180)) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw ReceiverError(
                "\(Self.binary) is missing: install the Debian package prometheus-alertmanager "
                    + "(scripts/test installs it)")
        }
        guard FileManager.default.fileExists(atPath: Self.script.path) else {
            throw ReceiverError("the script \(Self.script.path) is missing")
        }
        stop()
        var lastError = ""
        // The port is free when chosen but could be taken before Alertmanager binds it: try a few.
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ad-alertmanager-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let log = dir.appendingPathComponent("output.log")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [Self.script.path, String(port), dir.path]
            lock.withLock {
                directory = dir; _port = port
            }
            try runLogged(p, to: log)
            lock.withLock { process = p }

            guard
                let failed = try await awaitReady(
                    p, name: "Alertmanager", port: port, log: log, timeout: timeout, every: .milliseconds(50),
                    ready: { (try? await TestHTTP.send("GET", url("/-/ready"), timeout: 2))?.status == 200 })
            else { return }
            lastError = failed.why
            stop()
            if !failed.retry { break }
        }
        throw ReceiverError(lastError)
    }

    /// `GET /api/v2/alerts?active=..&resolved=..` (plus `filter=` label matchers such as `alert_id="…"`).
    /// Alertmanager 0.25 ignores `resolved` and never lists alerts whose `endsAt` is past: see the type's comment.
    public func alerts(active: Bool = true, resolved: Bool = false, filter: [String] = []) async throws -> [JSONValue] {
        var c = URLComponents(url: url("/api/v2/alerts"), resolvingAgainstBaseURL: false)!
        c.queryItems =
            [
                URLQueryItem(name: "active", value: String(active)),
                URLQueryItem(name: "resolved", value: String(resolved)),
            ]
            + filter.map { URLQueryItem(name: "filter", value: $0) }
        // URLComponents escapes '"' but leaves '=' in values; Go splits each pair at its first '=', so matchers survive.
        let r = try await TestHTTP.send("GET", c.url!)
        guard r.status == 200 else { throw ReceiverError("GET /api/v2/alerts answered \(r.status): \(r.text)") }
        guard case .array(let items) = try r.json() else {
            throw ReceiverError("GET /api/v2/alerts: not a list: \(r.text)")
        }
        return items
    }

    /// The sum of the samples of metric `name` whose labels include `labels`, from `GET /metrics`; nil when none.
    /// E.g. `metric("alertmanager_alerts_received_total", labels: ["status": "resolved"])`,
    /// `metric("alertmanager_alerts", labels: ["state": "active"])`.
    public func metric(_ name: String, labels: [String: String] = [:]) async throws -> Double? {
        let r = try await TestHTTP.send("GET", url("/metrics"))
        guard r.status == 200 else { throw ReceiverError("GET /metrics answered \(r.status)") }
        var total: Double?
        for line in r.text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            let metricName = series.prefix { $0 != "{" }
            guard metricName == name else { continue }
            if labels.allSatisfy({ series.contains("\($0.key)=\"\($0.value)\"") }) { total = (total ?? 0) + value }
        }
        return total
    }

    /// What Alertmanager (and the script) printed.
    public var output: String {
        guard let dir = lock.withLock({ directory }) else { return "" }
        return (try? String(contentsOf: dir.appendingPathComponent("output.log"), encoding: .utf8)) ?? ""
    }

    /// Ends Alertmanager (SIGTERM, then SIGKILL) and removes its data directory. Safe to call twice.
    public func stop() {
        let (p, dir) = lock.withLock { () -> (Process?, URL?) in
            defer { process = nil; directory = nil; _port = nil }
            return (process, directory)
        }
        if let p { terminate(p) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
public func freeLoopbackPort() throws -> Int {
    #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw ReceiverError("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    guard bound == 0 else { throw ReceiverError("bind(127.0.0.1:0) failed: errno \(errno)") }
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    guard named == 0 else { throw ReceiverError("getsockname failed: errno \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

// MARK: - A small HTTP client for tests

/// An HTTP answer, as the test saw it.
public struct HTTPResponse: Sendable {
    public let status: Int
    /// Header names lowercased; use `header(_:)`.
    public let headers: [String: String]
    public let body: Data

    public var text: String { String(decoding: body, as: UTF8.self) }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    /// The body parsed as JSON.
    public func json() throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: body) }
}

/// Plain HTTP calls from tests (URLSession; FoundationNetworking on Linux).
public enum TestHTTP {
    private static let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.requestCachePolicy = .reloadIgnoringLocalCacheData
        c.urlCache = nil
        c.httpShouldSetCookies = false
        return URLSession(configuration: c)
    }()

    /// Sends one request; any status is returned. Throws on transport failures, and when no answer came within
    /// `timeout` seconds (enforced here: FoundationNetworking on Linux does not honour `URLRequest.timeoutInterval`).
    public static func send(
        _ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil,
        timeout: TimeInterval = 10
    ) async throws -> HTTPResponse {
        var request = URLRequest(
            url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: max(timeout, 1) + 5)
        request.httpMethod = method
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        request.httpBody = body
        let once = Once()
        return try await withCheckedThrowingContinuation { (answer: CheckedContinuation<HTTPResponse, any Error>) in
            let task = session.dataTask(with: request) { data, response, error in
                guard once.claim() else { return }
                if let error { return answer.resume(throwing: error) }
                guard let http = response as? HTTPURLResponse else {
                    return answer.resume(throwing: ReceiverError("\(method) \(url): not an HTTP response"))
                }
                var h: [String: String] = [:]
                for (k, v) in http.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
                answer.resume(returning: HTTPResponse(status: http.statusCode, headers: h, body: data ?? Data()))
            }
            task.resume()
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                guard once.claim() else { return }
                task.cancel()
                answer.resume(throwing: ReceiverError("\(method) \(url): no answer within \(timeout) s"))
            }
        }
    }

    /// Whichever of answer and timeout comes first claims the continuation.
    private final class Once: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = false
        func claim() -> Bool {
            lock.withLock {
                defer { claimed = true }; return !claimed
            }
        }
    }

    /// Sends `json` rendered compactly, with `Content-Type: application/json` (unless `headers` sets one).
    public static func send(
        _ method: String, _ url: URL, json: JSONValue, headers: [String: String] = [:],
        timeout: TimeInterval = 10
    ) async throws -> HTTPResponse {
        var all = ["Content-Type": "application/json"]
        for (k, v) in headers {
            if k.lowercased() == "content-type" { all.removeValue(forKey: "Content-Type") }
            all[k] = v
        }
        return try await send(method, url, headers: all, body: Data(json.render().utf8), timeout: timeout)
    }
}

// MARK: - Hostile HTTP receiver

/// scripts/receivers/hostile_receiver.py as a child process on an ephemeral loopback port: it stalls after its
/// headers (`/stall/...`), before them (`/hang/...`), redirects (`/redirect/...?to=`) and answers with bodies that
/// must not be recorded (`/leak/...`), until the test calls `release()`.
public final class HostileReceiver: @unchecked Sendable {
    public static var script: URL { receiverScripts.appendingPathComponent("hostile_receiver.py") }
    /// The text `/leak/...` puts in its body and reason phrase.
    public static let leakMarker = "LEAKED-BODY-MARKER"

    private let lock = NSLock()
    private var process: Process?
    private var directory: URL?
    private var _port: Int?

    public init() {}
    deinit { stop() }

    public var port: Int {
        guard let p = lock.withLock({ _port }) else { preconditionFailure("HostileReceiver.port before start()") }
        return p
    }

    /// `http://127.0.0.1:PORT` + `path`.
    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    public func start(timeout: Duration = .seconds(10)) throws {
        let launched = try LaunchedReceiver.launch(Self.script, folderPrefix: "ad-hostile", timeout: timeout) { _ in
            ["--port", "0"]
        }
        lock.withLock {
            directory = launched.directory
            process = launched.process
            _port = launched.port
        }
    }

    /// The paths of every request so far, in arrival order (the request may still be stalled).
    public func hits() async throws -> [(path: String, headers: [String: String], body: String)] {
        let r = try await TestHTTP.send("GET", URL(string: url("/_control/hits"))!)
        guard case .array(let items) = try JSONDecoder().decode(JSONValue.self, from: Data(r.text.utf8)) else {
            throw ReceiverError("hits: not a JSON array: \(r.text)")
        }
        return items.map { item in
            var headers: [String: String] = [:]
            if case .object(let pairs)? = item["headers"] {
                for (k, v) in pairs { if case .string(let s) = v { headers[k.lowercased()] = s } }
            }
            var path = "", body = ""
            if case .string(let s)? = item["path"] { path = s }
            if case .string(let s)? = item["body"] { body = s }
            return (path, headers, body)
        }
    }

    /// Releases every stalled or hanging request, now and later.
    public func release() async throws {
        let r = try await TestHTTP.send("POST", URL(string: url("/_control/release"))!, json: .object([]))
        guard r.status == 200 else { throw ReceiverError("release answered \(r.status)") }
    }

    public func stop() {
        let (p, dir) = lock.withLock { () -> (Process?, URL?) in
            defer { process = nil; directory = nil; _port = nil }
            return (process, directory)
        }
        if let p { terminate(p) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }
}
