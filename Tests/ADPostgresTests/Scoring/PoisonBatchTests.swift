import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import PostgresNIO
import Testing

/// Issue 18, "No poison batch": a batch that fails for its rows is split until the failing points stand alone,
/// those are quarantined with the error, and every other point is scored; a batch that hits the statement timeout
/// is retried smaller; values and times at the ends of what the door accepts are scored. Each through the real
/// worker.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct NoPoisonBatch {
    static let a = "00000000-0000-0000-0000-00000000000a", b = "00000000-0000-0000-0000-00000000000b"
    static let far = "00000000-0000-0000-0000-00000000000f"

    /// A second source, src-b, and a test trigger that makes any scoring UPDATE touching a point whose values have
    /// the metric "poison" fail as a data exception would (22023): the stand-in for "an error tied to the rows"
    /// whatever its cause.
    static func poisonTrigger(_ url: DatabaseURL) async throws {
        try await sql(url, "INSERT INTO ad.data_sources (id, name) VALUES ('\(b)', 'src-b')")
        try await sql(
            url,
            """
            CREATE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.anomaly_score IS NOT NULL AND NEW.values ? 'poison' THEN
                    RAISE EXCEPTION 'poisoned point at %', NEW."timestamp" USING ERRCODE = '22023';
                END IF;
                RETURN NEW;
            END $$
            """)
        try await sql(
            url, "CREATE TRIGGER poison BEFORE UPDATE ON ad.data_points FOR EACH ROW EXECUTE FUNCTION public.poison()")
    }

    @Test func poisonPointsAreQuarantinedWithTheirErrorAndEveryOtherPointOfEverySourceIsScored() async throws {
        try await withWorkerDatabase { url in
            try await Self.poisonTrigger(url)
            try await insertPoints(url, from: 0, count: 300)
            try await insertPoints(url, from: 0, count: 300, source: Self.b)
            // Three poison points: two in src-a (one at the very start), one in src-b.
            try await sql(
                url,
                """
                UPDATE ad.data_points SET values = values || '{"poison": 1}'
                 WHERE (source_id = '\(Self.a)' AND "timestamp" IN (timestamptz '2026-01-01 00:00:00+00',
                                                                     timestamptz '2026-01-01 02:00:00+00'))
                    OR (source_id = '\(Self.b)' AND "timestamp" = timestamptz '2026-01-01 03:20:00+00')
                """)
            let w = try WorkerProcess(url, name: "poison", environment: ["AD_POLL_INTERVAL": "0.1"])
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 597
                }, "not every good point scored: \(w.output)")
            #expect(
                try await strings(
                    url,
                    """
                    SELECT source_name || ' ' || to_char(point_timestamp AT TIME ZONE 'UTC', 'HH24:MI') || ' ' || sqlstate
                           || ' ' || state || ' ' || attempts || ' ' || (error LIKE 'poisoned point at %')
                      FROM ad.quarantine ORDER BY source_name, point_timestamp
                    """) == [
                        "src-a 00:00 22023 quarantined 1 true", "src-a 02:00 22023 quarantined 1 true",
                        "src-b 03:20 22023 quarantined 1 true",
                    ])
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 597, "each scored once")
            #expect(w.output.contains("quarantined the point of source src-a"), "\(w.output)")
            let facts = try await Database.withConnection(url, logger: TestServer.logger) {
                try await DoctorProbe(logger: TestServer.logger).facts($0)
            }
            #expect(facts.quarantined == 3, "adworker doctor counts them")
            // Quarantined points are not claimed again: the worker goes quiet (no more failed batches).
            try await Task.sleep(for: .seconds(1))
            let failures = w.output.components(separatedBy: "failed (").count
            try await Task.sleep(for: .seconds(1))
            #expect(w.output.components(separatedBy: "failed (").count == failures, "\(w.output)")

            // An operator fixes the values and re-queues one source: its points are scored, the other stays.
            try await sql(url, "DROP TRIGGER poison ON ad.data_points")
            #expect(try await strings(url, "SELECT ad.requeue_quarantined('src-a')::text") == ["2"])
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 599
                }, "re-queued points not scored: \(w.output)")
            #expect(
                try await strings(url, "SELECT source_name || ' ' || state FROM ad.quarantine ORDER BY 1") == [
                    "src-a scored", "src-a scored", "src-b quarantined",
                ])
            #expect(
                try await integer(
                    url, "SELECT count(*) FROM ad.audit_log WHERE action = 'requeue' AND entity = 'quarantined_points'")
                    == 1)
            // Deleting the source deletes its quarantine rows; retention forgets rows of points that are gone.
            try await sql(url, "DELETE FROM ad.data_sources WHERE id = '\(Self.a)'")
            try await sql(url, "DELETE FROM ad.data_points WHERE source_id = '\(Self.b)' AND values ? 'poison'")
            _ = try await strings(url, "SELECT ad.apply_retention()::text")
            #expect(try await integer(url, "SELECT count(*) FROM ad.quarantined_points") == 0)
            await w.stop()
        }
    }

    /// The statement timeout, made deterministic: a test trigger makes any scoring UPDATE of more than 8 points
    /// sleep far past the worker's 1 s timeout, and one point ("slow") sleeps whatever its batch.
    @Test func aBatchThatHitsTheStatementTimeoutIsScoredInSmallerBatchesAndALoneSlowPointIsQuarantined()
        async throws
    {
        try await withWorkerDatabase { url in
            try await insertPoints(url, from: 0, count: 100)
            try await sql(
                url,
                """
                UPDATE ad.data_points SET values = values || '{"slow": 1}'
                 WHERE "timestamp" = timestamptz '2026-01-01 01:00:00+00'
                """)
            try await sql(
                url,
                """
                CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF (SELECT count(*) FROM new_rows) > 8 OR EXISTS (SELECT FROM new_rows WHERE values ? 'slow') THEN
                        PERFORM pg_sleep(3600);
                    END IF;
                    RETURN NULL;
                END $$
                """)
            try await sql(
                url,
                """
                CREATE TRIGGER slow AFTER UPDATE ON ad.data_points REFERENCING NEW TABLE AS new_rows
                   FOR EACH STATEMENT EXECUTE FUNCTION public.slow()
                """)
            let w = try WorkerProcess(
                url, name: "timeout",
                environment: ["AD_POLL_INTERVAL": "0.1", "AD_STATEMENT_TIMEOUT": "1", "AD_BATCH_SIZE": "100"])
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL") == 99
                }, "not scored in smaller batches: \(w.output)")
            #expect(
                try await strings(
                    url,
                    "SELECT to_char(point_timestamp AT TIME ZONE 'UTC', 'HH24:MI') || ' ' || sqlstate FROM ad.quarantine"
                ) == ["01:00 57014"])
            #expect(try await integer(url, "SELECT count(*) FROM public.score_events") == 99, "each scored once")
            await w.stop()
        }
    }

    /// Values and times at the ends of what PostgreSQL stores, on a source with seasonal lags, beside an ordinary
    /// source: every point is scored, none quarantined, with and without the history cache. Today's door refuses
    /// times outside its limits (`min_point_time`, `max_point_time_ahead`), but points an earlier door accepted
    /// (0.1.0 had no such limits) may wait unscored in an upgraded database, so they go in past the door here.
    /// The last times PostgreSQL stores (294276-12-31); TimescaleDB's chunks end earlier (294247-01-01 is its last
    /// day), and it refuses later times itself with "timestamp out of range".
    static let lastDay = TestServer.timescale ? "294247-01-01" : "294276-12-31"
    static let dayBefore = TestServer.timescale ? "294246-12-31" : "294276-12-30"
    static let lastMonth = TestServer.timescale ? "294246-12" : "294276-12"
    static let farYear = TestServer.timescale ? "294240" : "294270"

    @Test(arguments: ["100000", "0"])
    func extremeValuesAndTimesAreScored(cache: String) async throws {
        try await withWorkerDatabase { url in
            try await sql(
                url,
                """
                INSERT INTO ad.data_sources (id, name, config) VALUES
                    ('\(Self.b)', 'src-extreme', '{"window": 20, "seasonality": ["daily", "weekly"]}')
                """)
            try await sql(
                url,
                """
                INSERT INTO ad.alert_rules (name) VALUES ('everything')
                """)
            let times = [
                "4714-11-24 00:00:00+00 BC", "4714-11-24 00:01:00+00 BC", "4714-11-25 00:00:30+00 BC",
                "4714-12-01 00:00:00+00 BC", "0001-01-01 00:00:00+00 BC", "1970-01-01 00:00:00+00",
                "2026-01-01 00:00:00+00", "2026-01-02 00:00:00+00", "2026-01-08 00:00:00+00",
                "\(Self.farYear)-01-01 00:00:00+00", "\(Self.dayBefore) 23:59:59.999999+00",
                "\(Self.lastDay) 23:59:59.999999+00",
            ]
            let values = [
                "1.7976931348623157e308", "-1.7976931348623157e308", "1.797e308", "-1.797e308", "4.9e-324",
                "-4.9e-324", "2.2250738585072014e-308", "0", "-1.7976931348623157e308", "1.7976931348623157e308",
                "1e-300", "-1e308",
            ]
            let rows = zip(times, values).map { t, v in
                "('\(Self.b)', timestamptz '\(t)', '{\"x\": \(v), \"y\": \(v), \"z\": 1}')"
            }
            try await insertPoints(url, from: 0, count: 50)
            try await insertPastTheDoor(
                url,
                "INSERT INTO ad.data_points (source_id, \"timestamp\", values) VALUES \(rows.joined(separator: ", "))")
            // A third source scored from its third point, with a spike at each end of time: anomalies and alerts
            // there (the alert keeps the anomaly's exact time).
            try await sql(
                url,
                """
                INSERT INTO ad.data_sources (id, name, config) VALUES
                    ('\(Self.far)', 'src-far', '{"window": 10, "min_history": 3, "rest_period": 0}')
                """)
            try await insertPastTheDoor(
                url,
                """
                INSERT INTO ad.data_points (source_id, "timestamp", values)
                SELECT '\(Self.far)', timestamptz '\(Self.lastDay) 23:59:59.999999+00' - (20 - g) * interval '1 minute',
                       jsonb_build_object('x', CASE WHEN g = 20 THEN 1e308 ELSE g % 3 END)
                  FROM generate_series(1, 20) g
                """)
            try await insertPastTheDoor(
                url,
                """
                INSERT INTO ad.data_points (source_id, "timestamp", values)
                SELECT '\(Self.far)', timestamptz '4714-11-24 00:00:00+00 BC' + g * interval '1 minute',
                       jsonb_build_object('x', CASE WHEN g = 20 THEN -1e308 ELSE g % 3 END)
                  FROM generate_series(0, 20) g
                """)
            let w = try WorkerProcess(
                url, name: "extreme\(cache)", environment: ["AD_POLL_INTERVAL": "0.1", "AD_HISTORY_CACHE": cache])
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NOT NULL")
                        == 50 + times.count + 41
                }, "not every point scored: \(w.output)")
            // The spike at each end of time is an anomaly, and the alerts there refer to their anomalies exactly.
            #expect(
                try await integer(
                    url,
                    """
                    SELECT count(DISTINCT point_timestamp) FROM ad.anomalies
                     WHERE point_timestamp IN (timestamptz '\(Self.lastDay) 23:59:59.999999+00',
                                               timestamptz '4714-11-24 00:20:00+00 BC')
                    """) == 2, "\(w.output)")
            #expect(
                try await strings(
                    url,
                    """
                    SELECT count(*) FILTER (WHERE al.anomaly_timestamp < timestamptz '4714-12-01 00:00:00+00 BC')
                           || ' ' || count(*) FILTER (WHERE al.anomaly_timestamp > timestamptz '\(Self.lastMonth)-01 00:00:00+00')
                           || ' ' || count(*) FILTER (WHERE an.id IS NULL)
                      FROM ad.alerts al
                      LEFT JOIN ad.anomalies an ON an.id = al.anomaly_id AND an.point_timestamp = al.anomaly_timestamp
                     WHERE al.source_id = '\(Self.far)'
                    """) == ["1 1 0"], "one alert at each end, each referring to its anomaly: \(w.output)")
            #expect(try await integer(url, "SELECT count(*) FROM ad.quarantined_points") == 0, "\(w.output)")
            // Then one at a time, through the cached path when it is on: late points among them.
            for (t, v) in [
                ("\(Self.lastDay) 23:59:59.999998+00", "1e308"), ("4714-11-24 00:00:00.000001+00 BC", "-1e308"),
            ] {
                try await insertPastTheDoor(
                    url,
                    "INSERT INTO ad.data_points (source_id, \"timestamp\", values) VALUES ('\(Self.b)', timestamptz '\(t)', '{\"x\": \(v), \"y\": 1, \"z\": 1}')"
                )
            }
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "late extreme points not scored: \(w.output)")
            #expect(try await integer(url, "SELECT count(*) FROM ad.quarantined_points") == 0, "\(w.output)")
            #expect(w.process.isRunning, "\(w.output)")
            await w.stop()
        }
    }
}

/// Runs an INSERT with the table's triggers off (`session_replication_role = replica`, superuser only), as rows
/// written before today's door limits existed: the worker must score what an earlier door let in.
func insertPastTheDoor(_ url: DatabaseURL, _ insert: String) async throws {
    try await sql(url, "DO $do$ BEGIN SET LOCAL session_replication_role = replica; \(insert); END $do$")
}
