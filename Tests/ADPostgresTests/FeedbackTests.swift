import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import PostgresNIO
import Testing

private let source = "00000000-0000-0000-0000-00000000000a"

/// Scores every unscored point the way `adworker run` does (catalog, with its learned thresholds, loaded fresh).
private func scoreAll(_ url: DatabaseURL) async throws {
    do { try await scoreAllUnwrapped(url) } catch { throw SQLFailure(description: "scoring: \(describe(error))") }
}

private func scoreAllUnwrapped(_ url: DatabaseURL) async throws {
    try await Database.withConnection(url, logger: TestServer.logger) { conn in
        // A busy machine (the whole suite runs in parallel) must not fail the test: no 30 s statement timeout.
        var settings = WorkerSettings()
        settings.statementTimeout = 600
        let scorer = ScoringCycle(settings: settings, logger: TestServer.logger)
        try await scorer.prepare(conn)
        var catalog = try await SourceCatalog.load(conn, logger: TestServer.logger)
        var cache = HistoryCache(capacity: 1000, depth: SourceConfig.defaults.window)
        var timings = ScoringTimings()
        while try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings).scored > 0 {}
    }
}

/// Runs feedback passes until the queue is empty; returns how many rows were processed.
@discardableResult
private func processFeedback(_ url: DatabaseURL, limit: Int = 100) async throws -> Int {
    do { return try await processFeedbackUnwrapped(url, limit: limit) } catch {
        throw SQLFailure(description: "feedback: \(describe(error))")
    }
}

private func processFeedbackUnwrapped(_ url: DatabaseURL, limit: Int) async throws -> Int {
    try await Database.withConnection(url, logger: TestServer.logger) { conn in
        var total = 0
        while true {
            let n = try await FeedbackProcessor(logger: TestServer.logger).pass(conn, limit: limit)
            if n == 0 { return total }
            total += n
        }
    }
}

/// Inserts `count` anomalies on src-a (metric x, scores from `score`, value deviations above expected from
/// `deviation`, one minute apart from `minute`), as the worker records them; returns their ids.
private func anomalies(
    _ url: DatabaseURL, count: Int, minute: Int = 0, score: Double = 0.55, deviation: Double = 5
) async throws -> [String] {
    try await strings(
        url,
        """
        INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
        SELECT gen_random_uuid(), timestamptz '2026-01-01 00:00Z' + (\(minute) + g) * interval '1 minute', '\(source)', 'x',
               'robust', 'low', \(score) + g * 0.001,
               jsonb_build_object('pattern', jsonb_build_object('measure', 'value', 'direction', 'above', 'deviation', \(deviation) + g * 0.1))
          FROM generate_series(0, \(count - 1)) g
        RETURNING id::text
        """)
}

private func failure(_ url: DatabaseURL, _ statement: String) async -> String? {
    do { try await sql(url, statement); return nil } catch { return "\(error)" }
}

