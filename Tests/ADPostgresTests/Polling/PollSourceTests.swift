import ADCore
import ADDBTestSupport
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import ADPostgres

/// A test-owned bash script (`runShell`).
private func shell(_ script: String) throws -> String { try runShell(script) }

/// A second PostgreSQL cluster of the test's own (scripts/pgcluster, TimescaleDB off): the database a db_poll
/// source reads from. `stop` and `start` take it down and bring it back on the same socket and port.
private struct SourceCluster {
    let dir: String
    let url: DatabaseURL

    static func start() throws -> SourceCluster {
        let dir = "/tmp/adpoll-\(UUID().uuidString.prefix(8).lowercased())"
        let out = try shell("cd \(Repository.root().path); AD_TIMESCALEDB=off scripts/pgcluster start \(dir)")
        let text = out.split(separator: "\n").last.map(String.init) ?? ""
        return SourceCluster(dir: dir, url: try DatabaseURL(text))
    }

    func stop() throws { _ = try shell("cd \(Repository.root().path); scripts/pgcluster stop \(dir)") }
    func restart() throws {
        _ = try shell("cd \(Repository.root().path); AD_TIMESCALEDB=off scripts/pgcluster start \(dir)")
    }
    func destroy() { _ = try? shell("cd \(Repository.root().path); scripts/pgcluster destroy \(dir)") }

    /// Runs `body`, then destroys the cluster whatever happened.
    static func with<T: Sendable>(_ body: (SourceCluster) async throws -> T) async throws -> T {
        let cluster = try start()
        do {
            let out = try await body(cluster)
            cluster.destroy()
            return out
        } catch {
            cluster.destroy()
            throw error
        }
    }
}

/// Runs test-owned statements separated by ";" at the end of a line, one at a time (the extended protocol takes one).
private func script(_ url: DatabaseURL, _ text: String) async throws {
    for statement in text.components(separatedBy: ";\n")
    where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
        try await sql(url, statement)
    }
}

