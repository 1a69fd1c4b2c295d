import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

/// The whole model life cycle through the real worker: `ad.train_model` → claimed → trained → evaluated →
/// registered → promoted → live points scored with its `model_id`; a failing run; a worker stopped mid-training;
/// rollback and a hot switch; drift asking for retraining.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct ModelFlow {
    static let pump = "00000000-0000-0000-0000-0000000000b1"

    /// Source `pump` with two correlated metrics (pressure ≈ 2 × flow, flow slowly periodic, a little noise), one
    /// point a minute from 2026-01-01, minutes [from, from + count). `broken` minutes break the correlation:
    /// pressure is 2 × flow + 6, a value each metric alone reaches on other days.
    static func insert(_ url: DatabaseURL, from: Int, count: Int, broken: ClosedRange<Int>? = nil) async throws {
        let b = broken.map { "g BETWEEN \($0.lowerBound) AND \($0.upperBound)" } ?? "false"
        try await sql(
            url,
            """
            INSERT INTO ad.data_points (source_id, "timestamp", values)
            SELECT '\(pump)', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
                   jsonb_build_object('flow', f, 'pressure', 2 * f + ((g * 7919) % 997) / 997.0 * 0.4
                                                              + CASE WHEN \(b) THEN 6 ELSE 0 END)
              FROM generate_series(\(from), \(from + count - 1)) g,
                   LATERAL (SELECT 10 + 3 * sin(g / 20.0) + ((g * 104729) % 991) / 991.0 * 0.4 AS f) v
            """)
    }

    static func withPump<T: Sendable>(_ body: (DatabaseURL) async throws -> T) async throws -> T {
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(url, "INSERT INTO ad.data_sources (id, name) VALUES ('\(pump)', 'pump')")
            try await sql(url, "INSERT INTO ad.users (name, db_role) VALUES ('Dana Scientist', session_user)")
            return try await body(url)
        }
    }

    static let fast = ["AD_POLL_INTERVAL": "0.5", "AD_TRAINING_POLL": "0.5", "AD_DELIVERY": "false"]

    static func train(_ url: DatabaseURL, _ extra: String = "") async throws -> String {
        try await strings(
            url,
            "SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-01 10:00'\(extra))::text"
        )[0]
    }

    /// Waits until the worker has loaded `model` for the `times`-th time (it logs each load).
    static func switched(_ w: WorkerProcess, to model: String, times: Int) async throws -> Bool {
        try await eventually(timeout: .seconds(30)) {
            w.output.components(separatedBy: "with its production model \(model)\n").count - 1 >= times
        }
    }

    static func status(_ url: DatabaseURL, _ id: String) async throws -> String {
        try await strings(url, "SELECT status FROM ad.ml_models WHERE id = '\(id)'").first ?? "?"
    }

    @Test func trainEvaluateRegisterPromoteAndScoreLivePointsWithTheModel() async throws {
        try await Self.withPump { url in
            // Ten hours of history; an incident in the held-out part (the last 3 hours), labelled by a person.
            try await Self.insert(url, from: 0, count: 600, broken: 500...509)
            try await sql(url, "SELECT ad.label_incident('pump', '2026-01-01 08:20', '2026-01-01 08:30', 'seal leak')")
            let w = try WorkerProcess(url, name: "mf", environment: Self.fast)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "history not scored: \(w.output)")
            let id = try await Self.train(url)
            #expect(
                try await eventually(timeout: .seconds(90)) { try await Self.status(url, id) == "registered" },
                "not registered: \(w.output)")
            let row = try await strings(
                url,
                """
                SELECT concat_ws(' ', status, progress, attempts, precision IS NOT NULL, recall, f1 IS NOT NULL,
                                 roc_auc IS NOT NULL, compared_with, production_f1 IS NOT NULL)
                  FROM ad.model_registry WHERE id = '\(id)'
                """)[0]
            // The last `f`: the streaming scorer raises nothing in the held-out part any more, so its F1 there is
            // NULL. It caught the +6 step before; since issue 22 the step stream judges log(1 + z) on a series whose
            // z's look heavy-tailed, and this young series' first points (tiny windows, huge z's) make it look so.
            // A known loss, in docs/research/nab-fewer-false-alarms.md.
            #expect(row == "registered registered 1 t 1 t t streaming v1 f", "\(row)")
            #expect(
                try await strings(url, "SELECT metrics #>> '{split,test_points}' FROM ad.ml_models WHERE id = '\(id)'")
                    == ["180"])
            #expect(
                try await strings(url, "SELECT parameters ->> 'metrics' FROM ad.ml_models WHERE id = '\(id)'")
                    == [#"["flow", "pressure"]"#])
            // Promote it; the running worker picks it up, and scores new points with it beside the streaming scorer.
            #expect(
                try await strings(url, "SELECT ad.promote_model('\(id)')")
                    == ["pca pump v1 is now the production model of pump"])
            #expect(
                try await Self.switched(w, to: "pca pump v1", times: 1),
                "the worker did not load the model: \(w.output)")
            try await Self.insert(url, from: 600, count: 60, broken: 640...640)
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await integer(
                        url,
                        "SELECT count(*) FROM ad.anomalies WHERE point_timestamp = '2026-01-01 10:40' AND model_id = '\(id)'"
                    ) == 1
                }, "the model did not decide the broken point: \(w.output)")
            let a = try await strings(
                url,
                """
                SELECT concat_ws(' | ', detector, explanation ->> 'decided_by', explanation #>> '{model,name}',
                                 explanation #>> '{model,version}', explanation ->> 'reason')
                  FROM ad.anomalies WHERE point_timestamp = '2026-01-01 10:40'
                """)[0]
            #expect(a.hasPrefix("pca | model | pca pump | 1 | Decided by the trained model pca pump v1 (pca)"), "\(a)")
            #expect(
                try await integer(url, "SELECT count(*) FROM ad.anomalies WHERE model_id IS NULL") == 0,
                "every anomaly names its model")
            #expect(
                try await integer(
                    url,
                    "SELECT count(*) FROM ad.audit_log WHERE entity = 'model' AND entity_id = '\(id)' AND action = 'promote'"
                ) == 1)
            await w.stop()
        }
    }

    @Test func aRunThatCannotTrainFailsWithItsReason() async throws {
        try await Self.withPump { url in
            try await Self.insert(url, from: 0, count: 20)
            let w = try WorkerProcess(url, name: "mffail", environment: Self.fast)
            let id = try await Self.train(url)
            #expect(
                try await eventually(timeout: .seconds(60)) { try await Self.status(url, id) == "failed" },
                "not failed: \(w.output)")
            let error = try await strings(url, "SELECT error FROM ad.model_registry WHERE id = '\(id)'")[0]
            #expect(error.contains("at least 20 unlabelled points are needed to fit"), "\(error)")
            #expect(
                try await integer(
                    url, "SELECT count(*) FROM ad.audit_log WHERE entity_id = '\(id)' AND action = 'training_failed'")
                    == 1)
            await w.stop()
        }
    }

    @Test func aJobWhoseWorkerStoppedIsTakenOverWhenItsLeaseLapses() async throws {
        try await Self.withPump { url in
            try await Self.insert(url, from: 0, count: 600)
            let id = try await Self.train(url)
            // A worker claimed it and was killed: the row is claimed, its lease running, nobody renews it.
            #expect(
                try await strings(url, "SELECT id::text FROM ad_internal.claim_training('ghost', '3 seconds')") == [id])
            let w = try WorkerProcess(url, name: "heir", environment: Self.fast)
            #expect(
                try await eventually(timeout: .seconds(90)) { try await Self.status(url, id) == "registered" },
                "not taken over: \(w.output)")
            #expect(
                try await strings(
                    url, "SELECT attempts || ' ' || split_part(claimed_by, '@', 1) FROM ad.ml_models WHERE id = '\(id)'"
                )
                    == ["2 heir"])
            await w.stop()
        }
    }

    @Test func aWorkerKilledMidTrainingLeavesTheJobToAnotherWhoFinishesIt() async throws {
        try await Self.withPump { url in
            try await Self.insert(url, from: 0, count: 12_000)
            // An autoencoder on 8,400 points: a job with a real fit in it.
            let id = try await strings(
                url,
                #"SELECT ad.train_model('autoencoder', 'pump', '2026-01-01', '2026-02-01', '{"epochs": 120}')::text"#
            )[0]
            // k1 is stopped mid-job the same way however fast or busy the machine: the audit log, where finishing a
            // job writes, is held here in SHARE mode (which refuses inserts) from before k1 starts, so k1 claims,
            // reads and fits, then waits to store its result; and is killed there. (Catching a "fitting" progress
            // between two polls missed it on a loaded machine.)
            let first = try await Database.withConnection(url, logger: TestServer.logger) { held in
                try await held.query("BEGIN", logger: TestServer.logger)
                try await held.query("LOCK TABLE ad.audit_log IN SHARE MODE", logger: TestServer.logger)
                // Its session waits on the lock as long as it takes this test to kill it (no lock or statement
                // timeout ending the wait, and the worker claiming its lapsed job again).
                let first = try WorkerProcess(
                    url, name: "k1",
                    environment: Self.fast.merging(
                        ["AD_TRAINING_LEASE": "5", "AD_LOCK_TIMEOUT": "3600", "AD_STATEMENT_TIMEOUT": "3600"]
                    ) { $1 })
                let waiting = """
                    SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'
                       AND query LIKE '%ad_internal.finish_training(%'
                    """
                #expect(
                    try await eventually(timeout: .seconds(300)) { try await integer(url, waiting) == 1 },
                    "k1 never came to store its result: \(first.output)")
                first.signal(SIGKILL)
                _ = await first.waitForExit()
                // PostgreSQL notices a dead client only when it next writes to it, which here would be after the
                // result was committed: end k1's session as the server does once it notices.
                try await sql(
                    url,
                    """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND query LIKE '%ad_internal.finish_training(%'
                       AND pid <> pg_backend_pid()
                    """)
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        try await integer(
                            url,
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                                + "query LIKE '%ad_internal.finish_training(%' AND pid <> pg_backend_pid()") == 0
                    })
                try await held.query("ROLLBACK", logger: TestServer.logger)
                return first
            }
            let left = try await strings(
                url, "SELECT status || ' ' || split_part(claimed_by, '@', 1) FROM ad.ml_models WHERE id = '\(id)'")
            #expect(
                left == ["training k1"] || left == ["evaluating k1"],
                "the killed worker stored nothing: \(left)\n\(first.output)")
            let second = try WorkerProcess(url, name: "k2", environment: Self.fast)
            #expect(
                try await eventually(timeout: .seconds(300)) { try await Self.status(url, id) == "registered" },
                "k2 did not finish the job: \(second.output)")
            #expect(
                try await strings(
                    url, "SELECT attempts || ' ' || split_part(claimed_by, '@', 1) FROM ad.ml_models WHERE id = '\(id)'"
                )
                    == ["2 k2"])
            await second.stop()
            await first.stop()
        }
    }

    @Test func aCancelledJobIsDroppedByItsWorkerWhichGoesOnToTheNext() async throws {
        try await Self.withPump { url in
            try await Self.insert(url, from: 0, count: 12_000)
            let slow = try await strings(
                url,
                #"SELECT ad.train_model('autoencoder', 'pump', '2026-01-01', '2026-02-01', '{"epochs": 120}')::text"#
            )[0]
            let w = try WorkerProcess(url, name: "cx", environment: Self.fast)
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await strings(url, "SELECT progress FROM ad.ml_models WHERE id = '\(slow)'").first?.hasPrefix(
                        "fitting") == true
                }, "never started fitting: \(w.output)")
            _ = try await strings(url, "SELECT ad.cancel_training('\(slow)')")
            let next = try await Self.train(url)
            #expect(
                try await eventually(timeout: .seconds(120)) { try await Self.status(url, next) == "registered" },
                "the next job was not trained: \(w.output)")
            #expect(w.output.contains("no longer this worker's (cancelled or taken over); dropping this run"))
            #expect(
                try await strings(url, "SELECT status || ' ' || error FROM ad.ml_models WHERE id = '\(slow)'")
                    == ["failed cancelled by postgres"])
            await w.stop()
        }
    }

    @Test func promotingAnotherVersionSwitchesRunningWorkersAndRollbackSwitchesBack() async throws {
        try await Self.withPump { url in
            try await Self.insert(url, from: 0, count: 600)
            let w = try WorkerProcess(
                url, name: "hot", environment: Self.fast.merging(["AD_CONFIG_REFRESH": "3600"]) { $1 })
            let v1 = try await Self.train(url), v2 = try await Self.train(url, ", '{\"variance\": 0.99}'")
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    let (a, b) = (try await Self.status(url, v1), try await Self.status(url, v2))
                    return a == "registered" && b == "registered"
                }, "not registered: \(w.output)")
            var minute = 600
            /// Inserts a normal hour with one broken minute; returns which model decided that minute.
            func brokenMinuteDecidedBy() async throws -> String {
                let broken = minute + 30
                try await Self.insert(url, from: minute, count: 60, broken: broken...broken)
                minute += 60
                var by = ""
                _ = try await eventually(timeout: .seconds(30)) {
                    by =
                        try await strings(
                            url,
                            """
                            SELECT model_id::text FROM ad.anomalies
                             WHERE point_timestamp = timestamptz '2026-01-01' + \(broken) * interval '1 minute'
                            """
                        ).first ?? ""
                    return !by.isEmpty
                }
                return by
            }
            // AD_CONFIG_REFRESH is an hour: only the ad_models notification can make the worker switch.
            _ = try await strings(url, "SELECT ad.promote_model('\(v1)')")
            #expect(try await Self.switched(w, to: "pca pump v1", times: 1), "v1 not loaded: \(w.output)")
            #expect(try await brokenMinuteDecidedBy() == v1, "v1 in production: \(w.output)")
            _ = try await strings(url, "SELECT ad.promote_model('\(v2)')")
            #expect(try await Self.switched(w, to: "pca pump v2", times: 1), "v2 not loaded: \(w.output)")
            #expect(try await brokenMinuteDecidedBy() == v2, "v2 promoted: \(w.output)")
            #expect(try await Self.status(url, v1) == "deprecated")
            _ = try await strings(url, "SELECT ad.promote_model('\(v1)')")  // rollback
            #expect(try await Self.switched(w, to: "pca pump v1", times: 2), "v1 not loaded again: \(w.output)")
            #expect(try await brokenMinuteDecidedBy() == v1, "rolled back to v1: \(w.output)")
            #expect(try await Self.status(url, v2) == "deprecated")
            await w.stop()
        }
    }

    @Test func driftAsksForRetrainingWhichPromotesItselfWhenTheOwnerAllows() async throws {
        try await Self.withPump { url in
            try await Self.insert(url, from: 0, count: 600)
            let w = try WorkerProcess(url, name: "drift", environment: Self.fast)
            let v1 = try await Self.train(url)
            #expect(
                try await eventually(timeout: .seconds(90)) { try await Self.status(url, v1) == "registered" },
                "not registered: \(w.output)")
            _ = try await strings(url, "SELECT ad.promote_model('\(v1)')")
            // The recent window: the last day before now. The pump's flow has moved up by half its range.
            try await sql(
                url,
                """
                INSERT INTO ad.data_points (source_id, "timestamp", values)
                SELECT '\(Self.pump)', now() - interval '4 hours' + g * interval '1 minute',
                       jsonb_build_object('flow', f, 'pressure', 2 * f)
                  FROM generate_series(0, 199) g, LATERAL (SELECT 25 + 3 * sin(g / 20.0) AS f) v
                """)
            try await sql(url, #"SELECT ad.set_model_setting('auto_promote_retrained', 'true')"#)
            try await sql(url, #"SELECT ad.set_model_setting('drift_check_every', '"2 seconds"')"#)
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.model_drift WHERE drifted") >= 1
                }, "no drift found: \(w.output)")
            let report = try await strings(
                url,
                "SELECT (max_psi > threshold AND recent_points = 200 AND retrain_model_id IS NOT NULL)::text FROM ad.model_drift WHERE drifted ORDER BY report LIMIT 1"
            )
            #expect(report == ["true"])
            let retrain = try await strings(
                url, "SELECT retrain_model_id::text FROM ad.model_drift WHERE drifted ORDER BY report LIMIT 1")[0]
            #expect(
                try await eventually(timeout: .seconds(90)) {
                    let s = try await Self.status(url, retrain)
                    return s == "registered" || s == "production" || s == "failed"
                }, "the retraining did not finish: \(w.output)")
            let outcome = try await strings(
                url,
                """
                SELECT concat_ws(' ', status, version, retrain_of = '\(v1)', f1 IS NULL, train_to > now() - interval '1 minute', error)
                  FROM ad.model_registry WHERE id = '\(retrain)'
                """)[0]
            // Auto-promotion needs it at least as good on the same split; this split has no labelled anomaly, so F1
            // is undefined and the retraining waits, registered, for a person to judge (sql/tests cover promotion).
            #expect(outcome == "registered 2 t t t", "\(outcome)")
            #expect(try await Self.status(url, v1) == "production")
            await w.stop()
        }
    }
}

