import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import PostgresNIO
import Testing

/// A TCP proxy in front of the test server's unix socket that can make some of the worker's connections die
/// silently: once `freeze()` is called, every byte on a connection opened before it whose application_name
/// contains `match` ("listen", "score") is swallowed in both directions, and the socket stays open (no FIN, no RST), as when a
/// middlebox or a peer vanishes. Connections opened afterwards are forwarded normally. Python, because it is
/// a test fixture (a few lines with threads); nothing in the product depends on it.
private final class FreezingProxy: Sendable {
    let process: Process
    let port: Int
    let freezeFile: String
    let dir: String

    static let script = #"""
        import os, socket, sys, threading, time
        sock_path, freeze_file, port_file, match = sys.argv[1:5]
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
        with open(port_file + ".tmp", "w") as f: f.write(str(srv.getsockname()[1]))
        os.rename(port_file + ".tmp", port_file)
        def frozen(state):
            if not state["listener"]: return False
            try: return state["start"] < os.stat(freeze_file).st_mtime
            except FileNotFoundError: return False
        def pump(src, dst, state):
            try:
                while True:
                    data = src.recv(65536)
                    if not data: break
                    if frozen(state): continue  # swallowed: the peer hears nothing, not even a close
                    dst.sendall(data)
            except OSError: pass
            try: dst.shutdown(socket.SHUT_WR)
            except OSError: pass
        def handle(c):
            u = socket.socket(socket.AF_UNIX); u.connect(sock_path)
            first = c.recv(65536)  # the startup packet (sslmode=disable), with application_name
            state = {"start": time.time(), "listener": match.encode() in first}
            u.sendall(first)
            threading.Thread(target=pump, args=(c, u, state), daemon=True).start()
            threading.Thread(target=pump, args=(u, c, state), daemon=True).start()
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()
        """#

    init(socket: String, freezing match: String = "listen") async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adproxy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.script.write(toFile: dir + "/proxy.py", atomically: true, encoding: .utf8)
        freezeFile = dir + "/freeze"
        self.dir = dir
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", dir + "/proxy.py", socket, freezeFile, dir + "/port", match]
        try p.run()
        process = p
        var port = 0
        for _ in 0..<400 where port == 0 {
            port = Int((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "") ?? 0
            if port == 0 { try await Task.sleep(for: .milliseconds(25)) }
        }
        self.port = port
    }

    func freeze() { _ = FileManager.default.createFile(atPath: freezeFile, contents: Data()) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// `url` through the proxy (TCP to 127.0.0.1, no TLS, so the proxy can read application_name).
    func url(_ url: DatabaseURL) throws -> DatabaseURL {
        try DatabaseURL("postgres://\(url.username)@127.0.0.1:\(port)/\(url.database)?sslmode=disable")
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct WorkerNoticesADeadListenSocket {
    /// Issue 18: a LISTEN socket that died silently was never noticed, so with a long poll new points waited for
    /// it. The heartbeat notices, the worker reconnects and catches up, and the new points are scored long before
    /// the poll (600 s) would have.
    @Test func aSilentlyDeadListenConnectionIsReplacedAndNewPointsAreScored() async throws {
        try await withWorkerDatabase { url in
            let proxy = try await FreezingProxy(socket: url.unixSocketPath!)
            #expect(proxy.port > 0, "the proxy did not start")
            let w = try WorkerProcess(
                try proxy.url(url), name: "hb",
                environment: ["AD_POLL_INTERVAL": "600", "AD_LISTEN_HEARTBEAT": "1", "AD_DELIVERY": "false"])
            func listening() async throws -> [String] {
                try await strings(
                    url,
                    // Not by its last query: a heartbeat's SELECT 1 follows the LISTEN on a live connection.
                    "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'hb listen'"
                )
            }
            #expect(try await eventually(timeout: .seconds(60)) { try await listening().count == 1 }, "\(w.output)")
            try await insertPoints(url, from: 0, count: 5)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 5
                }, "not scored through the proxy: \(w.output)")

            let before = try await listening()
            proxy.freeze()
            try await insertPoints(url, from: 5, count: 5)
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 10
                }, "the new points waited for the poll: \(w.output)")
            #expect(w.output.contains("heartbeat"), "the heartbeat noticed it: \(w.output)")
            #expect(
                try await eventually(timeout: .seconds(60)) { !Set(try await listening()).isSubset(of: before) },
                "a new LISTEN connection replaced the dead one")
            await w.stop()
        }
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct ForgedNotificationsCostAtMostAPoll {
    /// Any login may LISTEN and NOTIFY on any channel (PostgreSQL has no privilege for it). A stranger's forged
    /// notifications, whatever their payload, cause at most wasted claims: no error, and real points are scored.
    /// What a stranger listening learns is a source's id (a random uuid) and when it got points.
    @Test func aStrangersNotificationsWakeTheWorkerAndNothingElse() async throws {
        try await withWorkerDatabase { url in
            let stranger = "stranger_\(UUID().uuidString.prefix(8).lowercased())"
            try await sql(url, "CREATE ROLE \(stranger) LOGIN")
            defer { Task { try? await sql(url, "DROP ROLE IF EXISTS \(stranger)") } }
            var strangerURL = url
            strangerURL.username = stranger
            let w = try WorkerProcess(url, name: "forged", environment: ["AD_POLL_INTERVAL": "600"])
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(
                        url,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'forged listen' AND query ILIKE 'LISTEN%'"
                    ) == 1
                }, "\(w.output)")
            let payloads = [
                "", "garbage", "00000000-0000-0000-0000-0000000000ff", "'; DROP TABLE ad.data_points; --",
                String(repeating: "x", count: 7000), "\u{1F4A5}",
            ]
            try await Database.withConnection(strangerURL, logger: TestServer.logger) { conn in
                for round in 0..<50 {
                    for p in payloads {
                        for channel in ["ad_points", "ad_deliveries", "ad_feedback"] {
                            var q = PostgresQuery(unsafeSQL: "SELECT pg_notify($1, $2)")
                            q.binds.append(channel)
                            q.binds.append(p + (round == 0 ? "" : String(round)))
                            try await conn.query(q, logger: TestServer.logger).get()
                        }
                    }
                }
            }
            try await insertPoints(url, from: 0, count: 5)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 5
                }, "not scored: \(w.output)")
            let bad = w.output.split(separator: "\n").filter {
                $0.contains("error") || $0.contains("failed") || $0.contains("warning")
            }
            #expect(bad.isEmpty, "the forged notifications caused: \(bad)")
            #expect(w.process.isRunning)
            await w.stop()
        }
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct AQueryOnASilentSocketEnds {
    /// Issue 18: no client-side timeout, so a query whose socket went silent blocked until the kernel gave up (for
    /// ever here: the proxy's end of the socket is alive). The reply deadline (statement timeout + 15 s) closes
    /// the connection; the loop reconnects and scores.
    @Test func theScoringConnectionIsReplacedWhenItsReplyNeverComes() async throws {
        try await withWorkerDatabase { url in
            let proxy = try await FreezingProxy(socket: url.unixSocketPath!, freezing: "score")
            #expect(proxy.port > 0, "the proxy did not start")
            let w = try WorkerProcess(
                try proxy.url(url), name: "rd",
                environment: [
                    // A loop that polls seldom is idle when the freeze comes: a freeze in the middle of a reply
                    // (it began, then stopped) is the keepalives' case, not the deadline's, and a loop polling
                    // every 0.2 s on a loaded machine met it often enough to fail this test.
                    "AD_POLL_INTERVAL": "5", "AD_STATEMENT_TIMEOUT": "1", "AD_SCORING_LOOPS": "1",
                    "AD_DELIVERY": "false", "AD_LISTEN": "false",
                ])
            try await insertPoints(url, from: 0, count: 5)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 5
                }, "not scored through the proxy: \(w.output)")
            proxy.freeze()
            try await insertPoints(url, from: 5, count: 5)
            #expect(
                try await eventually(timeout: .seconds(180)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 10
                }, "the scoring loop stayed stuck on its silent connection: \(w.output)")
            #expect(w.output.contains("no reply from the server"), "\(w.output)")
            await w.stop()
        }
    }
}