/// SQL text of a test-owned string (never user input).
private func lit(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

/// One row of ad.poll_status as text, by column.
private func status(_ url: DatabaseURL, _ source: String, _ column: String) async throws -> String {
    try await strings(
        url, "SELECT coalesce(\(column)::text, '') FROM ad.poll_status WHERE source_name = \(lit(source))"
    )
    .first ?? "<no row>"
}

/// Waits for `condition`; when it does not hold in time, records what the view and the workers said.
private func expectEventually(
    _ url: DatabaseURL, _ what: String, timeout: Duration = .seconds(120), workers: [WorkerProcess],
    _ condition: () async throws -> Bool
) async throws {
    if try await eventually(timeout: timeout, condition) { return }
    let view = try await strings(url, "SELECT row_to_json(s)::text FROM ad.poll_status s")
    Issue.record("\(what): \(view.joined(separator: "\n")) \(workers.map(\.output).joined(separator: "\n"))")
}

/// A worker that polls (scoring as usual), fast.
private func poller(_ url: DatabaseURL, _ name: String, metricsPort: Int? = nil) throws -> WorkerProcess {
    var env = ["AD_POLL_LANES": "2", "AD_POLL_INTERVAL": "0.5", "AD_DELIVERY": "false", "AD_TRAINING": "false"]
    if let metricsPort {
        env["AD_METRICS_LISTEN"] = "127.0.0.1:\(metricsPort)"
        env["AD_METRICS_REFRESH"] = "1"
    }
    return try WorkerProcess(url, name: name, environment: env)
}

/// One line of the worker's /metrics that starts with `series` ("name{labels}"), or nil.
private func metric(_ port: Int, _ series: String) async -> String? {
    guard let r = try? await TestHTTP.send("GET", URL(string: "http://127.0.0.1:\(port)/metrics")!, timeout: 5)
    else { return nil }
    return r.text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.map(String.init)
}

/// `adworker doctor`'s polling findings (its probe and diagnosis, as the command runs them).
private func pollingFindings(_ url: DatabaseURL) async throws -> [Finding] {
    let facts = try await Database.withConnection(url, logger: TestServer.logger) {
        try await DoctorProbe(logger: TestServer.logger).facts($0)
    }
    return diagnose(try #require(facts.operations)).filter { $0.topic == "polling" }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct PollSourcesFeedTheDoorExactlyOnce {
    /// Rows whose watermark (a batch number) is shared by several rows, read 7 at a time, by two workers at once;
    /// then the workers are killed, rows arrive (some at the last watermark value), and a new worker resumes.
    @Test func rowsArriveOnceThroughTwoWorkersTiesAndARestart() async throws {
        try await SourceCluster.with { remote in
            try await script(
                remote.url,
                """
                CREATE TABLE public.readings (id bigint PRIMARY KEY, batch bigint NOT NULL, ts timestamptz NOT NULL,
                                              temp double precision, load numeric, note_count integer);
                INSERT INTO public.readings
                SELECT g, g / 5, timestamptz '2026-03-01 00:00:00+00' + g * interval '1 minute', 20 + g % 7,
                       round((g % 3)::numeric / 4, 2), CASE WHEN g % 4 = 0 THEN NULL ELSE g END
                  FROM generate_series(1, 60) g
                """)
            try await withWorkerDatabase { url in
                try await script(
                    url,
                    """
                    SELECT ad.add_poll_source('remote-readings',
                        'SELECT ts, batch, temp, load, note_count FROM public.readings', 'ts', 'batch',
                        poll_interval => '1 second', dsn => \(lit(remote.url.text)), max_rows => 7)
                    """)
                let a = try poller(url, "polla"), b = try poller(url, "pollb")
                try await expectEventually(url, "not all 60 arrived", workers: [a, b]) {
                    try await integer(
                        url, "SELECT count(*) FROM ad.poll_status WHERE rows_inserted = 60 AND state = 'ok'")
                        == 1
                }
                await a.stop()
                await b.stop()
                #expect(
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.data_points p JOIN ad.data_sources s ON s.id = p.source_id WHERE s.name = 'remote-readings'"
                    ) == 60)
                #expect(try await status(url, "remote-readings", "watermark") == "12")
                #expect(try await integer(url, "SELECT rows_duplicate FROM ad.poll_status") > 0, "ties were read again")
                // Values: numbers as the source had them, a NULL metric left out.
                #expect(
                    try await strings(
                        url, "SELECT values::text FROM ad.data_points WHERE \"timestamp\" = '2026-03-01 00:08:00+00'")
                        == [#"{"load": 0.50, "temp": 21}"#])

                // While no worker runs: rows at the last watermark value (12) and past it.
                try await script(
                    remote.url,
                    """
                    INSERT INTO public.readings
                    SELECT g, CASE WHEN g <= 63 THEN 12 ELSE g / 5 END, timestamptz '2026-03-01 00:00:00+00' + g * interval '1 minute', 1, 1, 1
                      FROM generate_series(61, 80) g
                    """)
                let c = try poller(url, "pollc")
                try await expectEventually(url, "no resume", workers: [c]) {
                    try await integer(
                        url, "SELECT count(*) FROM ad.poll_status WHERE rows_inserted = 80 AND state = 'ok'")
                        == 1
                }
                // The worker scores what the poll inserted, as any point.
                #expect(
                    try await eventually(timeout: .seconds(120)) {
                        try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                    }, "not scored: \(c.output)")
                await c.stop()
                #expect(try await integer(url, "SELECT count(*) FROM ad.data_points") == 80)
                #expect(try await status(url, "remote-readings", "last_error") == "")
            }
        }
    }

    /// The source cluster stops: the poll fails with the connection error in the view, the worker goes on scoring
    /// another source, and when the cluster is back the poll catches up.
    @Test func aSourceDatabaseThatIsDownIsReportedRetriedAndCaughtUp() async throws {
        try await SourceCluster.with { remote in
            try await script(
                remote.url,
                """
                CREATE TABLE public.m (ts timestamptz PRIMARY KEY, v double precision);
                INSERT INTO public.m SELECT timestamptz '2026-03-01' + g * interval '1 minute', g FROM generate_series(1, 10) g
                """)
            try await withWorkerDatabase { url in
                try await script(
                    url,
                    "SELECT ad.add_poll_source('remote-m', 'SELECT ts, v FROM public.m', 'ts', poll_interval => '1 second', dsn => \(lit(remote.url.text)))"
                )
                let port = try freeLoopbackPort()
                let w = try poller(url, "polldown", metricsPort: port)
                #expect(
                    try await eventually(timeout: .seconds(120)) {
                        try await status(url, "remote-m", "rows_inserted") == "10"
                    }, "first rows: \(w.output)")
                let rowsSeen = try await eventually(timeout: .seconds(60)) {
                    await metric(port, #"ad_poll_rows_total{source="remote-m"}"#)?.hasSuffix(" 10") == true
                }
                let rowsLine = await metric(port, #"ad_poll_rows_total{source="remote-m"}"#)
                #expect(rowsSeen, "\(rowsLine ?? "no series")")
                #expect(try await pollingFindings(url).map(\.level) == [.ok])
                try remote.stop()
                #expect(
                    try await eventually(timeout: .seconds(120)) {
                        try await status(url, "remote-m", "state") == "failing"
                    }, "no failure: \(w.output)")
                let error = try await status(url, "remote-m", "last_error")
                // A fresh connection is refused, or the one the worker held is cut mid-query: either is a failure
                // to read the source, and which comes first depends on where the worker was when it stopped.
                #expect(
                    error.contains("cannot connect") || error.contains("the poll query failed on the source"),
                    "\(error)")
                #expect(!error.contains("password"), "\(error)")
                #expect(!error.contains("postgres://") && !error.contains(remote.dir), "the DSN shown: \(error)")
                // Doctor and the metrics say so too.
                let findings = try await pollingFindings(url)
                #expect(
                    findings.count == 1 && findings[0].level == .warn
                        && findings[0].detail.contains("remote-m is failing")
                        && findings[0].detail.contains("cannot connect"),
                    "\(findings)")
                let errorsSeen = try await eventually(timeout: .seconds(60)) {
                    let errors = await metric(port, #"ad_poll_errors_total{source="remote-m"}"#)
                    return errors.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } == true
                }
                let errorsLine = await metric(port, #"ad_poll_errors_total{source="remote-m"}"#)
                #expect(errorsSeen, "\(errorsLine ?? "no series")")
                let lagLine = await metric(port, #"ad_poll_lag_seconds{source="remote-m"}"#)
                #expect(lagLine != nil)
                // The worker keeps scoring the other source meanwhile.
                try await insertPoints(url, from: 0, count: 20)
                #expect(
                    try await eventually(timeout: .seconds(120)) {
                        try await integer(
                            url,
                            "SELECT count(*) FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-00000000000a' AND anomaly_score IS NOT NULL"
                        ) == 20
                    }, "scoring stopped: \(w.output)")
                try remote.restart()
                try await script(
                    remote.url,
                    "INSERT INTO public.m SELECT timestamptz '2026-03-01' + g * interval '1 minute', g FROM generate_series(11, 15) g"
                )
                // Backoff: at most five minutes after many failures; the cluster was down for seconds.
                try await expectEventually(url, "no catch-up", timeout: .seconds(240), workers: [w]) {
                    try await integer(
                        url, "SELECT count(*) FROM ad.poll_status WHERE rows_inserted = 15 AND state = 'ok'") == 1
                }
                #expect(try await integer(url, "SELECT errors FROM ad.poll_status") > 0)
                #expect(try await status(url, "remote-m", "consecutive_failures") == "0")
                #expect(try await pollingFindings(url).map(\.level) == [.ok])
                // A removed source loses its series (else its last lag would stand, and alert, until a restart).
                let interval = await metric(port, #"ad_poll_interval_seconds{source="remote-m"}"#)
                #expect(
                    interval?.hasSuffix(" 1.0") == true || interval?.hasSuffix(" 1") == true, "\(interval ?? "none")")
                try await script(url, "SELECT ad.remove_poll_source('remote-m')")
                let gone = try await eventually(timeout: .seconds(60)) {
                    await metric(port, #"ad_poll_lag_seconds{source="remote-m"}"#) == nil
                }
                let left = await metric(port, #"ad_poll_lag_seconds{source="remote-m"}"#)
                #expect(gone, "\(left ?? "")")
                await w.stop()
            }
        }
    }

    /// Careless and hostile queries against the source: each gets a clear error (or its rows refused) in the view,
    /// and a good source polled beside them (a postgres_fdw foreign table of the same cluster) gets all its rows.
    @Test func hostileQueriesFailClearlyAndAForeignTableSourceGoesOn() async throws {
        try await SourceCluster.with { remote in
            try await script(
                remote.url,
                """
                CREATE TABLE public.m (id bigint PRIMARY KEY, ts timestamptz NOT NULL, v double precision, label text);
                INSERT INTO public.m SELECT g, timestamptz '2026-03-01' + g * interval '1 minute', g, 'host-' || g
                  FROM generate_series(1, 30) g;
                INSERT INTO public.m VALUES (31, '2026-03-02', 'NaN', 'bad'), (32, '2026-03-02 00:01', 'Infinity', 'bad')
                """)
            try await withWorkerDatabase { url in
                let socket = remote.url.unixSocketPath.map { ($0 as NSString).deletingLastPathComponent } ?? ""
                try await script(
                    url,
                    """
                    CREATE EXTENSION postgres_fdw;
                    CREATE SERVER src FOREIGN DATA WRAPPER postgres_fdw
                        OPTIONS (host \(lit(socket)), port \(lit(String(remote.url.port))), dbname 'postgres');
                    CREATE USER MAPPING FOR PUBLIC SERVER src OPTIONS (user 'postgres');
                    CREATE FOREIGN TABLE public.remote_m (id bigint, ts timestamptz, v double precision, label text)
                        SERVER src OPTIONS (schema_name 'public', table_name 'm');
                    """)
                let dsn = lit(remote.url.text)
                try await script(
                    url,
                    """
                    SELECT ad.add_poll_source('fdw-good', 'SELECT id, ts, v FROM public.remote_m', 'ts', 'id',
                                              poll_interval => '1 second', max_rows => 8);
                    SELECT ad.add_poll_source('slow', 'SELECT ts, v FROM public.m WHERE pg_sleep(0.5)::text IS NOT NULL',
                                              'ts', poll_interval => '1 second', dsn => \(dsn), query_timeout => '1 second');
                    SELECT ad.add_poll_source('huge', 'SELECT g AS id, now() AS ts, length(repeat(''x'', 1)) AS n,
                                                              repeat(''x'', 5000000) AS blob FROM generate_series(1, 20) g',
                                              'ts', 'id', poll_interval => '1 second', dsn => \(dsn));
                    SELECT ad.add_poll_source('wrong-columns', 'SELECT ts AS t, v FROM public.m', 'ts',
                                              poll_interval => '1 second', dsn => \(dsn));
                    SELECT ad.add_poll_source('words', 'SELECT ts, v, label FROM public.m', 'ts',
                                              poll_interval => '1 second', dsn => \(dsn));
                    SELECT ad.add_poll_source('ties', 'SELECT id, ts, 7 AS batch, v FROM public.m', 'ts', 'batch',
                                              poll_interval => '1 second', dsn => \(dsn), max_rows => 5);
                    """)
                let w = try poller(url, "pollhostile")
                func settled() async throws -> Bool {
                    try await integer(
                        url,
                        """
                        SELECT count(*) FILTER (WHERE source_name = 'fdw-good' AND rows_inserted = 30)
                             + count(*) FILTER (WHERE source_name IN ('slow', 'huge', 'wrong-columns', 'ties')
                                                  AND state = 'failing')
                             + count(*) FILTER (WHERE source_name = 'words' AND rows_rejected = 32)
                          FROM ad.poll_status
                        """) == 6
                }
                try await expectEventually(url, "not settled", timeout: .seconds(180), workers: [w]) {
                    try await settled()
                }
                #expect(try await status(url, "slow", "last_error").contains("statement timeout"))
                #expect(try await status(url, "huge", "last_error").contains("more than 64 MB"))
                #expect(try await status(url, "wrong-columns", "last_error").contains("column q.ts does not exist"))
                #expect(
                    try await status(url, "words", "last_rejection").contains(
                        #"metric "label" must be a finite number, got string"#))
                #expect(try await status(url, "words", "rows_inserted") == "0")
                #expect(
                    try await status(url, "ties", "last_error").contains(
                        "max_rows (5) or more rows have the watermark batch = 7"))
                // The good source: 30 rows, and the NaN and Infinity rows refused by the door's own words.
                #expect(try await status(url, "fdw-good", "rows_rejected") == "2")
                #expect(
                    try await status(url, "fdw-good", "last_rejection").contains("must be a finite number, got string"))
                #expect(
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.data_points p JOIN ad.data_sources s ON s.id = p.source_id WHERE s.name = 'fdw-good'"
                    ) == 30)
                #expect(try await status(url, "fdw-good", "connection") == "local")
                // A reader sees the view, never a DSN.
                #expect(
                    try await integer(
                        url, "SELECT count(*) FROM ad.poll_status s WHERE row_to_json(s)::text LIKE '%postgres://%'")
                        == 0)
                await w.stop()
            }
        }
    }
}
