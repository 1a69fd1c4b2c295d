import ADCore
import ADPostgres
import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import Synchronization

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure ingest, scoring throughput, latency and worker memory, in one run on one schema.",
        discussion: """
            (a) COPY into ad.data_points with no worker, and the same number of points through the HTTP API \
            (served in this process as an ad_ingest token, --http-batch points a request, --http-clients requests in \
            flight; NDJSON, then a JSON array; it creates the ad_* group roles if missing and a login it drops after); \
            (b) the same COPY while an adworker run process scores, \
            from COPY start until the backlog is 0; (c) commit-to-scored latency at a fixed offered load; \
            (d) the worker's peak RSS at --series and at --big-series series; (e) alerts delivered per second to a \
            local webhook receiver (signed, one alert per request); (f) Isolation Forest training time, scoring \
            points/s on one core and ROC AUC, ours beside scikit-learn's on the same data (--models-only: just (f), \
            no database). Works in a fresh database ad_bench \
            (dropped afterwards unless --keep). Without DATABASE_URL it starts the embedded PostgreSQL \
            (scripts/pgcluster). Prints a table, then one JSON line. Build with -c release for real figures.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Series (sources) for (a), (b), (c).") var series = 1000
    @Option(help: "Points copied in (a) and (b).") var points = 200_000
    @Option(help: "Points per COPY transaction.") var chunk = 10_000
    @Option(help: "Offered load in (c), points per second.") var latencyRate = 1000
    @Option(help: "Duration of (c), seconds.") var latencySeconds = 20
    @Option(help: "Series for the memory figure in (d).") var bigSeries = 100_000
    @Option(help: "The worker's AD_BATCH_SIZE.") var batchSize = WorkerSettings().batchSize
    @Option(help: "Alerts delivered in (e), to a local webhook receiver.") var alerts = 2000
    @Flag(help: "Keep the ad_bench database afterwards.") var keep = false
    @Option(help: "Training rows for (f).") var modelTrainRows = 20_000
    @Option(help: "Rows scored in (f).") var modelScoreRows = 200_000
    @Flag(help: "Run only (f), the Isolation Forest comparison (no database).") var modelsOnly = false
    @Option(help: "Points per HTTP ingest request beside (a).") var httpBatch = 1000
    @Option(help: "HTTP ingest requests in flight at once beside (a).") var httpClients = 4
    @Flag(help: "Run only (a) and its HTTP ingest figures.") var ingestOnly = false
    @Flag(
        help:
            "Store ad.data_points and ad.anomalies in TimescaleDB hypertables: create the timescaledb extension in ad_bench before the schema (the server must have it). Without it, the bench runs on whatever the new database gets (TimescaleDB when template1 has it) and says which."
    ) var timescaledb = false
    @Option(help: "adworker run processes scoring in (b).") var workers = 1
    @Option(help: "Each worker's AD_SCORING_LOOPS in (b) and --scaling (default: the worker's default).")
    var scoringLoops: Int?
    @Option(
        help: ArgumentHelp(
            "Run (a), then (b) once for each worker count in this comma-separated list (say 1,2,4), and nothing else: scored points/s and the ratio for each, side by side in one run.",
            valueName: "counts"))
    var scaling: String?

    /// The worker counts of --scaling, in the order given.
    var scalingCounts: [Int]? {
        scaling.map { $0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    }

    func validate() throws {
        guard series >= 1, points >= series, chunk >= 1, latencyRate >= 10, latencySeconds >= 1, bigSeries >= series,
            alerts >= 1, modelTrainRows >= 100, modelScoreRows >= 1000, (1...1_000_000).contains(httpBatch),
            (1...256).contains(httpClients), (1...32).contains(workers), (1...64).contains(scoringLoops ?? 1)
        else {
            throw ValidationError(
                "need series >= 1, points >= series, chunk >= 1, latency-rate >= 10, latency-seconds >= 1, big-series >= series, alerts >= 1, http-batch 1 to 1000000, http-clients 1 to 256, workers 1 to 32, scoring-loops 1 to 64"
            )
        }
        if let scaling {
            let parts = scaling.split(separator: ",", omittingEmptySubsequences: false)
            let counts = scalingCounts ?? []
            guard !parts.isEmpty, counts.count == parts.count, counts.allSatisfy({ (1...32).contains($0) }) else {
                throw ValidationError(
                    "--scaling wants worker counts from 1 to 32 separated by commas (say 1,2,4), got \"\(scaling)\"")
            }
            guard !ingestOnly, !modelsOnly else {
                throw ValidationError(
                    "--scaling runs (a) and (b) only: it does not go with --ingest-only or --models-only")
            }
        }
    }

    func run() async throws {
        try await failingClearly {
            var logger = try connection.logger("adworker.bench")
            if connection.logLevel == nil && ProcessInfo.processInfo.environment["AD_LOG_LEVEL"] == nil {
                logger.logLevel = .warning
            }
            if modelsOnly {
                let r = try ModelBench(trainRows: modelTrainRows, scoreRows: modelScoreRows, python: nil).run()
                print("adworker bench --models-only")
                for line in ModelBench.lines(r, trainRows: modelTrainRows, scoreRows: modelScoreRows) { print(line) }
                print(JSONValue.object(ModelBench.json(r)).render())
                return
            }
            let admin =
                try connection.databaseURL != nil || ProcessInfo.processInfo.environment["DATABASE_URL"] != nil
                ? connection.url() : Embedded.start()
            let bench = Bench(admin: admin, url: admin.with(database: "ad_bench"), options: self, logger: logger)
            try await bench.run()
        }
    }
}

/// A child `adworker run` process, whose memory the bench reads from /proc.
final class BenchWorker: Sendable {
    let process: Process
    let name: String
    let log: URL

    init(url: DatabaseURL, name: String, batchSize: Int, scoringLoops: Int? = nil) throws {
        self.name = name
        log = FileManager.default.temporaryDirectory.appendingPathComponent("ad-bench-\(name)-\(getpid()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = ["run"]
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = url.text
        env["AD_WORKER_NAME"] = name
        env["AD_BATCH_SIZE"] = String(batchSize)
        env["AD_POLL_INTERVAL"] = "1"
        env["AD_LOG_LEVEL"] = "info"
        if let scoringLoops { env["AD_SCORING_LOOPS"] = String(scoringLoops) }
        p.environment = env
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
    }

    /// Peak resident set size so far (VmHWM), in MB.
    var peakRSSMB: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return .nan }
        return kb / 1024
    }

    /// SIGTERM, wait, and the totals line the worker prints when it stops.
    func stop() async -> String? {
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        return text.split(separator: "\n").last(where: { $0.contains("totals: ") })
            .map { String($0[$0.range(of: "totals: ")!.upperBound...]) }
    }
}

struct Bench {
    /// A rate or count as the report prints it: whole, or n/a when not measured.
    func n(_ x: Double) -> String { x.isFinite ? String(format: "%.0f", x) : "n/a" }
    let admin: DatabaseURL
    let url: DatabaseURL
    let options: BenchCommand
    let logger: Logger
    let clock = ContinuousClock()
    let base: Int64 = 1_767_225_600_000_000  // 2026-01-01 00:00:00 UTC, in microseconds
    let step: Int64 = 10_000_000  // a point every 10 s per series

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    func exec(_ sql: String, on url: DatabaseURL? = nil) async throws {
        try await Database.withConnection(url ?? self.url, logger: logger, applicationName: "adworker bench") { conn in
            for try await _ in try await conn.query(PostgresQuery(unsafeSQL: sql), logger: logger) {}
        }
    }

    func count(_ sql: String, _ conn: PostgresConnection) async throws -> Int {
        var n = 0
        for try await v in try await conn.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) {
            n = v
        }
        return n
    }

    /// Waits until no point is unscored; returns when that was observed.
    func waitForBacklogZero(
        _ conn: PostgresConnection, timeout: Duration = .seconds(1800)
    ) async throws -> ContinuousClock.Instant {
        let deadline = clock.now + timeout
        while clock.now < deadline {
            // The first unscored point in queue order (the partial index, stopping at one row), not a count: counting
            // a large backlog every 20 ms kept a server process busy, taking a core from the worker it measures.
            if try await count(
                "SELECT count(*)::int8 FROM (SELECT FROM ad.data_points WHERE anomaly_score IS NULL ORDER BY \"timestamp\", source_id LIMIT 1) x",
                conn) == 0
            {
                return clock.now
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Fatal(description: "the backlog did not drain within \(timeout)")
    }

    func waitForWorker(_ w: BenchWorker, _ conn: PostgresConnection) async throws {
        for _ in 0..<500 {
            if try await count(
                "SELECT count(*)::int8 FROM pg_stat_activity WHERE application_name = '\(w.name) score'", conn) > 0
            {
                return
            }
            guard w.process.isRunning else {
                throw Fatal(description: "worker \(w.name) exited: \(String(describing: await w.stop()))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Fatal(description: "worker \(w.name) did not connect")
    }

    /// Points for `sources`, `perSeries` each, time-ordered; about one in 2,000 is a spike.
    func makePoints(_ sources: [UUID], perSeries: Int, startStep: Int64 = 0) -> [PointCopier.Point] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func unit() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407; return Double(state >> 11) / Double(1 << 53)
        }
        var out: [PointCopier.Point] = []
        out.reserveCapacity(sources.count * perSeries)
        for k in 0..<perSeries {
            for s in sources {
                let spike = unit() < 0.0005 ? 40.0 : 0
                let cpu = (50 + 5 * (unit() + unit() + unit() - 1.5) + spike) * 100
                let mem = 400 + 20 * (unit() - 0.5)
                out.append(
                    .init(
                        source: s, micros: base + (startStep + Int64(k)) * step,
                        values: "{\"cpu\": \(cpu.rounded() / 100), \"mem\": \((mem * 10).rounded() / 10)}"))
            }
        }
        return out
    }

    func copy(_ chunks: [ByteBuffer], _ conn: PostgresConnection) async throws {
        let copier = PointCopier(logger: logger)
        for c in chunks { try await copier.copy(c, on: conn) }
    }

    func chunks(_ points: [PointCopier.Point]) -> [ByteBuffer] {
        stride(from: 0, to: points.count, by: options.chunk).map {
            PointCopier.encode(points[$0..<min($0 + options.chunk, points.count)])
        }
    }

    func run() async throws {
        try await exec("DROP DATABASE IF EXISTS ad_bench WITH (FORCE)", on: admin)
        try await exec("CREATE DATABASE ad_bench", on: admin)
        do {
            try await measureAll()
        } catch {
            if !options.keep { try? await exec("DROP DATABASE IF EXISTS ad_bench WITH (FORCE)", on: admin) }
            throw error
        }
        if !options.keep { try await exec("DROP DATABASE IF EXISTS ad_bench WITH (FORCE)", on: admin) }
    }

    func measureAll() async throws {
        try await Database.withConnection(url, logger: logger, applicationName: "adworker bench") { conn in
            if options.timescaledb {
                do {
                    try await conn.query("CREATE EXTENSION IF NOT EXISTS timescaledb", logger: logger)
                } catch {
                    throw Fatal(
                        description:
                            "--timescaledb: this server cannot create the timescaledb extension (\(String(reflecting: error).prefix(300))); is TimescaleDB installed and in shared_preload_libraries?"
                    )
                }
            }
            _ = try await Migrator(logger: logger).migrate(conn)
            var version = ""
            for try await v in try await conn.query("SELECT current_setting('server_version')", logger: logger).decode(
                String.self)
            { version = v }
            let storage = try await storageDescription(conn)
            version += "; \(storage)"
            var sources: [UUID] = []
            for try await id in try await conn.query(
                "INSERT INTO ad.data_sources (name) SELECT 'bench-' || lpad(g::text, 6, '0') FROM generate_series(1, \(options.series)) g RETURNING id",
                logger: logger
            ).decode(UUID.self) { sources.append(id) }
            let perSeries = options.points / options.series
            let load = chunks(makePoints(sources, perSeries: perSeries))
            let n = perSeries * options.series

            // (a) raw ingest, no worker.
            try await conn.query("CHECKPOINT", logger: logger)
            let t0 = clock.now
            try await copy(load, conn)
            let ingest = Double(n) / seconds(clock.now - t0)

            // (a) beside it: the same number of points through the HTTP API.
            let http = try await HTTPIngestBench(bench: self).run(conn, sources: sources, points: n)
            if options.ingestOnly {
                reportIngest(version: version, ingest: ingest, http: http)
                print(JSONValue.object(ingestJSON(ingest: ingest, http: http)).render())
                return
            }

            if let counts = options.scalingCounts {
                var rows: [(workers: Int, scoring: Scoring)] = []
                for k in counts { rows.append((k, try await measureScoring(conn, load: load, points: n, workers: k))) }
                reportScaling(version: version, ingest: ingest, rows: rows)
                return
            }

            // (b) the same load while the worker(s) score; COPY start until the backlog is empty.
            let b = try await measureScoring(conn, load: load, points: n, workers: options.workers)
            let (scored, copyUnderLoad, rssB, profile) = (b.scored, b.copyUnderLoad, b.peakRSSMB, b.profile)

            // (c) latency at a fixed offered load, with 60 points of history per series already scored.
            try await conn.query("TRUNCATE ad.data_points, ad.anomalies CASCADE", logger: logger)
            let w2 = try BenchWorker(url: url, name: "bench-c", batchSize: options.batchSize)
            try await waitForWorker(w2, conn)
            try await copy(chunks(makePoints(sources, perSeries: 60)), conn)
            _ = try await waitForBacklogZero(conn)
            let latency = try await measureLatency(conn, sources: sources)
            let rssC = w2.peakRSSMB
            _ = await w2.stop()

            // (d) memory with many series: a fresh worker scores 3 points for each of --big-series series.
            try await conn.query("TRUNCATE ad.data_points, ad.anomalies CASCADE", logger: logger)
            var bigSources = sources
            for try await id in try await conn.query(
                "INSERT INTO ad.data_sources (name) SELECT 'bench-' || lpad(g::text, 6, '0') FROM generate_series(\(options.series + 1), \(options.bigSeries)) g RETURNING id",
                logger: logger
            ).decode(UUID.self) { bigSources.append(id) }
            try await copy(chunks(makePoints(bigSources, perSeries: 3, startStep: 1000)), conn)
            let w3 = try BenchWorker(url: url, name: "bench-d", batchSize: options.batchSize)
            try await waitForWorker(w3, conn)
            _ = try await waitForBacklogZero(conn)
            let rssBig = w3.peakRSSMB
            _ = await w3.stop()

            let delivered = try await measureDelivery(conn, source: sources[0])

            // (f) Isolation Forest beside scikit-learn's, in this process (no database).
            let models = try ModelBench(
                trainRows: options.modelTrainRows, scoreRows: options.modelScoreRows, python: nil
            ).run()

            report(
                version: version, ingest: ingest, http: http, scored: scored, copyUnderLoad: copyUnderLoad,
                latency: latency,
                rss1k: max(rssB, rssC), rssBig: rssBig, delivered: delivered, profile: profile, models: models)
        }
    }

    struct Latency { var p50: Double, p95: Double, p99: Double, offered: Double, points: Int, lost: Int }

    /// What (b) measured: scored and COPY points/s, the largest worker's peak RSS, each worker's totals line.
    struct Scoring { var scored: Double, copyUnderLoad: Double, peakRSSMB: Double, profile: String? }

    /// (b): the COPY of (a) again while `workers` `adworker run` processes score, from COPY start until no point is
    /// unscored. Starts from empty tables and a checkpoint, so runs with different counts are comparable.
    func measureScoring(
        _ conn: PostgresConnection, load: [ByteBuffer], points: Int, workers: Int
    ) async throws
        -> Scoring
    {
        try await conn.query("TRUNCATE ad.data_points, ad.anomalies CASCADE", logger: logger)
        try await conn.query("CHECKPOINT", logger: logger)
        var started: [BenchWorker] = []
        for k in 1...workers {
            let name = workers == 1 ? "bench-b" : "bench-b\(k)"
            started.append(
                try BenchWorker(url: url, name: name, batchSize: options.batchSize, scoringLoops: options.scoringLoops))
        }
        for w in started { try await waitForWorker(w, conn) }
        let t0 = clock.now
        try await copy(load, conn)
        let copyDone = clock.now
        let drained = try await waitForBacklogZero(conn)
        let rss = started.map(\.peakRSSMB).max() ?? .nan
        var profiles: [String] = []
        for w in started {
            if let p = await w.stop() { profiles.append(workers == 1 ? p : "\(w.name): \(p)") }
        }
        return Scoring(
            scored: Double(points) / seconds(drained - t0), copyUnderLoad: Double(points) / seconds(copyDone - t0),
            peakRSSMB: rss, profile: profiles.isEmpty ? nil : profiles.joined(separator: "; "))
    }

    /// Which storage the schema got: TimescaleDB hypertables (and compression) or plain tables, read from the
    /// database rather than from the flag, so a template with TimescaleDB is reported too.
    func storageDescription(_ conn: PostgresConnection) async throws -> String {
        var ts: String?
        for try await v in try await conn.query(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'", logger: logger
        ).decode(String.self) { ts = v }
        guard let ts else { return "plain PostgreSQL tables (no TimescaleDB)" }
        var hypertables: [String] = []
        for try await name in try await conn.query(
            """
            SELECT h.hypertable_name::text FROM timescaledb_information.hypertables h
             WHERE h.hypertable_schema = 'ad' ORDER BY 1
            """, logger: logger
        ).decode(String.self) { hypertables.append("ad." + name) }
        var compression = false
        for try await v in try await conn.query(
            "SELECT count(*)::int8 FROM ad_internal.storage WHERE key = 'compression'", logger: logger
        ).decode(Int.self) { compression = v > 0 }
        return hypertables.isEmpty
            ? "TimescaleDB \(ts) installed, but no hypertables in ad"
            : "TimescaleDB \(ts) hypertables (\(hypertables.joined(separator: ", "))\(compression ? "; compression policy" : ""))"
    }

    /// --scaling: (a), then (b) per worker count.
    func reportScaling(version: String, ingest: Double, rows: [(workers: Int, scoring: Scoring)]) {
        let loops = options.scoringLoops ?? WorkerSettings().scoringLoops
        print(
            "adworker bench --scaling: PostgreSQL \(version), \(options.series) series, \(options.points) points, worker batch \(options.batchSize), \(loops) scoring loop(s) per worker"
        )
        print("  (a) COPY into ad.data_points, no worker                 \(n(ingest)) points/s")
        for r in rows {
            let label = "\(r.workers) worker\(r.workers == 1 ? "" : "s")"
            print(
                "  (b) \(label.padding(toLength: 10, withPad: " ", startingAt: 0)) scored \(n(r.scoring.scored)) points/s   ratio \(String(format: "%.3f", r.scoring.scored / ingest))   (the COPY itself: \(n(r.scoring.copyUnderLoad)) points/s; peak RSS \(String(format: "%.1f", r.scoring.peakRSSMB)) MB)"
            )
            if let p = r.scoring.profile { print("      worker time: \(p)") }
        }
        let json = JSONValue.object([
            ("copy_points_per_s", .rounded(ingest, 6)), ("scoring_loops", .number(Double(loops))),
            ("series", .number(Double(options.series))), ("points", .number(Double(options.points))),
            ("batch_size", .number(Double(options.batchSize))),
            (
                "scaling",
                .array(
                    rows.map {
                        .object([
                            ("workers", .number(Double($0.workers))),
                            ("scored_points_per_s", .rounded($0.scoring.scored, 6)),
                            ("ratio", .rounded($0.scoring.scored / ingest, 4)),
                            ("copy_points_per_s_under_worker", .rounded($0.scoring.copyUnderLoad, 6)),
                            ("peak_rss_mb", .rounded($0.scoring.peakRSSMB, 4)),
                        ])
                    })
            ),
        ])
        print(json.render())
    }

    func measureLatency(_ conn: PostgresConnection, sources: [UUID]) async throws -> Latency {
        try await conn.query(
            """
            CREATE FUNCTION public.bench_scored() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('ad_bench_scored', OLD.id::text); RETURN NULL; END $$
            """, logger: logger)
        try await conn.query(
            """
            CREATE TRIGGER bench_scored AFTER UPDATE OF anomaly_score ON ad.data_points FOR EACH ROW
              WHEN (OLD.anomaly_score IS NULL AND NEW.anomaly_score IS NOT NULL) EXECUTE FUNCTION public.bench_scored()
            """, logger: logger)
        // Notifications arrive when the worker's transaction commits: that is when the score is visible. They carry
        // the id the INSERT returned (OLD.id): scoring gives the point its server-assigned id (issue 18), so NEW.id
        // is another, and (c) saw none of its points since then.
        let listener = try await Database.connect(
            url, logger: logger, applicationName: "adworker bench listen", id: 7)
        let seen = Mutex<[UUID: ContinuousClock.Instant]>([:])
        let listening = Mutex(false)
        let consumer = Task {
            // Ends when the listening connection is closed below.
            try? await listener.listen(on: "ad_bench_scored") { stream in
                listening.withLock { $0 = true }
                for try await n in stream {
                    if let id = UUID(uuidString: n.payload) {
                        let now = ContinuousClock.now; seen.withLock { $0[id] = now }
                    }
                }
            }
        }
        while !listening.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        let perTick = max(1, options.latencyRate / 100)  // ticks of 10 ms
        let ticks = options.latencySeconds * options.latencyRate / perTick
        var committed: [UUID: ContinuousClock.Instant] = [:]
        var nextPoint = [Int64](repeating: 60, count: sources.count)
        let start = clock.now
        for k in 0..<ticks {
            let target = start + .milliseconds(10 * k)
            if target > clock.now { try await Task.sleep(until: target, clock: clock) }
            var ids: [UUID] = [], stamps: [Int64] = [], values: [String] = []
            for i in 0..<perTick {
                let s = (k * perTick + i) % sources.count
                ids.append(sources[s]); stamps.append(base + nextPoint[s] * step); nextPoint[s] += 1
                values.append("{\"cpu\": \(50 + (k + i) % 7), \"mem\": 400}")
            }
            var q = PostgresQuery(
                unsafeSQL: """
                    INSERT INTO ad.data_points (source_id, "timestamp", values)
                    SELECT u.s, timestamptz 'epoch' + u.us * interval '1 microsecond', u.v::jsonb
                      FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS u(s, us, v)
                    RETURNING id
                    """)
            q.binds.append(ids); q.binds.append(stamps); q.binds.append(values)
            var inserted: [UUID] = []
            for try await id in try await conn.query(q, logger: logger).decode(UUID.self) { inserted.append(id) }
            let acknowledged = clock.now
            for id in inserted { committed[id] = acknowledged }
        }
        let offered = Double(committed.count) / seconds(clock.now - start)
        let deadline = clock.now + .seconds(30)
        while clock.now < deadline, seen.withLock({ $0.count }) < committed.count {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await listener.close()
        consumer.cancel()
        try await conn.query("DROP TRIGGER bench_scored ON ad.data_points", logger: logger)
        let arrivals = seen.withLock { $0 }
        var ms: [Double] = committed.compactMap { id, at in arrivals[id].map { max(0, seconds($0 - at) * 1000) } }
        ms.sort()
        func pct(_ p: Double) -> Double {
            ms.isEmpty ? .nan : ms[min(ms.count - 1, Int((p * Double(ms.count)).rounded(.up)) - 1)]
        }
        return Latency(
            p50: pct(0.50), p95: pct(0.95), p99: pct(0.99), offered: offered, points: committed.count,
            lost: committed.count - ms.count)
    }

    /// (e) A worker (scoring idle) delivers --alerts alerts, each to a signed webhook on a local receiver: alerts
    /// per second from the commit that opens them until the last is recorded as sent.
    func measureDelivery(_ conn: PostgresConnection, source: UUID) async throws -> Double {
        let receiver = try await BenchReceiver.start()
        try await conn.query("TRUNCATE ad.data_points, ad.anomalies CASCADE", logger: logger)
        try await conn.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO ad.channels (name, type, target) VALUES ('bench-hook', 'webhook', 'http://127.0.0.1:\(receiver.port)/hook')
                    """), logger: logger)
        // The receiver is on loopback, which the outbound policy refuses: the owner (this connection) allows it.
        try await conn.query(
            """
            INSERT INTO ad_internal.outbound_allowlist (network, note) VALUES ('127.0.0.1/32', 'adworker bench receiver')
            ON CONFLICT DO NOTHING
            """, logger: logger)
        try await conn.query("SELECT ad.set_channel_secret('bench-hook', 'bench-secret')", logger: logger)
        try await conn.query("INSERT INTO ad.alert_rules (name) VALUES ('bench-rule')", logger: logger)
        try await conn.query("SELECT ad.add_rule_channel('bench-rule', 'bench-hook')", logger: logger)
        let w = try BenchWorker(url: url, name: "bench-e", batchSize: options.batchSize)
        try await waitForWorker(w, conn)
        let t0 = clock.now
        // One anomaly and one alert per metric (so none group), opened in one transaction as scoring would.
        try await conn.query(
            PostgresQuery(
                unsafeSQL: """
                    WITH a AS (
                        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
                        SELECT gen_random_uuid(), timestamptz '2026-01-01' + g * interval '1 minute', '\(source)', 'm' || g, 'robust',
                               'high', 0.9999, '{"actual": 100, "expected": 10, "expected_range": [5, 15]}'
                          FROM generate_series(1, \(options.alerts)) g
                        RETURNING id, point_timestamp, source_id, metric
                    )
                    INSERT INTO ad.alerts (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
                    SELECT r.id, a.id, a.point_timestamp, a.source_id, a.metric, 'high', 'bench ' || a.metric, 'bench alert'
                      FROM a, ad.alert_rules r WHERE r.name = 'bench-rule'
                    """), logger: logger)
        let deadline = clock.now + .seconds(600)
        var sent = 0
        while sent < options.alerts && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            sent = try await count("SELECT count(*) FROM ad.alert_deliveries WHERE status = 'sent'", conn)
        }
        let elapsed = clock.now - t0
        _ = await w.stop()
        await receiver.stop()
        guard sent >= options.alerts else {
            throw Fatal(description: "(e) \(sent) of \(options.alerts) deliveries sent within 600 s")
        }
        guard receiver.received >= options.alerts else {
            throw Fatal(description: "(e) the receiver saw \(receiver.received) requests for \(options.alerts) alerts")
        }
        return Double(options.alerts) / seconds(elapsed)
    }

    func report(
        version: String, ingest: Double, http: HTTPIngestBench.Result, scored: Double, copyUnderLoad: Double,
        latency: Latency, rss1k: Double, rssBig: Double, delivered: Double, profile: String?, models: ModelBench.Result
    ) {
        func f1(_ x: Double) -> String { x.isFinite ? String(format: "%.1f", x) : "n/a" }
        let ratio = scored / ingest
        print(
            "adworker bench: PostgreSQL \(version), \(options.series) series, \(options.points) points, worker batch \(options.batchSize), \(options.workers) worker(s) in (b) with \(options.scoringLoops ?? WorkerSettings().scoringLoops) scoring loop(s) each"
        )
        reportIngest(version: nil, ingest: ingest, http: http)
        print(
            "  (b) scored while COPY runs (COPY start to backlog 0)    \(n(scored)) points/s   (the COPY itself: \(n(copyUnderLoad)) points/s)"
        )
        print("      ratio (b)/(a)                                       \(String(format: "%.3f", ratio))")
        print(
            "  (c) commit to scored at \(options.latencyRate) points/s offered (\(n(latency.offered)) achieved, \(latency.points) points\(latency.lost > 0 ? ", \(latency.lost) never seen" : ""))"
        )
        print(
            "      p50 / p95 / p99                                     \(f1(latency.p50)) / \(f1(latency.p95)) / \(f1(latency.p99)) ms"
        )
        print("  (d) worker peak RSS at \(options.series) series                      \(f1(rss1k)) MB")
        print("      worker peak RSS at \(options.bigSeries) series                   \(f1(rssBig)) MB")
        print(
            "  (e) alerts delivered to a local webhook (signed)       \(n(delivered)) alerts/s   (\(options.alerts) alerts)"
        )
        for line in ModelBench.lines(models, trainRows: options.modelTrainRows, scoreRows: options.modelScoreRows) {
            print(line)
        }
        if let profile { print("  worker time in (b): \(profile)") }
        let json = JSONValue.object(
            ingestJSON(ingest: ingest, http: http) + [
                ("scored_points_per_s", .rounded(scored, 6)),
                ("ratio", .rounded(ratio, 4)), ("latency_p50_ms", .rounded(latency.p50, 4)),
                ("latency_p95_ms", .rounded(latency.p95, 4)), ("latency_p99_ms", .rounded(latency.p99, 4)),
                ("rss_mb_1k_series", .rounded(rss1k, 4)), ("rss_mb_100k_series", .rounded(rssBig, 4)),
                ("delivered_alerts_per_s", .rounded(delivered, 5)),
                ("copy_points_per_s_under_worker", .rounded(copyUnderLoad, 6)),
                ("latency_offered_points_per_s", .rounded(latency.offered, 5)),
                ("series", .number(Double(options.series))), ("big_series", .number(Double(options.bigSeries))),
                ("points", .number(Double(options.points))), ("batch_size", .number(Double(options.batchSize))),
                ("workers", .number(Double(options.workers))),
                ("scoring_loops", .number(Double(options.scoringLoops ?? WorkerSettings().scoringLoops))),
                ("server", .string(version)),
            ] + ModelBench.json(models))
        print(json.render())
    }

    /// The (a) lines: COPY, and beside it HTTP ingest as NDJSON and as JSON with their ratio to COPY. With `version`,
    /// the heading too (--ingest-only).
    func reportIngest(version: String?, ingest: Double, http: HTTPIngestBench.Result) {
        if let version {
            print(
                "adworker bench --ingest-only: PostgreSQL \(version), \(options.series) series, \(options.points) points"
            )
        }
        print("  (a) COPY into ad.data_points, no worker                 \(n(ingest)) points/s")
        print(
            "      HTTP POST .../points, NDJSON, ad_ingest token        \(n(http.ndjson)) points/s   (ratio to COPY \(String(format: "%.3f", http.ndjson / ingest)); \(http.points) points, \(http.perRequest) a request, \(options.httpClients) in flight)"
        )
        print(
            "      HTTP POST .../points, JSON array                     \(n(http.json)) points/s   (ratio to COPY \(String(format: "%.3f", http.json / ingest)))"
        )
    }

    func ingestJSON(ingest: Double, http: HTTPIngestBench.Result) -> [(String, JSONValue)] {
        [
            ("ingest_points_per_s", .rounded(ingest, 6)),
            ("http_ndjson_points_per_s", .rounded(http.ndjson, 6)), ("http_json_points_per_s", .rounded(http.json, 6)),
            ("http_ndjson_ratio", .rounded(http.ndjson / ingest, 4)),
            ("http_json_ratio", .rounded(http.json / ingest, 4)),
            ("http_points_per_request", .number(Double(http.perRequest))),
            ("http_clients", .number(Double(options.httpClients))),
        ]
    }
}