/// The hyperparameters `ad.train_model` accepts (SQL, `ad.model_hyperparameters()`) are the ones the worker's
/// models take (Swift, `ModelAlgorithm.hyperparameters`): same names, kinds, defaults and bounds.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct HyperparameterCatalogue {
    @Test func sqlAndSwiftListTheSameHyperparameters() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            let sqlRows = try await strings(
                url,
                """
                SELECT concat_ws(' ', algorithm, name, kind, default_value, minimum, maximum)
                  FROM ad.model_hyperparameters() ORDER BY algorithm, name
                """)
            func show(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }
            let swiftRows = ModelAlgorithm.allCases.flatMap { a in
                a.hyperparameters.map {
                    "\(a.rawValue) \($0.name) \($0.kind) \(show($0.defaultValue)) \(show($0.minimum)) \(show($0.maximum))"
                }
            }.sorted()
            #expect(sqlRows == swiftRows, "sql/100_models.sql's VALUES must list ModelAlgorithm.hyperparameters")
        }
    }
}

/// With MLFLOW_TRACKING_URI set, the worker logs every training run to a real `mlflow server` (PyPI): a registered
/// model as a finished run with its parameters, metrics and artifact, and a model version; a failed job as a FAILED
/// run; and records where in `ad.ml_models.mlflow`.
@Suite(
    .tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"),
    .enabled(if: MLflowServer.available, Comment(rawValue: MLflowServer.skipReason)))