private let mapRoot = "INSERT INTO ad.users (name, db_role) VALUES ('Root Operator', session_user)"

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct OperatorFunctionsAndFeedback {
    @Test func theFunctionsGoThroughTheTriggerAttributeAndAudit() async throws {
        try await withWorkerDatabase { url in
            let ids = try await anomalies(url, count: 2)
            let unmapped = await failure(url, "SELECT ad.mark_false_positive('\(ids[0])', 'deploy')")
            #expect(
                unmapped?.contains(#"role "postgres" is not mapped to a person"#) == true, "\(unmapped ?? "accepted")")
            #expect(
                unmapped?.contains("INSERT INTO ad.users (name, db_role) VALUES ('Your Name', 'postgres');") == true)
            try await sql(url, mapRoot)
            #expect(
                try await strings(url, "SELECT ad.mark_false_positive('\(ids[0])', 'deploy')") == ["false_positive"])
            #expect(try await strings(url, "SELECT ad.confirm_anomaly('\(ids[1])')") == ["confirmed"])
            #expect(
                try await strings(url, "SELECT ad.confirm_anomaly('\(ids[1])', 'again')") == ["confirmed"],
                "same status: notes only")
            let missing = await failure(url, "SELECT ad.resolve_alert(gen_random_uuid())")
            #expect(missing?.contains("ad.change_status: no alert with id") == true, "\(missing ?? "accepted")")
            let bad = await failure(url, "SELECT ad.change_status('anomaly', '\(ids[0])', 'detected')")
            #expect(
                bad?.contains("cannot go from false_positive to detected; from false_positive it may go to: confirmed")
                    == true, "\(bad ?? "accepted")")
            #expect(
                try await strings(
                    url,
                    """
                    SELECT format('%s %s %s %s', a.status, u.name, a.notes, a.status_changed_at IS NOT NULL)
                      FROM ad.anomalies a JOIN ad.users u ON u.id = a.status_changed_by ORDER BY a.point_timestamp
                    """) == ["false_positive Root Operator deploy t", "confirmed Root Operator again t"])
            #expect(
                try await strings(
                    url,
                    """
                    SELECT format('%s %s->%s %s', l.action, l.old_value->>'status', l.new_value->>'status', u.name)
                      FROM ad.audit_log l JOIN ad.users u ON u.id = l.user_id WHERE l.entity = 'anomaly' ORDER BY l.id
                    """) == [
                        "status_change detected->false_positive Root Operator",
                        "status_change detected->confirmed Root Operator",
                    ])
            #expect(
                try await strings(url, "SELECT feedback_type FROM ad.feedback ORDER BY created_at, feedback_type")
                    == ["false_positive", "true_positive"],
                "one feedback row per judgement; a notes-only update is none")
        }
    }

    @Test func feedbackIsAppliedOnceWhenTwoProcessorsRaceForIt() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, mapRoot)
            let ids = try await anomalies(url, count: 40)
            try await sql(url, "SELECT ad.mark_false_positive(id) FROM ad.anomalies")
            #expect(ids.count == 40)
            async let a = processFeedback(url, limit: 3)
            async let b = processFeedback(url, limit: 3)
            let (x, y) = try await (a, b)
            #expect(x + y == 40, "every row once between them")
            #expect(try await processFeedback(url) == 0, "nothing left")
            #expect(try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments") == 40)
            #expect(try await integer(url, "SELECT count(DISTINCT feedback_id) FROM ad.scoring_adjustments") == 40)
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.feedback WHERE processed_at IS NULL OR result->>'effect' <> 'tolerate'")
                    == 0)
            // Reprocessing by hand (processed_at cleared) cannot apply a row twice.
            try await sql(url, "UPDATE ad.feedback SET processed_at = NULL")
            #expect(try await processFeedback(url) == 40)
            #expect(try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments") == 40)
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.feedback WHERE result->>'note' = 'already applied'")
                    == 40)
        }
    }

    @Test func aLockedRowIsSkippedAndAFailedPassLearnsNothing() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, mapRoot)
            let ids = try await anomalies(url, count: 3)
            try await sql(url, "SELECT ad.mark_false_positive(id) FROM ad.anomalies")
            // Another worker holds the first row: this one takes the others and leaves it.
            try await Database.withConnection(url, logger: TestServer.logger) { holder in
                try await holder.query("BEGIN", logger: TestServer.logger)
                try await holder.query(
                    PostgresQuery(unsafeSQL: "SELECT id FROM ad.feedback WHERE anomaly_id = '\(ids[0])' FOR UPDATE"),
                    logger: TestServer.logger)
                #expect(try await processFeedback(url) == 2)
                try await holder.query("ROLLBACK", logger: TestServer.logger)
            }
            // Marking it processed fails (a test trigger): the pass rolls back, its adjustment with it.
            try await sql(
                url,
                """
                CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused by the test'; END $$
                """)
            try await sql(
                url,
                "CREATE TRIGGER refuse BEFORE UPDATE OF processed_at ON ad.feedback FOR EACH ROW EXECUTE FUNCTION public.refuse()"
            )
            await #expect(throws: (any Error).self) { try await processFeedback(url) }
            #expect(try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments") == 2)
            #expect(try await integer(url, "SELECT count(*) FROM ad.feedback WHERE processed_at IS NULL") == 1)
            try await sql(url, "DROP TRIGGER refuse ON ad.feedback")
            #expect(try await processFeedback(url) == 1)
            #expect(try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments") == 3)
        }
    }

    @Test func anUndoneAdjustmentStopsApplyingAndSaysWhoUndidIt() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, mapRoot)
            let fp = try await anomalies(url, count: 1, score: 0.6, deviation: 6)
            try await sql(url, "SELECT ad.mark_false_positive('\(fp[0])')")
            try await processFeedback(url)
            #expect(
                try await strings(
                    url,
                    """
                    SELECT format('%s %s %s %s %s', measure, direction, round(tolerated_up_to::numeric, 4), round(effective_tolerance::numeric, 4), always_alert_from)
                      FROM ad.learned_patterns
                    """) == ["value above 9.6000 9.6000 \(SourceConfig.defaults.thresholds.high)"],
                "a source without config has the default high")
            let id = try await strings(url, "SELECT id::text FROM ad.scoring_adjustments")[0]
            #expect(
                try await strings(url, "SELECT reason FROM ad.scoring_adjustments")
                    == [
                        "false positive at score 0.6000 by Root Operator, value 6.0000 above expected: points on this series whose "
                            + "value is above expected by at most 9.6000 are not anomalies unless they score at least high (0.6500)"
                    ])
            #expect(try await strings(url, "SELECT ad.undo_adjustment(\(id), 'wrong call')") == ["undone"])
            #expect(try await strings(url, "SELECT ad.undo_adjustment(\(id))") == ["already undone"])
            #expect(try await integer(url, "SELECT count(*) FROM ad.learned_patterns") == 0)
            #expect(
                try await strings(
                    url,
                    """
                    SELECT format('%s %s %s', l.action, u.name, l.new_value->>'reason') FROM ad.audit_log l
                      LEFT JOIN ad.users u ON u.id = l.user_id WHERE l.entity = 'scoring_adjustment' ORDER BY l.id
                    """
                ).map { $0.prefix(40) } == [
                    "adjustment_made  false positive at score", "adjustment_undone Root Operator wrong ca",
                ])
        }
    }

    @Test func precisionCountsTheLatestJudgementPerDetectorAndDay() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, mapRoot)
            let day1 = try await anomalies(url, count: 4)
            let day2 = try await anomalies(url, count: 2, minute: 1440)
            for id in day1.prefix(3) { try await sql(url, "SELECT ad.confirm_anomaly('\(id)')") }
            try await sql(url, "SELECT ad.mark_false_positive('\(day1[3])')")
            try await sql(url, "SELECT ad.mark_false_positive('\(day2[0])')")
            try await sql(url, "SELECT ad.change_status('anomaly', '\(day1[0])', 'resolved')")  // still confirmed
            try await sql(url, "SELECT ad.mark_false_positive('\(day1[1])')")  // a correction: now rejected
            #expect(
                try await strings(
                    url,
                    """
                    SELECT format('%s %s %s/%s/%s/%s %s %s', source_name, detector, anomalies, confirmed, rejected, unjudged,
                                  round(precision::numeric, 3), round(cumulative_precision::numeric, 3))
                      FROM ad.feedback_precision ORDER BY day
                    """) == ["src-a robust 4/2/2/0 0.500 0.500", "src-a robust 2/0/1/1 0.000 0.400"])
        }
    }
}

