import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import PostgresNIO
import Testing

// Issue 18: the limits at the door of ad.data_points (items 2) and the server's point ids (item 3), through the
// real scoring cycle and feedback processor.

private let sourceA = "00000000-0000-0000-0000-00000000000a"
private let sourceB = "00000000-0000-0000-0000-00000000000b"
private let mapRoot = "INSERT INTO ad.users (name, db_role) VALUES ('Root Operator', session_user)"

/// Scores every unscored point the way `adworker run` does, alerts included.
private func scoreAll(_ url: DatabaseURL) async throws {
    do {
        try await Database.withConnection(url, logger: TestServer.logger) { conn in
            var settings = WorkerSettings()
            settings.statementTimeout = 600  // a busy machine must not fail the test
            let scorer = ScoringCycle(settings: settings, logger: TestServer.logger)
            try await scorer.prepare(conn)
            var catalog = try await SourceCatalog.load(conn, logger: TestServer.logger)
            var cache = HistoryCache(capacity: 1000, depth: SourceConfig.defaults.window)
            var timings = ScoringTimings()
            while try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings).scored > 0 {}
        }
    } catch { throw SQLFailure(description: "scoring: \(describe(error))") }
}

/// Runs feedback passes until the queue is empty; returns how many rows were processed.
private func processFeedback(_ url: DatabaseURL) async throws -> Int {
    do {
        return try await Database.withConnection(url, logger: TestServer.logger) { conn in
            var total = 0
            while true {
                let n = try await FeedbackProcessor(logger: TestServer.logger).pass(conn, limit: 100)
                if n == 0 { return total }
                total += n
            }
        }
    } catch { throw SQLFailure(description: "feedback: \(describe(error))") }
}

private func failure(_ url: DatabaseURL, _ statement: String) async -> String? {
    do { try await sql(url, statement); return nil } catch { return "\(error)" }
}

