import ADCore
import ADDBTestSupport
import ADEvaluation
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct WorkerWakesClaimsAndScores {
    @Test func aNotificationWakesTheWorkerLongBeforeItsPoll() async throws {
        try await withWorkerDatabase { url in
            // The poll is an hour (at least 48 minutes with its jitter): a point scored within the wait below can only
            // have been woken by its notification, however busy the machine.
            let w = try WorkerProcess(url, name: "wake", environment: ["AD_POLL_INTERVAL": "3600"])
            #expect(
                try await eventually {
                    let listening = try await integer(
                        url,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wake listen' AND query ILIKE 'LISTEN%'"
                    )
                    let scoring = try await backend(url, "wake score")
                    return listening == 1 && scoring.count == 1
                }, "worker did not start: \(w.output)")
            try await Task.sleep(for: .seconds(1))  // past the catch-up batch: now only a notification can wake it
            try await insertPoints(url, from: 0, count: 5)
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 5
                }, "not scored: \(w.output)")
            await w.stop()
        }
    }

    @Test func pollingAloneScoresWithListenOff() async throws {
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(
                url, name: "poll", environment: ["AD_LISTEN": "false", "AD_POLL_INTERVAL": "0.2"])
            try await insertPoints(url, from: 0, count: 20)
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 20
                }, "not scored: \(w.output)")
            #expect(try await backend(url, "poll listen").isEmpty, "LISTEN is off: no listening connection")
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 20)
            await w.stop()
        }
    }

    @Test func reconnectsAfterTheListeningConnectionIsTerminatedAndCatchesUp() async throws {
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(url, name: "recon", environment: ["AD_POLL_INTERVAL": "60"])
            #expect(
                try await eventually {
                    try await integer(
                        url,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'recon listen' AND query ILIKE 'LISTEN%'"
                    ) == 1
                }, "worker did not start: \(w.output)")
            let old = try await backend(url, "recon listen")
            try await Task.sleep(for: .seconds(1))
            try await sql(
                url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'recon listen'")
            // Inserted while nobody listens: the notification is lost, the rows are not.
            try await insertPoints(url, from: 0, count: 5)
            #expect(
                try await eventually {
                    let now = try await backend(url, "recon listen")
                    return now.count == 1 && now != old
                }, "no new listening connection: \(w.output)")
            #expect(
                try await eventually(timeout: .seconds(10)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 5
                }, "points inserted while disconnected were not caught up: \(w.output)")
            // And the new LISTEN works.
            try await Task.sleep(for: .seconds(1))
            try await insertPoints(url, from: 5, count: 5)
            #expect(
                try await eventually(timeout: .seconds(10)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 10
                }, "not woken after reconnecting: \(w.output)")
            #expect(w.process.isRunning)
            #expect(w.output.contains("reconnecting"))
            await w.stop()
        }
    }

    @Test func latePointsAreScoredFromTheirOwnPast() async throws {
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(url, name: "late", environment: ["AD_POLL_INTERVAL": "0.1"])
            // Minutes 1..100, value = minute.
            try await insertPoints(url, from: 1, count: 100)
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "not scored: \(w.output)")
            // A late point at minute 50.5, then two out of order in one statement: 200 before 150.
            try await sql(
                url,
                #"INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 00:50:30+00', '{"x": 50.5}')"#
            )
            try await sql(
                url,
                #"INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 03:20:00+00', '{"x": 200}'), ('00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 02:30:00+00', '{"x": 150}')"#
            )
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "late points not scored: \(w.output)")

            // The expected window of each: the 60 latest values strictly before it, whatever arrived later.
            let all: [(minute: Double, value: Double)] =
                (1...100).map { (Double($0), Double($0)) } + [(50.5, 50.5), (150, 150), (200, 200)]
            func expectedMedian(before minute: Double) -> (n: Int, median: Double) {
                let window = all.filter { $0.minute < minute }.sorted { $0.minute < $1.minute }.suffix(60)
                return (window.count, median(window.map(\.value)))
            }
            for minute in [50.5, 150.0, 200.0] {
                let seconds = Int(minute * 60)
                let got =
                    try await strings(
                        url,
                        """
                        SELECT (features -> 'x' ->> 'n') || ' ' || (features -> 'x' ->> 'median') FROM ad.data_points
                         WHERE "timestamp" = timestamptz '2026-01-01 00:00:00+00' + interval '\(seconds) seconds'
                        """
                    ).first?.split(separator: " ").compactMap { Double($0) } ?? []
                let want = expectedMedian(before: minute)
                #expect(
                    got.count == 2 && Int(got[0]) == want.n && abs(got[1] - want.median) < 1e-3,
                    "minute \(minute): features n, median = \(got), want \(want)")
            }
            // Points scored before the late one arrived keep their scores: one scoring each.
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 103)
            #expect(try await integer(url, "SELECT count(DISTINCT point_id) FROM public.score_events") == 103)
            await w.stop()
        }
    }

    @Test(arguments: ["100000", "0"])
    func pointsArrivingOneByOneGetExactWindowsWithOrWithoutTheHistoryCache(cache: String) async throws {
        // Each point is scored before the next arrives, so with the cache every batch after the first takes its
        // history from the worker's memory (the database proves nothing came between); without it, from SQL.
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(
                url, name: "cache\(cache)", environment: ["AD_POLL_INTERVAL": "0.05", "AD_HISTORY_CACHE": cache])
            for minute in 1...75 {
                try await insertPoints(url, from: minute, count: 1, value: "g * g % 17")
                #expect(
                    try await eventually {
                        try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                    }, "point \(minute) not scored: \(w.output)")
            }
            let values = (1...75).map { Double($0 * $0 % 17) }
            for minute in [3, 30, 61, 75] {
                let window = Array(values[0..<(minute - 1)].suffix(60))
                // The median (the window's centre) once the window reaches min_history (12); none before.
                let want = window.count >= 12 ? [Double(window.count), median(window)] : [Double(window.count)]
                let got =
                    try await strings(
                        url,
                        """
                        SELECT concat_ws(' ', features -> 'x' ->> 'n', features -> 'x' ->> 'median')
                          FROM ad.data_points WHERE "timestamp" = timestamptz '2026-01-01 00:00:00+00' + interval '\(minute) minutes'
                        """
                    ).first?.split(separator: " ").compactMap { Double($0) } ?? []
                #expect(
                    got.count == want.count && zip(got, want).allSatisfy { abs($0 - $1) < 1e-3 },
                    "minute \(minute): n, median = \(got); want \(want)")
            }
            await w.stop()
        }
    }

    @Test(arguments: ["100000", "0"])
    func eachPointCarriesItsDifferenceFromADayBeforeToTheNext(cache: String) async throws {
        // Hourly points over three days, arriving in three deliveries. Each point stores x minus its value a day
        // before (dd), and once the window holds enough of them the seasonal stream judges the point against them
        // (daily_ratio), whether they came from the worker's cache or from the stored features of earlier points.
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(
                url, name: "season\(cache)", environment: ["AD_POLL_INTERVAL": "0.05", "AD_HISTORY_CACHE": cache])
            let value = "round((100 + 50 * sin(g * pi() / 12))::numeric, 3) + g % 5"
            for (from, count) in [(0, 30), (30, 20), (50, 22)] {
                try await sql(
                    url,
                    """
                    INSERT INTO ad.data_points (source_id, "timestamp", values)
                    SELECT '00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour',
                           jsonb_build_object('x', \(value))
                      FROM generate_series(\(from), \(from + count - 1)) g
                    """)
                #expect(
                    try await eventually {
                        try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                    }, "not scored: \(w.output)")
            }
            // dd is exact: x minus the value 24 hours before, for every point from hour 24 on, and absent before.
            #expect(
                try await integer(
                    url,
                    """
                    SELECT count(*) FROM ad.data_points p JOIN ad.data_points q
                        ON q."timestamp" = p."timestamp" - interval '1 day'
                     WHERE (p.features -> 'x' ->> 'dd')::float8 = (p.values ->> 'x')::float8 - (q.values ->> 'x')::float8
                    """) == 72 - 24)
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.data_points WHERE features -> 'x' ? 'dd'") == 72 - 24)
            // From hour 24 + 12 (min_history differences in the window), every point is judged seasonally.
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.data_points WHERE features -> 'x' ? 'daily_ratio'")
                    == 72 - 36)
            await w.stop()
        }
    }

    // The default window (1,000) never fills here; 30 does, so the sorted windows also drop values as they slide,
    // and the batch's widest window (60, of src-a) is wider than these sources' own.
    @Test(arguments: ["{}", #"{"window": 30}"#])
    func theHistoryCacheChangesNoFeatureAndNoScore(config: String) async throws {
        // The same hourly series (three metrics, one named with a quote and an accent, daily seasonality, two
        // spikes, a late point) goes to one source scored with the history cache and to another scored without
        // it, in batches of 7 over three deliveries: with the cache most batches take the cached query (which
        // reads the metrics from the claimed values' text), and the late point and the batch after it the general one.
        try await withWorkerDatabase { url in
            let (cached, uncached) = ("00000000-0000-0000-0000-0000000000cb", "00000000-0000-0000-0000-0000000000cc")
            try await sql(
                url,
                "INSERT INTO ad.data_sources (id, name, config) VALUES ('\(cached)', 'cached', '\(config)'), ('\(uncached)', 'uncached', '\(config)')"
            )
            func deliver(_ source: String, _ hours: String) async throws {
                try await sql(
                    url,
                    """
                    INSERT INTO ad.data_points (source_id, "timestamp", values)
                    SELECT '\(source)', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour',
                           jsonb_build_object('x', round((100 + 50 * sin(g * pi() / 12))::numeric, 3) + (g::int8 * 7919 % 13),
                                              'y', (g::int8 * 104729 % 17) + CASE WHEN g IN (41, 66) THEN 90 ELSE 0 END,
                                              'q"é', (g::int8 * 31 % 7)::numeric / 3)
                      FROM unnest(\(hours)) g
                    """)
            }
            var settings = WorkerSettings()
            settings.batchSize = 7
            var hits: [Int] = []
            for (source, capacity) in [(cached, 100), (uncached, 0)] {
                try await Database.withConnection(url, logger: TestServer.logger) { conn in
                    let scorer = ScoringCycle(settings: settings, logger: TestServer.logger)
                    try await scorer.prepare(conn)
                    var catalog = try await SourceCatalog.load(conn, logger: TestServer.logger)
                    var cache = HistoryCache(capacity: capacity, depth: catalog.maxWindow)
                    var timings = ScoringTimings()
                    for hours in [
                        "array(SELECT generate_series(0, 39)::float8)", "array(SELECT generate_series(40, 59)::float8)",
                        "array[20.5::float8] || array(SELECT generate_series(60, 79)::float8)",
                    ] {
                        try await deliver(source, hours)
                        while try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings).scored > 0
                        {}
                    }
                    hits.append(timings.cacheHits)
                }
            }
            #expect(hits[0] > 40 && hits[1] == 0, "cache hits with and without the cache: \(hits)")
            #expect(try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0)
            let differing = try await strings(
                url,
                """
                SELECT a."timestamp"::text FROM ad.data_points a JOIN ad.data_points b USING ("timestamp")
                 WHERE a.source_id = '\(cached)' AND b.source_id = '\(uncached)'
                   AND (a.features IS DISTINCT FROM b.features OR a.anomaly_score IS DISTINCT FROM b.anomaly_score)
                """)
            #expect(differing.isEmpty, "points whose features or score depend on the cache: \(differing)")
            #expect(
                try await integer(
                    url,
                    """
                    SELECT count(*) FROM ad.data_points a JOIN ad.data_points b USING ("timestamp")
                     WHERE a.source_id = '\(cached)' AND b.source_id = '\(uncached)'
                    """) == 81)
            // The seasonal stream and the spikes were reached: the comparison covers them.
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.data_points WHERE source_id = '\(cached)' AND features -> 'x' ? 'daily_ratio'"
                ) > 0)
            #expect(try await integer(url, "SELECT count(*) FROM ad.anomalies WHERE source_id = '\(cached)'") > 0)
        }
    }

    @Test func theDetectorStateIsStoredAtCheckpointsAndALatePointStartsFromTheNearest() async throws {
        // One minutely series scored in two batches of 20: each batch stores the state (`lik`) on its latest point
        // and on every 8th before it; the rest do not carry it. A late point starts from the nearest earlier one.
        try await withWorkerDatabase { url in
            try await insertPoints(url, from: 1, count: 40)
            var settings = WorkerSettings()
            settings.batchSize = 20
            func drain() async throws {
                try await Database.withConnection(url, logger: TestServer.logger) { conn in
                    let scorer = ScoringCycle(settings: settings, logger: TestServer.logger)
                    try await scorer.prepare(conn)
                    var catalog = try await SourceCatalog.load(conn, logger: TestServer.logger)
                    var cache = HistoryCache(capacity: 100, depth: catalog.maxWindow)
                    var timings = ScoringTimings()
                    while try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings).scored > 0 {}
                }
            }
            try await drain()
            let minutesWithState = """
                SELECT (extract(epoch FROM "timestamp" - timestamptz '2026-01-01 00:00:00+00')::int / 60)::text FROM ad.data_points
                 WHERE features -> 'x' ? 'lik' ORDER BY "timestamp"
                """
            let stored = try await strings(url, minutesWithState)
            #expect(stored == ["4", "12", "20", "24", "32", "40"], "minutes whose features store the state: \(stored)")
            // The value stream's baseline counts one more per judged point: the late point's is minute 32's plus one.
            try await sql(
                url,
                #"INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 00:35:30+00', '{"x": 35.5}')"#
            )
            try await drain()
            let counts = try await strings(
                url,
                """
                SELECT features -> 'x' -> 'lik' ->> 0 FROM ad.data_points
                 WHERE "timestamp" IN (timestamptz '2026-01-01 00:32:00+00', timestamptz '2026-01-01 00:35:30+00') ORDER BY "timestamp"
                """
            ).compactMap { Int($0) }
            #expect(
                counts.count == 2 && counts[0] > 0 && counts[1] == counts[0] + 1,
                "value-stream counts at minutes 32, 35.5: \(counts)")
        }
    }

    @Test func theWorkerReadsAPointsNumbersExactlyAsPostgreSQLDoes() async throws {
        // The cached path reads metrics from the claimed values' text; the general one by (values ->> metric)::float8.
        // float8's text (shortest exact, extra_float_digits 1) is compared: the same double, to the bit.
        try await withWorkerDatabase { url in
            let numbers = [
                "0.1", "0.30000000000000004", "123456789.123456789123456789", "9007199254740993", "-0.000001",
                "1e-310", "2.4703282292062328e-324", "1.7976931348623157e308", "4.9406564584124654e-324", "1e22", "-7",
            ]
            for n in numbers {
                let got = try await strings(
                    url,
                    """
                    SELECT v::text || '|' || (v ->> 'x')::float8::text FROM (SELECT jsonb_build_object('x', '\(n)'::numeric) AS v) s
                    """)
                let parts = try #require(got.first?.split(separator: "|"))
                let parsed = try #require(MetricValues.parse(String(parts[0]))?.first?.value, "\(n): \(parts[0])")
                let postgres = try #require(Double(String(parts[1])))
                #expect(parsed.bitPattern == postgres.bitPattern, "\(n): \(parsed) against \(postgres)")
            }
        }
    }

    @Test func twoLoopsShareTheSourcesAndScoreEveryPointOnce() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, "INSERT INTO ad.data_sources (name) SELECT 'part-' || g FROM generate_series(1, 19) g")
            try await sql(
                url,
                """
                INSERT INTO ad.data_points (source_id, "timestamp", values)
                SELECT s.id, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute', jsonb_build_object('x', g % 7)
                  FROM ad.data_sources s, generate_series(0, 29) g
                """)
            var settings = WorkerSettings()
            settings.batchSize = 100
            var seen: [[String]] = []
            for k in 0..<2 {
                try await Database.withConnection(url, logger: TestServer.logger) { conn in
                    let scorer = ScoringCycle(settings: settings, logger: TestServer.logger, partition: (k, 2))
                    try await scorer.prepare(conn)
                    var catalog = try await SourceCatalog.load(conn, logger: TestServer.logger)
                    var cache = HistoryCache(capacity: 100, depth: 60)
                    var timings = ScoringTimings()
                    while try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings).scored > 0 {}
                }
                seen.append(
                    try await strings(
                        url,
                        """
                        SELECT DISTINCT p.source_id::text FROM public.score_events e JOIN ad.data_points p ON p.id = e.point_id ORDER BY 1
                        """))
            }
            // 20 random source ids all hashing to one side: odds of one in half a million.
            #expect(!seen[0].isEmpty && seen[0].count < 20, "the first loop took some of the sources, not all")
            #expect(seen[1].count == 20, "the second took the rest")
            #expect(try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0)
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 600)
            #expect(try await integer(url, "SELECT count(DISTINCT point_id) FROM public.score_events") == 600)
        }
    }

    @Test func threeWorkersScoreEveryPointExactlyOnce() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, "INSERT INTO ad.data_sources (name) SELECT 'many-' || g FROM generate_series(1, 29) g")
            let env = ["AD_BATCH_SIZE": "50", "AD_POLL_INTERVAL": "0.1"]
            let workers = try (1...3).map { try WorkerProcess(url, name: "many\($0)", environment: env) }
            for round in 0..<10 {
                try await sql(
                    url,
                    """
                    INSERT INTO ad.data_points (source_id, "timestamp", values)
                    SELECT s.id, timestamptz '2026-01-01 00:00:00+00' + (\(round) * 10 + g) * interval '1 minute',
                           jsonb_build_object('x', (\(round) * 10 + g) % 7)
                      FROM ad.data_sources s, generate_series(0, 9) g
                    """)
            }
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "not all scored: \(workers.map(\.output))")
            #expect(try await integer(url, "SELECT count(*) FROM ad.data_points") == 3000)
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 3000)
            #expect(try await integer(url, "SELECT count(DISTINCT point_id) FROM public.score_events") == 3000)
            for w in workers { await w.stop() }
        }
    }

    /// Holds ACCESS EXCLUSIVE on ad.anomalies so a worker blocks mid-batch (after claiming and updating, at the
    /// anomaly insert) until `release` is called.
    final class AnomalyTableLock: Sendable {
        let connection: PostgresConnection
        init(_ url: DatabaseURL) async throws {
            connection = try await PostgresConnection.connect(
                configuration: Database.configuration(for: url), id: 99, logger: TestServer.logger)
            try await connection.query("BEGIN", logger: TestServer.logger)
            try await connection.query("LOCK TABLE ad.anomalies IN ACCESS EXCLUSIVE MODE", logger: TestServer.logger)
        }
        func release() async throws {
            try await connection.query("COMMIT", logger: TestServer.logger)
            try await connection.close()
        }
    }

    /// 40 ordinary points and a spike, so the batch has an anomaly to insert.
    func insertBatchWithSpike(_ url: DatabaseURL) async throws {
        try await insertPoints(url, from: 0, count: 40, value: "50 + (g % 5)")
        try await insertPoints(url, from: 40, count: 1, value: "500")
    }

    @Test func aWorkerKilledMidBatchLosesNothing() async throws {
        try await withWorkerDatabase { url in
            try await insertBatchWithSpike(url)
            let lock = try await AnomalyTableLock(url)
            let victim = try WorkerProcess(url, name: "victim", environment: ["AD_POLL_INTERVAL": "0.2"])
            #expect(
                try await eventually {
                    try await integer(
                        url,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'victim score%' AND wait_event_type = 'Lock'"
                    ) == 1
                }, "worker never blocked mid-batch: \(victim.output)")
            victim.signal(SIGKILL)
            _ = await victim.waitForExit()
            try await lock.release()
            #expect(
                try await eventually {
                    try await integer(
                        url, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'victim score%'") == 0
                }, "the dead worker's backend lingers")
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 41,
                "the killed batch was rolled back")
            #expect(try await integer(url, "SELECT count(*) FROM ad.anomalies") == 0)

            let next = try WorkerProcess(url, name: "heir", environment: ["AD_POLL_INTERVAL": "0.2"])
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "the next claim did not score the batch: \(next.output)")
            #expect(try await integer(url, "SELECT count(*) FROM ad.anomalies") >= 1)
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 41)
            #expect(try await integer(url, "SELECT count(DISTINCT point_id) FROM public.score_events") == 41)
            await next.stop()
            await victim.stop()
        }
    }

    @Test func sigtermFinishesTheBatchInFlightThenExitsZero() async throws {
        try await withWorkerDatabase { url in
            try await insertBatchWithSpike(url)
            let lock = try await AnomalyTableLock(url)
            let w = try WorkerProcess(url, name: "graceful", environment: ["AD_POLL_INTERVAL": "0.2"])
            #expect(
                try await eventually {
                    try await integer(
                        url,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'graceful score%' AND wait_event_type = 'Lock'"
                    ) == 1
                }, "worker never blocked mid-batch: \(w.output)")
            w.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(500))
            #expect(w.process.isRunning, "it must finish the batch before exiting")
            try await lock.release()
            #expect(await w.waitForExit() == 0, "exit status: \(w.output)")
            #expect(try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0)
            #expect(try await integer(url, "SELECT count(*) FROM ad.anomalies") >= 1)
            #expect(w.output.contains("scoring stopped"))
            await w.stop()
        }
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct BadConfigurationIsRefusedClearly {
    @Test(arguments: badSourceConfigs)
    func theSQLCheckSaysWhatTheWorkerSays(json: String, message: String) async throws {
        // One table of cases for both implementations: the SQL trigger and the worker's parser agree.
        try await withScratchDatabase { url in
            try await migrate(url)
            let literal = json.replacingOccurrences(of: "'", with: "''")
            #expect(try await strings(url, "SELECT ad.config_problem('\(literal)'::jsonb)") == [message])
            await #expect(throws: SQLFailure.self) {
                try await sql(url, "INSERT INTO ad.data_sources (name, config) VALUES ('bad', '\(literal)'::jsonb)")
            }
        }
    }

    @Test func theRejectionNamesTheFieldAndTheSource() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(url, "INSERT INTO ad.data_sources (name) VALUES ('web-1')")
            do {
                try await sql(url, #"UPDATE ad.data_sources SET config = '{"window": 0}' WHERE name = 'web-1'"#)
                Issue.record("a bad config was accepted")
            } catch let failure as SQLFailure {
                #expect(
                    failure.description.hasPrefix(
                        #"ad.data_sources: config.window: must be an integer from 10 to 1000, got 0 (source "web-1")"#))
            }
        }
    }

    @Test func aPausedSourceKeepsItsPointsUnscoredUntilItIsActiveAgain() async throws {
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(
                url, name: "paused", environment: ["AD_POLL_INTERVAL": "0.1", "AD_CONFIG_REFRESH": "0.2"])
            #expect(
                try await eventually { try await backend(url, "paused score").count == 1 },
                "worker did not start: \(w.output)")
            // Created after the worker loaded its catalog: the claim meets a source it does not know.
            try await sql(
                url,
                "INSERT INTO ad.data_sources (id, name, status) VALUES ('00000000-0000-0000-0000-00000000000c', 'src-p', 'paused')"
            )
            try await insertPoints(url, from: 0, count: 10, source: "00000000-0000-0000-0000-00000000000c")
            try await insertPoints(url, from: 0, count: 10)
            #expect(
                try await eventually {
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-00000000000a' AND anomaly_score IS NULL"
                    ) == 0
                }, "the active source was held up: \(w.output)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-00000000000c' AND anomaly_score IS NULL"
                ) == 10,
                "a paused source's points wait")
            try await sql(url, "UPDATE ad.data_sources SET status = 'active' WHERE name = 'src-p'")
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "resumed source not scored: \(w.output)")
            await w.stop()
        }
    }

    @Test func theWorkerSkipsASourceWithAnUnusableConfigAndScoresTheRest() async throws {
        try await withWorkerDatabase { url in
            // Only the owner can get a bad config past the trigger; the worker must still cope.
            try await sql(url, "ALTER TABLE ad.data_sources DISABLE TRIGGER check_source_config")
            try await sql(
                url,
                #"INSERT INTO ad.data_sources (id, name, config) VALUES ('00000000-0000-0000-0000-00000000000b', 'src-b', '{"window": 0}')"#
            )
            try await sql(url, "ALTER TABLE ad.data_sources ENABLE TRIGGER check_source_config")
            let w = try WorkerProcess(
                url, name: "badcfg", environment: ["AD_POLL_INTERVAL": "0.1", "AD_CONFIG_REFRESH": "0.2"])
            try await insertPoints(url, from: 0, count: 10)
            try await insertPoints(url, from: 0, count: 10, source: "00000000-0000-0000-0000-00000000000b")
            #expect(
                try await eventually {
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-00000000000a' AND anomaly_score IS NULL"
                    ) == 0
                }, "the good source was held up: \(w.output)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.data_points WHERE source_id = '00000000-0000-0000-0000-00000000000b' AND anomaly_score IS NULL"
                ) == 10,
                "points of a source with an unusable config stay unscored, not lost")
            #expect(
                w.output.contains("source src-b")
                    && w.output.contains("config.window: must be an integer from 10 to 1000"))
            try await sql(url, #"UPDATE ad.data_sources SET config = '{"window": 20}' WHERE name = 'src-b'"#)
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "fixed config not picked up: \(w.output)")
            await w.stop()
        }
    }

    @Test(
        .enabled(
            if: !TestServer.timescale,
            "TimescaleDB run: a TimescaleDB retention policy drops chunks, not the worker (pgTAP storage test)"))
    func theWorkerAppliesRetention() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, "SELECT ad.set_retention('1 day')")
            try await sql(
                url,
                #"INSERT INTO ad.data_points (source_id, "timestamp", values) SELECT '00000000-0000-0000-0000-00000000000a', now() - g * interval '1 hour', '{"x": 1}' FROM generate_series(0, 47) g"#
            )
            let w = try WorkerProcess(
                url, name: "retention", environment: ["AD_RETENTION_INTERVAL": "0.2", "AD_POLL_INTERVAL": "0.2"])
            #expect(
                try await eventually {
                    try await integer(url, "SELECT count(*) FROM ad.data_points") == 24
                }, "points older than a day were not removed: \(w.output)")
            await w.stop()
        }
    }

    @Test func aBadSettingStopsTheWorkerAtStartNamingIt() async throws {
        try await withScratchDatabase { url in
            let w = try WorkerProcess(url, name: "badenv", environment: ["AD_BATCH_SIZE": "0"])
            let status = await w.waitForExit()
            #expect(status != nil && status != 0)
            #expect(w.output.contains("AD_BATCH_SIZE: must be an integer from 1 to 100000, got \"0\""))
            await w.stop()
        }
    }
}

/// The median of `values`, as the scorer takes a window's centre.
private func median(_ values: [Double]) -> Double {
    var v = values
    return Stats.median(&v) ?? .nan
}
