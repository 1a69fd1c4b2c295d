import ADCore
import Foundation

/// Debian's Prometheus server (package prometheus), started on a free loopback port with a throwaway data directory
/// and a scrape config the test writes, for tests that read a worker's metrics back through Prometheus's HTTP API.
public final class PrometheusProcess: @unchecked Sendable {
    public static let binary = "/usr/bin/prometheus"

    private let lock = NSLock()
    private var process: Process?
    private var directory: URL?
    private var _port: Int?

    public init() {}
    deinit { stop() }

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    public var baseURL: URL {
        guard let port = lock.withLock({ _port }) else {
            preconditionFailure("PrometheusProcess.baseURL before start()")
        }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// Starts Prometheus scraping `targets` (host:port) every `interval` as job "adworker", and waits until
    /// `GET /-/ready` answers 200. The deadline is for a start that must happen, not a speed (both cores may be busy).
    public func start(targets: [String], interval: String = "1s", timeout: Duration = .seconds(180)) async throws {
        guard Self.isInstalled else {
            throw ReceiverError("\(Self.binary) is missing: install the Debian package prometheus (scripts/test does)")
        }
        stop()
        var lastError = ""
        for _ in 0..<3 {  // the free port could be taken before Prometheus binds it
            let port = try freeLoopbackPort()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ad-prometheus-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let config = """
                global:
                  scrape_interval: \(interval)
                  evaluation_interval: \(interval)
                scrape_configs:
                  - job_name: adworker
                    scrape_interval: \(interval)
                    scrape_timeout: \(interval)
                    static_configs:
                      - targets: [\(targets.map { "\"\($0)\"" }.joined(separator: ", "))]
                """
            try config.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
            let log = dir.appendingPathComponent("output.log")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = [
                "--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ]
            lock.withLock {
                directory = dir; _port = port
            }
            try runLogged(p, to: log)
            lock.withLock { process = p }
            guard
                let failed = try await awaitReady(
                    p, name: "Prometheus", port: port, log: log, timeout: timeout, every: .milliseconds(100),
                    ready: {
                        (try? await TestHTTP.send("GET", baseURL.appendingPathComponent("-/ready"), timeout: 2))?
                            .status == 200
                    })
            else { return }
            lastError = failed.why
            stop()
            if !failed.retry { break }
        }
        throw ReceiverError(lastError)
    }

    /// `GET /api/v1/query?query=...`: the instant vector's samples as (labels, value).
    public func query(_ promql: String) async throws -> [(labels: [String: String], value: Double)] {
        var c = URLComponents(url: baseURL.appendingPathComponent("api/v1/query"), resolvingAgainstBaseURL: false)!
        c.queryItems = [URLQueryItem(name: "query", value: promql)]
        let r = try await TestHTTP.send("GET", c.url!)
        guard r.status == 200, case .object = try r.json() else {
            throw ReceiverError("query \(promql) answered \(r.status): \(r.text)")
        }
        let doc = try r.json()
        guard doc["status"] == .string("success"), doc["data"]?["resultType"] == .string("vector"),
            case .array(let result)? = doc["data"]?["result"]
        else { throw ReceiverError("query \(promql): unexpected answer \(r.text)") }
        return result.compactMap { item in
            guard case .object(let metric)? = item["metric"], case .array(let v)? = item["value"], v.count == 2,
                case .string(let text) = v[1], let value = Double(text)
            else { return nil }
            var labels: [String: String] = [:]
            for (k, v) in metric { if case .string(let s) = v { labels[k] = s } }
            return (labels, value)
        }
    }

    /// What Prometheus printed.
    public var output: String {
        guard let dir = lock.withLock({ directory }) else { return "" }
        return (try? String(contentsOf: dir.appendingPathComponent("output.log"), encoding: .utf8)) ?? ""
    }

    /// Ends Prometheus (SIGTERM, then SIGKILL) and removes its data directory. Safe to call twice.
    public func stop() {
        let (p, dir) = lock.withLock { () -> (Process?, URL?) in
            defer { process = nil; directory = nil; _port = nil }
            return (process, directory)
        }
        if let p { terminate(p, grace: 10) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }
}