private let control = "00000000-0000-0000-0000-00000000000b"

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct LearningFromFeedbackReplay {
    static let config =
        #"{"likelihood_window": 100, "thresholds": {"low": 0.3, "medium": 0.5, "high": 0.9, "critical": 0.95}}"#
    static let trueMinutes = [1050, 1350]

    /// Minutes `from` ..< `from` + 1500 of one series: deterministic noise around 52, a moderate bump (+30) every
    /// 150 points from 300 to 900 (what operators will call false positives), and a large spike (+200) at 1050 and
    /// 1350 (the true anomalies).
    func stream(_ url: DatabaseURL, from: Int, source: String) async throws {
        try await insertPoints(
            url, from: from, count: 1500, source: source,
            value: """
                50 + ((g * 7919) % 101) / 20.0
                   + CASE WHEN (g - \(from)) IN (300, 450, 600, 750, 900) THEN 30
                          WHEN (g - \(from)) IN (1050, 1350) THEN 200 ELSE 0 END
                """)
    }

    /// Anomalies of `source` from minute `from` on, as (minute, id), split into true and false by the stream's design.
    func found(
        _ url: DatabaseURL, source: String, from: Int
    ) async throws -> (truePositives: [Int], falsePositives: [(Int, String)]) {
        let rows = try await strings(
            url,
            """
            SELECT format('%s %s', extract(epoch FROM point_timestamp - timestamptz '2026-01-01Z')::int / 60, id) FROM ad.anomalies
             WHERE source_id = '\(source)' AND point_timestamp >= timestamptz '2026-01-01Z' + \(from) * interval '1 minute'
             ORDER BY point_timestamp
            """
        ).map { $0.split(separator: " ").map(String.init) }
        var tp: [Int] = [], fp: [(Int, String)] = []
        for r in rows {
            let minute = Int(r[0])!, stream = minute >= 1500 ? 1500 : 0
            if Self.trueMinutes.contains(minute - stream) {
                tp.append(minute - stream)
            } else {
                fp.append((minute, r[1]))
            }
        }
        return (tp, fp)
    }

    @Test func falsePositivesMakeSimilarPointsAlertLessWhileTrueAnomaliesStillAlert() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, "INSERT INTO ad.data_sources (id, name) VALUES ('\(control)', 'control')")
            try await sql(url, "UPDATE ad.data_sources SET config = '\(Self.config)'")
            try await sql(url, mapRoot)
            // The same first stream on both; an operator judges src-a's anomalies past the warm-up, not the control's.
            for s in [source, control] { try await stream(url, from: 0, source: s) }
            try await scoreAll(url)
            let first = try await found(url, source: source, from: 200)
            #expect(first.truePositives == Self.trueMinutes)
            #expect(!first.falsePositives.isEmpty, "the bumps alert before any feedback")
            for (_, id) in first.falsePositives {
                try await sql(url, "SELECT ad.mark_false_positive('\(id)', 'batch job')")
            }
            let spikes = Self.trueMinutes.map { "timestamptz '2026-01-01Z' + \($0) * interval '1 minute'" }.joined(
                separator: ", ")
            try await sql(
                url,
                "SELECT ad.confirm_anomaly(id) FROM ad.anomalies WHERE source_id = '\(source)' AND point_timestamp IN (\(spikes))"
            )
            #expect(try await processFeedback(url) == first.falsePositives.count + 2)
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments WHERE kind = 'tolerate'")
                    == first.falsePositives.count)

            // What the worker applies is what people read in ad.learned_patterns.
            let view = try await strings(
                url,
                """
                SELECT format('%s %s %s', measure, direction, effective_tolerance) FROM ad.learned_patterns ORDER BY measure, direction
                """)
            let worker = try await Database.withConnection(url, logger: TestServer.logger) { conn in
                try await FeedbackProcessor.learned(conn, logger: TestServer.logger)
            }
            let applied =
                worker.series[HistoryCache.Key(source: UUID(uuidString: source)!, metric: "x")] ?? SeriesLearning()
            #expect(!view.isEmpty)
            for row in view {
                let f = row.split(separator: " ").map(String.init)
                let tolerance = applied.tolerance(f[0], Pattern.Direction(rawValue: f[1])!)
                #expect(
                    tolerance.map { abs($0 - Double(f[2])!) < 1e-9 } == true,
                    "\(row) vs \(String(describing: tolerance))")
            }
            #expect(worker.series[HistoryCache.Key(source: UUID(uuidString: control)!, metric: "x")] == nil)

            // Similar data again on both.
            for s in [source, control] { try await stream(url, from: 1500, source: s) }
            try await scoreAll(url)
            let learned = try await found(url, source: source, from: 1500)
            let unlearned = try await found(url, source: control, from: 1500)
            #expect(!unlearned.falsePositives.isEmpty, "without feedback the bumps still alert")
            #expect(
                learned.falsePositives.count < unlearned.falsePositives.count,
                "learned \(learned.falsePositives.map(\.0)), control \(unlearned.falsePositives.map(\.0))")
            #expect(learned.truePositives == Self.trueMinutes, "the injected anomalies still alert")
            // A tolerated point keeps its score: nothing about the data is hidden, only the anomaly is not raised.
            #expect(
                try await integer(
                    url,
                    """
                    SELECT count(*) FROM ad.data_points WHERE source_id = '\(source)' AND anomaly_score >= 0.3
                       AND "timestamp" >= timestamptz '2026-01-01Z' + interval '1500 minutes'
                    """) > learned.truePositives.count + learned.falsePositives.count)
        }
    }

    @Test func aBurstOfCarelessMarksCannotSilenceTheSeries() async throws {
        try await withWorkerDatabase { url in
            try await sql(url, "UPDATE ad.data_sources SET config = '\(Self.config)'")
            try await sql(url, mapRoot)
            try await stream(url, from: 0, source: source)
            try await scoreAll(url)
            // Everything marked false positive, the true anomalies too.
            try await sql(url, "SELECT ad.mark_false_positive(id, 'mass close') FROM ad.anomalies")
            try await processFeedback(url)
            #expect(try await integer(url, "SELECT count(*) FROM ad.learned_patterns") > 0)
            try await stream(url, from: 1500, source: source)
            try await scoreAll(url)
            // Every point of the second stream scoring at least high (0.9) is still an anomaly, and there are some.
            let after = "source_id = '\(source)' AND %@ >= timestamptz '2026-01-01Z' + interval '1500 minutes'"
            let high = try await integer(
                url,
                "SELECT count(*) FROM ad.data_points WHERE anomaly_score >= 0.9 AND "
                    + after.replacingOccurrences(of: "%@", with: "\"timestamp\""))
            #expect(high > 0)
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.anomalies WHERE score >= 0.9 AND "
                        + after.replacingOccurrences(of: "%@", with: "point_timestamp")) == high,
                "anomalies at or above high still alert")
        }
    }
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct TheWorkersFeedbackLoop {
    @Test func aMarkWakesTheWorkerWhichLearnsFromIt() async throws {
        try await withWorkerDatabase { url in
            let w = try WorkerProcess(url, name: "fb", environment: ["AD_POLL_INTERVAL": "60"])
            #expect(
                try await eventually {
                    try await integer(
                        url,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fb listen ad_feedback' AND query ILIKE 'LISTEN%'"
                    ) == 1
                }, "worker did not start: \(w.output)")
            try await Task.sleep(for: .seconds(1))  // past the catch-up pass: now only a notification can wake it
            try await sql(url, mapRoot)
            let id = try await anomalies(url, count: 1)[0]
            try await sql(url, "SELECT ad.mark_false_positive('\(id)')")
            #expect(
                try await eventually(timeout: .seconds(10)) {
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.feedback WHERE processed_at IS NOT NULL AND result->>'effect' = 'tolerate'"
                    ) == 1
                }, "not processed: \(w.output)")
            #expect(try await integer(url, "SELECT count(*) FROM ad.scoring_adjustments") == 1)
            await w.stop()
        }
    }
}