struct ModelFlowToMLflow {
    @Test func trainingRunsAppearInMLflowWithTheirMetricsAndAModelVersion() async throws {
        let server = MLflowServer()
        try await server.start()
        defer { server.stop() }
        try await ModelFlow.withPump { url in
            try await ModelFlow.insert(url, from: 0, count: 600, broken: 500...509)
            try await sql(url, "SELECT ad.label_incident('pump', '2026-01-01 08:20', '2026-01-01 08:30')")
            let w = try WorkerProcess(
                url, name: "mlf",
                environment: ModelFlow.fast.merging(["MLFLOW_TRACKING_URI": server.baseURL.absoluteString]) { $1 })
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
                }, "history not scored: \(w.output)")
            let good = try await ModelFlow.train(url)
            let bad = try await strings(
                url, "SELECT ad.train_model('pca', 'pump', '2026-01-01', '2026-01-01 00:10')::text")[0]
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(url, "SELECT count(*) FROM ad.ml_models WHERE mlflow IS NOT NULL") == 2
                }, "not exported: \(w.output)")
            let record = try await strings(
                url,
                "SELECT concat_ws(' ', mlflow ->> 'registered_model', mlflow ->> 'model_version', mlflow ? 'run_id') FROM ad.ml_models WHERE id = '\(good)'"
            )
            #expect(record == ["pca pump 1 t"], "\(w.output)")
            let runID = try await strings(url, "SELECT mlflow ->> 'run_id' FROM ad.ml_models WHERE id = '\(good)'")[0]
            let run = try await server.api("runs/get", query: ["run_id": runID])["run"] as? [String: Any]
            let info = run?["info"] as? [String: Any], data = run?["data"] as? [String: Any]
            #expect(info?["status"] as? String == "FINISHED")
            var params: [String: String] = [:]
            for case let p as [String: Any] in (data?["params"] as? [Any]) ?? [] {
                if let k = p["key"] as? String, let v = p["value"] as? String { params[k] = v }
            }
            #expect(params["variance"] == "0.95" && params["metrics"] == "flow,pressure", "\(params)")
            var metrics: [String: Double] = [:]
            for case let m as [String: Any] in (data?["metrics"] as? [Any]) ?? [] {
                if let k = m["key"] as? String, let v = m["value"] as? Double { metrics[k] = v }
            }
            let f1 = Double(try await strings(url, "SELECT f1::text FROM ad.model_registry WHERE id = '\(good)'")[0])
            #expect(metrics["f1"] != nil && abs(metrics["f1"]! - f1!) < 1e-6, "\(metrics)")
            // No production_f1: the streaming scorer raises nothing in the held-out part since issue 22 (the young
            // pressure series looks heavy-tailed, so its +6 step is judged on log(1 + z); the registry row checked above).
            #expect(metrics["production_f1"] == nil && metrics["recall"] == 1, "\(metrics)")
            // The failed job: a FAILED run, no model version.
            let failed = try await strings(
                url,
                "SELECT concat_ws(' ', mlflow ? 'run_id', mlflow ? 'model_version') FROM ad.ml_models WHERE id = '\(bad)'"
            )
            #expect(failed == ["t f"])
            let badRun = try await strings(url, "SELECT mlflow ->> 'run_id' FROM ad.ml_models WHERE id = '\(bad)'")[0]
            let badInfo =
                (try await server.api("runs/get", query: ["run_id": badRun])["run"] as? [String: Any])?[
                    "info"] as? [String: Any]
            #expect(badInfo?["status"] as? String == "FAILED")
            await w.stop()
        }
    }
}
