import ADCore
import ADHTTP
import ADPostgres
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The HTTP ingest figure beside (a): the API in this process (APIServer.application and an APIStore pool, as
/// `adworker run` serves it) on a free loopback port against ad_bench, logged in as a login of ad_api, with an
/// ad_ingest token; clients POST the same number of points as (a) to /v1/sources/{source}/points, each request one
/// source's next `--http-batch` points, `--http-clients` requests in flight. Accepted points per second, from the
/// first request sent to the last answer, once as NDJSON and once as a JSON array (the table is emptied between).
struct HTTPIngestBench {
    struct Result {
        var ndjson: Double
        var json: Double
        var points: Int
        var perRequest: Int
    }

    let bench: Bench

    var options: BenchCommand { bench.options }
    var logger: Logger { bench.logger }

    func run(_ conn: PostgresConnection, sources: [UUID], points n: Int) async throws -> Result {
        // The group roles are cluster-wide: created if missing (a DBA does this once), as ad.create_roles() says.
        _ = try await bench.count("SELECT count(*)::int8 FROM ad.create_roles()", conn)
        let login = "ad_bench_api_\(getpid())"
        let secret = UUID().uuidString
        try await conn.query(PostgresQuery(unsafeSQL: "DROP ROLE IF EXISTS \(login)"), logger: logger)
        try await conn.query(
            PostgresQuery(unsafeSQL: "CREATE ROLE \(login) LOGIN PASSWORD '\(secret)' IN ROLE ad_api"), logger: logger)
        do {
            var token = ""
            for try await t in try await conn.query(
                "SELECT ad.issue_api_token('bench-ingest', 'ad_ingest')", logger: logger
            ).decode(String.self) { token = t }
            var apiURL = bench.url.with(username: login)
            apiURL.password = secret
            let result = try await serve(apiURL) { port in
                try await measure(conn, port: port, token: token, sources: sources, points: n)
            }
            try await dropLogin(login, conn)
            return result
        } catch {
            try? await dropLogin(login, conn)
            throw error
        }
    }

    func dropLogin(_ login: String, _ conn: PostgresConnection) async throws {
        // Its grants in ad_bench go first, or DROP ROLE fails; the pool's sessions are closed by now.
        try await conn.query(PostgresQuery(unsafeSQL: "DROP OWNED BY \(login)"), logger: logger)
        try await conn.query(PostgresQuery(unsafeSQL: "DROP ROLE IF EXISTS \(login)"), logger: logger)
    }

    /// Runs the API (pool and server, in one service group as the worker runs them) for the length of `body`.
    func serve<T: Sendable>(_ url: DatabaseURL, _ body: (Int) async throws -> T) async throws -> T {
        let settings = WorkerSettings()
        let store = try APIStore(
            url: url, connections: settings.httpConnections, limits: settings.sessionLimits, logger: logger)
        var api = APISettings(settings, host: "127.0.0.1", port: 0)
        api.maxPoints = max(api.maxPoints, options.httpBatch)
        let port = Mutex<Int?>(nil)
        let app = APIServer.application(store: store, settings: api, logger: logger) { p in
            port.withLock { $0 = p }
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: store.client), .init(service: app)], gracefulShutdownSignals: [],
                logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                var listening: Int?
                for _ in 0..<1000 where listening == nil {
                    listening = port.withLock { $0 }
                    if listening == nil { try await Task.sleep(for: .milliseconds(10)) }
                }
                guard let listening else { throw Fatal(description: "the HTTP API did not start listening") }
                let result = try await body(listening)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// The requests: the first `min(series, n / batch)` sources (at least one) get `n / count` points each, time
    /// ordered, in requests of at most `--http-batch` points.
    func requests(
        sources: [UUID], points n: Int, framing: PointBodies.Format
    ) -> (
        bodies: [(source: UUID, body: ByteBuffer, points: Int)], total: Int
    ) {
        let count = max(1, min(sources.count, n / options.httpBatch))
        let perSource = n / count
        let points = bench.makePoints(Array(sources.prefix(count)), perSeries: perSource)
        let time = ISO8601DateFormatter()
        time.formatOptions = [.withInternetDateTime]  // a point every 10 s: whole seconds
        var bySource: [UUID: [String]] = [:]
        for p in points {
            let stamp = time.string(from: Date(timeIntervalSince1970: Double(p.micros) / 1e6))
            bySource[p.source, default: []].append("{\"timestamp\":\"\(stamp)\",\"values\":\(p.values)}")
        }
        var out: [(UUID, ByteBuffer, Int)] = []
        for source in sources.prefix(count) {
            let lines = bySource[source] ?? []
            for start in stride(from: 0, to: lines.count, by: options.httpBatch) {
                let slice = lines[start..<min(start + options.httpBatch, lines.count)]
                let text =
                    framing == .ndjson ? slice.joined(separator: "\n") + "\n" : "[" + slice.joined(separator: ",") + "]"
                out.append((source, ByteBuffer(string: text), slice.count))
            }
        }
        return (out, points.count)
    }

    func measure(
        _ conn: PostgresConnection, port: Int, token: String, sources: [UUID], points n: Int
    ) async throws -> Result {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var rates: [PointBodies.Format: Double] = [:]
            var total = 0
            var perRequest = 0
            for framing in [PointBodies.Format.ndjson, .json] {
                try await conn.query("TRUNCATE ad.data_points, ad.anomalies CASCADE", logger: logger)
                try await conn.query("CHECKPOINT", logger: logger)
                let load = requests(sources: sources, points: n, framing: framing)
                total = load.total
                perRequest = load.bodies.map(\.points).max() ?? 0
                let progress = Progress()
                let bodies = load.bodies
                let t0 = bench.clock.now
                try await withThrowingTaskGroup(of: Void.self) { clients in
                    for _ in 0..<options.httpClients {
                        clients.addTask {
                            while true {
                                let i = progress.next.withLock { i in
                                    defer { i += 1 }
                                    return i
                                }
                                guard i < bodies.count else { return }
                                let r = bodies[i]
                                let got = try await Self.post(
                                    client, port: port, token: token, source: r.source, body: r.body, framing: framing)
                                guard got == r.points else {
                                    throw Fatal(description: "HTTP ingest accepted \(got) of \(r.points) points")
                                }
                                progress.accepted.withLock { $0 += got }
                            }
                        }
                    }
                    try await clients.waitForAll()
                }
                let accepted = progress.accepted.withLock { $0 }
                let elapsed = bench.seconds(bench.clock.now - t0)
                let stored = try await bench.count("SELECT count(*)::int8 FROM ad.data_points", conn)
                guard stored == load.total, accepted == load.total else {
                    throw Fatal(
                        description:
                            "HTTP ingest (\(framing.rawValue)): \(accepted) accepted, \(stored) stored, of \(load.total)"
                    )
                }
                rates[framing] = Double(load.total) / elapsed
            }
            try await client.shutdown()
            return Result(
                ndjson: rates[.ndjson] ?? .nan, json: rates[.json] ?? .nan, points: total, perRequest: perRequest)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The clients' shared place in the list of requests, and the points accepted so far.
    final class Progress: Sendable {
        let next = Mutex(0)
        let accepted = Mutex(0)
    }

    /// One request; the points it accepted (an answer other than 202 fails the bench with the problem's detail).
    static func post(
        _ client: HTTPClient, port: Int, token: String, source: UUID, body: ByteBuffer, framing: PointBodies.Format
    ) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/sources/\(source.uuidString)/points")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(
            name: "Content-Type", value: framing == .ndjson ? "application/x-ndjson" : "application/json")
        request.body = .bytes(body)
        let response = try await client.execute(request, timeout: .seconds(300))
        let answer = try await response.body.collect(upTo: 1 << 20)
        let text = String(buffer: answer)
        guard response.status == .accepted,
            case .object(let members) = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
            case .number(let accepted)? = members.first(where: { $0.0 == "accepted" })?.1
        else { throw Fatal(description: "HTTP ingest: \(response.status.code) \(text)") }
        return Int(accepted)
    }
}
