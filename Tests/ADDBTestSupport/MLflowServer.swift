import ADTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// MLflow's tracking server from PyPI (`mlflow server`), run by scripts/receivers/mlflow.sh on a free loopback port
/// with a throwaway SQLite backend store and artifacts folder, for the export tests.
///
/// The executable: `AD_TEST_MLFLOW` (scripts/test installs MLflow with scripts/lib/mlflow-venv.sh and sets it), else
/// the repository's `.venv-mlflow/bin/mlflow` when that exists; neither: `executable` is nil and the tests that need
/// a server are skipped, saying so.
public final class MLflowServer: @unchecked Sendable {
    public static var executable: String? {
        if let path = ProcessInfo.processInfo.environment["AD_TEST_MLFLOW"], !path.isEmpty { return path }
        let venv = Repository.root().appendingPathComponent(".venv-mlflow/bin/mlflow").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }
    public static var available: Bool { executable != nil }
    public static let skipReason =
        "needs MLflow: AD_TEST_MLFLOW unset and no .venv-mlflow (scripts/test installs it with scripts/lib/mlflow-venv.sh)"
    public static var script: URL { receiverScripts.appendingPathComponent("mlflow.sh") }

    private let lock = NSLock()
    private var process: Process?
    private var directory: URL?
    private var _port: Int?

    public init() {}

    deinit { stop() }

    public var port: Int? { lock.withLock { _port } }

    /// `http://127.0.0.1:PORT`. Only valid after `start`.
    public var baseURL: URL {
        guard let port else { preconditionFailure("MLflowServer.baseURL before start()") }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// `baseURL` + `path`, e.g. `url("/api/2.0/mlflow/runs/get?run_id=…")`.
    public func url(_ path: String) -> URL { URL(string: baseURL.absoluteString + path)! }

    /// The folder the server's artifacts go to.
    public var artifactsDirectory: URL? { lock.withLock { directory?.appendingPathComponent("artifacts") } }

    /// Starts the server and waits until `GET /health` answers 200 (a cold start takes several seconds). With
    /// `adminPassword`, MLflow's basic-auth app guards it: every request needs user "admin" and that password.
    public func start(adminPassword: String? = nil, timeout: Duration = .seconds(180)) async throws {
        guard let mlflow = Self.executable, FileManager.default.isExecutableFile(atPath: mlflow) else {
            throw ReceiverError("MLflow is missing: \(Self.skipReason)")
        }
        stop()
        var lastError = ""
        // The port is free when chosen but could be taken before the server binds it: try a few.
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ad-mlflow-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let log = dir.appendingPathComponent("output.log")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments =
                [Self.script.path, mlflow, String(port), dir.path] + (adminPassword == nil ? [] : ["basic-auth"])
            if let adminPassword {
                var env = ProcessInfo.processInfo.environment
                env["MLFLOW_AUTH_ADMIN_PASSWORD"] = adminPassword
                p.environment = env
            }
            lock.withLock {
                directory = dir; _port = port
            }
            try runLogged(p, to: log)
            lock.withLock { process = p }

            guard
                let failed = try await awaitReady(
                    p, name: "mlflow server", port: port, log: log, timeout: timeout, every: .milliseconds(200),
                    inUse: "already in use",
                    ready: { (try? await TestHTTP.send("GET", url("/health"), timeout: 5))?.status == 200 })
            else { return }
            lastError = failed.why
            stop()
            if !failed.retry { break }
        }
        throw ReceiverError(lastError)
    }

    /// `GET /api/2.0/mlflow/<path>?<query>` (or POST with a JSON body), answered 200, as a JSON object.
    public func api(
        _ path: String, method: String = "GET", query: [String: String] = [:], body: [String: Any]? = nil
    ) async throws -> [String: Any] {
        var c = URLComponents(url: url("/api/2.0/mlflow/\(path)"), resolvingAgainstBaseURL: false)!
        if !query.isEmpty {
            c.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        }
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let r = try await TestHTTP.send(
            method, c.url!, headers: data == nil ? [:] : ["Content-Type": "application/json"], body: data, timeout: 30)
        guard r.status == 200 else { throw ReceiverError("\(method) \(path) answered \(r.status): \(r.text)") }
        guard let object = try JSONSerialization.jsonObject(with: r.body) as? [String: Any] else {
            throw ReceiverError("\(method) \(path): not a JSON object: \(r.text)")
        }
        return object
    }

    /// What the server (and the script) printed.
    public var output: String {
        guard let dir = lock.withLock({ directory }) else { return "" }
        return (try? String(contentsOf: dir.appendingPathComponent("output.log"), encoding: .utf8)) ?? ""
    }

    /// Ends the server (SIGTERM to the script, which ends the server's process group; then SIGKILL) and removes its
    /// folder. Safe to call twice.
    public func stop() {
        let (p, dir) = lock.withLock { () -> (Process?, URL?) in
            defer { process = nil; directory = nil; _port = nil }
            return (process, directory)
        }
        // The script gives the server 5 s, then kills its group.
        if let p { terminate(p, grace: 10) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }
}