/// Forty calm points of metric `metric` (an SQL expression) on `source` from minute `from`, then a spike.
private func calmThenSpike(
    _ url: DatabaseURL, metric: String, source: String = sourceA, from: Int = 0, id: String? = nil
) async throws {
    let idColumn = id == nil ? "" : "id, "
    let idValue = id.map { "'\($0)'::uuid, " } ?? ""
    try await sql(
        url,
        """
        INSERT INTO ad.data_points (\(idColumn)source_id, "timestamp", values)
        SELECT \(idValue)'\(source)', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
               jsonb_build_object(\(metric), CASE WHEN g = \(from + 40) THEN 500 ELSE 50 + (g % 5) END)
          FROM generate_series(\(from), \(from + 40)) g
        """)
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct LimitsAtTheDoor {
    static let insert = #"INSERT INTO ad.data_points (source_id, "timestamp", values) VALUES ('\#(sourceA)', "#

    @Test func aTenThousandCharacterMetricNameIsRefusedNamingTheLimitTheSourceAndTheTime() async throws {
        try await withWorkerDatabase { (url: DatabaseURL) async throws -> Void in
            let e = await failure(
                url, Self.insert + "'2026-01-01 00:00+00', jsonb_build_object(repeat('m', 10240), 1))")
            #expect(
                e?.contains("has 10240 characters, more than 200 (limit max_metric_name_length)") == true,
                "\(e ?? "accepted")")
            #expect(e?.contains("(source \(sourceA), time ") == true, "\(e ?? "accepted")")
            #expect(e?.contains("ad.set_point_limit") == true, "the hint says how the owner changes it")
            let ctl = await failure(url, Self.insert + #"'2026-01-01 00:00+00', '{"cpu\n": 1}')"#)
            #expect(ctl?.contains("contains the control character U+000A") == true, "\(ctl ?? "accepted")")
            #expect(try await integer(url, "SELECT count(*) FROM ad.data_points") == 0)
        }
    }

    @Test func aMillionMetricRowAndARowOverTheByteLimitAreRefused() async throws {
        try await withWorkerDatabase { (url: DatabaseURL) async throws -> Void in
            let million = await failure(
                url,
                Self.insert
                    + "'2026-01-01 00:00+00', (SELECT jsonb_object_agg('m' || g, 1) FROM generate_series(1, 1000000) g))"
            )
            #expect(
                million?.contains("1000000 metrics in one row, more than 1000 (limit max_metrics_per_row)") == true,
                "\(million ?? "accepted")")
            // 500 metrics of 150-character names: under the metric limit, over the 64 KiB default.
            let wide = await failure(
                url,
                Self.insert
                    + "'2026-01-01 00:00+00', (SELECT jsonb_object_agg(repeat('m', 150) || g, 1) FROM generate_series(1, 500) g))"
            )
            #expect(wide?.contains("more than 65536 (limit max_row_bytes)") == true, "\(wide ?? "accepted")")
            // A correction is a way in too: ad.upsert_point and UPDATE apply the same limits.
            try await sql(url, Self.insert + #"'2026-01-01 00:00+00', '{"cpu": 1}')"#)
            let upsert = await failure(
                url,
                "SELECT ad.upsert_point('\(sourceA)', '2026-01-01 00:00+00', jsonb_build_object(repeat('m', 201), 1))")
            #expect(upsert?.contains("(limit max_metric_name_length)") == true, "\(upsert ?? "accepted")")
            let update = await failure(
                url,
                "UPDATE ad.data_points SET values = (SELECT jsonb_object_agg('m' || g, 1) FROM generate_series(1, 1001) g)"
            )
            #expect(update?.contains("(limit max_metrics_per_row)") == true, "\(update ?? "accepted")")
        }
    }

    @Test func timesOutsideTheAcceptedRangeAreRefusedAndTheOwnerMovesTheRange() async throws {
        try await withWorkerDatabase { (url: DatabaseURL) async throws -> Void in
            let far = await failure(url, Self.insert + #"'294270-01-01 00:00+00', '{"cpu": 1}')"#)
            // TimescaleDB refuses this one itself ("timestamp out of range"), before any trigger runs.
            #expect(
                far?.contains("(limit max_point_time_ahead)") == true
                    || (TestServer.timescale && far?.contains("timestamp out of range") == true), "\(far ?? "accepted")"
            )
            let soon = await failure(url, Self.insert + #"'2200-01-01 00:00+00', '{"cpu": 1}')"#)
            #expect(
                soon?.contains("time is more than 1 day ahead of the server's clock (limit max_point_time_ahead)")
                    == true,
                "\(soon ?? "accepted")")
            let bc = await failure(url, Self.insert + #"'4714-11-24 00:00+00 BC', '{"cpu": 1}')"#)
            #expect(bc?.contains("the earliest accepted (limit min_point_time)") == true, "\(bc ?? "accepted")")
            try await sql(url, Self.insert + #"'1970-01-01 00:00+00', '{"cpu": 1}')"#)  // the bound itself is in
            try await sql(url, Self.insert + #"now() + interval '23 hours', '{"cpu": 1}')"#)
            #expect(
                try await strings(url, "SELECT ad.set_point_limit('min_point_time', '1900-01-01 00:00+00')")
                    == ["min_point_time = 1900-01-01 00:00:00+00"])
            try await sql(url, Self.insert + #"'1950-06-01 00:00+00', '{"cpu": 1}')"#)
            let bad = await failure(url, "SELECT ad.set_point_limit('max_point_time_ahead', '1000 years')")
            #expect(bad?.contains("(allowed: from 0 to 100 years)") == true, "\(bad ?? "accepted")")
            let direct = await failure(
                url, #"INSERT INTO ad.settings (key, value, description) VALUES ('max_row_bytes', '1', 'x')"#)
            #expect(direct?.contains("(allowed: from 64 to 16777216)") == true, "settings rows are checked too")
            try await sql(url, "SELECT ad.set_point_limit('min_point_time', NULL)")
            let again = await failure(url, Self.insert + #"'1950-06-02 00:00+00', '{"cpu": 1}')"#)
            #expect(again?.contains("(limit min_point_time)") == true, "back to the default: \(again ?? "accepted")")
        }
    }

    /// The longest name the owner may allow, in characters of four bytes each (the worst case for every index on a
    /// metric name), is scored, raises an alert, and is learned from.
    @Test func aMetricNameAtTheLimitGoesThroughScoringAlertAndFeedback() async throws {
        try await withWorkerDatabase { (url: DatabaseURL) async throws -> Void in
            #expect(
                try await strings(url, "SELECT ad.set_point_limit('max_metric_name_length', '600')")
                    == ["max_metric_name_length = 600"])
            let over = await failure(
                url, Self.insert + "'2026-01-01 00:00+00', jsonb_build_object(repeat('m', 601), 1))")
            #expect(over?.contains("(limit max_metric_name_length)") == true, "\(over ?? "accepted")")
            // 600 different characters from U+1D400 on (4 bytes each in UTF-8), so no index compresses them away.
            let name =
                "(SELECT string_agg(chr(119808 + (g * 7919) % 1000), '' ORDER BY g) FROM generate_series(1, 600) g)"
            #expect(try await integer(url, "SELECT octet_length(\(name))") == 2400)
            try await sql(url, "INSERT INTO ad.alert_rules (name) VALUES ('r')")
            try await sql(url, mapRoot)
            try await calmThenSpike(url, metric: name)
            try await scoreAll(url)
            #expect(try await integer(url, "SELECT count(*) FROM ad.anomalies WHERE metric = \(name)") == 1)
            #expect(try await integer(url, "SELECT count(*) FROM ad.alerts WHERE metric = \(name)") == 1)
            try await sql(url, "SELECT ad.mark_false_positive(id, 'deploy') FROM ad.anomalies")
            #expect(try await processFeedback(url) == 1)
            #expect(try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments WHERE metric = \(name)") == 1)
        }
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct ServerAssignedPointIds {
    static let loaderID = "11111111-1111-1111-1111-111111111111"

    /// Each anomaly's source, and "t" when it refers to its own point by the server's id (not the loader's).
    func anomalies(_ url: DatabaseURL) async throws -> [String] {
        try await strings(
            url,
            """
            SELECT format('%s %s', a.source_id, a.data_point_id = p.id AND p.id <> '\(Self.loaderID)'
                                                 AND p.id = ad_internal.point_id(p.source_id, p."timestamp"))
              FROM ad.anomalies a JOIN ad.data_points p ON p.source_id = a.source_id AND p."timestamp" = a.point_timestamp
             ORDER BY a.source_id
            """)
    }

    @Test func twoSourcesSendingTheSameIdInOneBatchKeepBothAnomalies() async throws {
        try await withWorkerDatabase { (url: DatabaseURL) async throws -> Void in
            try await sql(
                url, "INSERT INTO ad.data_sources (id, name, config) VALUES ('\(sourceB)', 'src-b', '{\"window\": 60}')"
            )
            for s in [sourceA, sourceB] { try await calmThenSpike(url, metric: "'x'", source: s, id: Self.loaderID) }
            try await scoreAll(url)
            let got = try await anomalies(url)
            #expect(got == ["\(sourceA) t", "\(sourceB) t"], "\(got)")
            #expect(try await integer(url, "SELECT count(DISTINCT id) FROM ad.data_points") == 82)
        }
    }

    @Test func aSecondSourceWithTheSameIdDoesNotOverwriteTheFirstsAnomaly() async throws {
        try await withWorkerDatabase { (url: DatabaseURL) async throws -> Void in
            try await sql(
                url, "INSERT INTO ad.data_sources (id, name, config) VALUES ('\(sourceB)', 'src-b', '{\"window\": 60}')"
            )
            try await calmThenSpike(url, metric: "'x'", source: sourceA, id: Self.loaderID)
            try await scoreAll(url)
            try await calmThenSpike(url, metric: "'x'", source: sourceB, id: Self.loaderID)
            try await scoreAll(url)
            let got = try await anomalies(url)
            #expect(got == ["\(sourceA) t", "\(sourceB) t"], "\(got)")
        }
    }
}
