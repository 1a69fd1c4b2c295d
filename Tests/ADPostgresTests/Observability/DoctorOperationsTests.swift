import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

/// `adworker doctor` on a running system, against a real database: the backlog and its age, stuck training and
/// delivery leases, failing channels, stale sources and (with TimescaleDB) failed background jobs.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct DoctorReadsTheRunningSystem {
    static let seed = """
        INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'src-a');
        INSERT INTO ad.data_sources (name) VALUES ('src-fresh');
        INSERT INTO ad.data_points (source_id, "timestamp", values)
        SELECT '00000000-0000-0000-0000-00000000000a', now() - interval '3 hours' + g * interval '1 minute', jsonb_build_object('x', g)
          FROM generate_series(0, 9) g;
        INSERT INTO ad.data_points (source_id, "timestamp", values)
        SELECT id, now() - interval '1 minute', '{"x": 1}' FROM ad.data_sources WHERE name = 'src-fresh';
        INSERT INTO ad.alert_rules (name) VALUES ('r');
        INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', 'http://127.0.0.1:9/x'), ('ok-hook', 'webhook', 'http://127.0.0.1:9/y');
        INSERT INTO ad.alert_rule_channels (rule_id, channel_id)
        SELECT r.id, c.id FROM ad.alert_rules r, ad.channels c;
        WITH a AS (
            INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score)
            VALUES (gen_random_uuid(), now() - interval '3 hours', '00000000-0000-0000-0000-00000000000a', 'x', 'robust', 'high', 0.99)
            RETURNING id, point_timestamp, source_id, metric
        )
        INSERT INTO ad.alerts (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
        SELECT r.id, a.id, a.point_timestamp, a.source_id, a.metric, 'high', 't', 'm' FROM a, ad.alert_rules r;
        UPDATE ad.alert_deliveries d SET attempts = 1, next_attempt_at = now() - interval '10 minutes'
          FROM ad.channels c WHERE c.id = d.channel_id AND c.name = 'hook';
        UPDATE ad.alert_deliveries d SET next_attempt_at = now() - interval '20 minutes'
          FROM ad.channels c WHERE c.id = d.channel_id AND c.name = 'ok-hook';
        INSERT INTO ad.delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error)
        SELECT d.id, 1, now() - interval '30 minutes', now() - interval '30 minutes', 'sent', NULL
          FROM ad.alert_deliveries d JOIN ad.channels c ON c.id = d.channel_id WHERE c.name = 'hook';
        INSERT INTO ad.delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error)
        SELECT d.id, 2, now() - interval '20 minutes', now() - interval '20 minutes', 'retry', 'connection refused'
          FROM ad.alert_deliveries d JOIN ad.channels c ON c.id = d.channel_id WHERE c.name = 'hook';
        INSERT INTO ad.delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error)
        SELECT d.id, 1, now() - interval '20 minutes', now() - interval '20 minutes', 'sent', NULL
          FROM ad.alert_deliveries d JOIN ad.channels c ON c.id = d.channel_id WHERE c.name = 'ok-hook';
        INSERT INTO ad.ml_models (name, algorithm, status, claimed_by, lease_until, created_at)
        VALUES ('lapsed', 'isolation_forest', 'training', 'gone@host:1', now() - interval '5 minutes', now() - interval '1 hour'),
               ('waiting', 'isolation_forest', 'training', NULL, NULL, now() - interval '1 hour'),
               ('fresh', 'isolation_forest', 'training', NULL, NULL, now());
        INSERT INTO ad.quarantined_points (source_id, point_timestamp, error)
        SELECT source_id, "timestamp", 'boom' FROM ad.data_points ORDER BY "timestamp" LIMIT 1;
        """

    @Test func itNamesWhatIsStuckFailingOrStale() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            let clean = try await Database.withConnection(url, logger: TestServer.logger) {
                try await DoctorProbe(logger: TestServer.logger).facts($0)
            }
            let quiet = try #require(clean.operations)
            #expect(quiet.unscored == 0 && quiet.stuckTraining.isEmpty && quiet.failingChannels.isEmpty)
            #expect(quiet.staleSources.isEmpty && quiet.expiredDeliveryLeases == 0 && quiet.overdueDeliveries == 0)
            // (TimescaleDB's own jobs are left out: its job-history retention job fails on its first run in a fresh
            // database here, "cannot drop portal", and doctor rightly says so.)
            #expect(diagnose(quiet).allSatisfy { $0.level == .ok || $0.topic == "jobs" }, "\(diagnose(quiet))")

            for statement in try SQLScript.statements(in: Self.seed) { try await sql(url, statement) }
            let facts = try await Database.withConnection(url, logger: TestServer.logger) {
                try await DoctorProbe(logger: TestServer.logger).facts($0)
            }
            let o = try #require(facts.operations)
            #expect(o.unscored == 10, "11 points, one quarantined")
            #expect(o.oldestUnscoredSeconds > 3 * 3600 - 120)
            #expect(facts.quarantined == 1)
            #expect(o.stuckTraining.count == 2)
            #expect(o.stuckTraining.first?.hasPrefix("lapsed v1 (lease of gone@host:1 ran out at ") == true)
            #expect(o.stuckTraining.last?.hasPrefix("waiting v1 (waiting since ") == true)
            #expect(o.expiredDeliveryLeases == 1 && o.overdueDeliveries == 1)
            #expect(
                o.failingChannels == [
                    .init(name: "hook", type: "webhook", failures: 1, lastError: "connection refused")
                ])
            #expect(o.staleSources.map(\.name) == ["src-a"])

            let findings = diagnose(facts)
            func finding(_ topic: String) -> Finding? { findings.first { $0.topic == topic } }
            #expect(finding("backlog")?.level == .warn)
            #expect(finding("backlog")?.detail.hasPrefix("10 unscored point(s), the oldest observed 2 h 5") == true)
            #expect(finding("training")?.level == .warn)
            #expect(
                finding("deliveries")?.detail
                    == "1 claimed whose lease ran out over 5 min ago, 1 due over 5 min ago and not claimed")
            #expect(finding("channels")?.detail.hasPrefix("hook (webhook): its latest attempt failed") == true)
            #expect(finding("sources")?.detail.hasPrefix("no point for over an hour: src-a (2 h 5") == true)
        }
    }

    /// A TimescaleDB background job that fails is named with its error (timescaledb_information.job_stats and
    /// job_errors). Only where TimescaleDB is loaded (the TimescaleDB run of the suite).
    @Test(.enabled(if: TestServer.timescale, "needs TimescaleDB (the suite's TimescaleDB run)"))
    func aFailedTimescaleDBJobIsNamed() async throws {
        try await withScratchDatabase(timescale: true) { url in
            try await migrate(url)
            try await sql(
                url,
                """
                CREATE PROCEDURE public.failing_job(job_id int, config jsonb) LANGUAGE plpgsql
                AS $$ BEGIN RAISE EXCEPTION 'the job fails on purpose'; END $$
                """)
            try await sql(url, "SELECT add_job('public.failing_job', '1 hour', initial_start => now())")
            var facts: DoctorFacts?
            let seen = try await eventually(timeout: .seconds(120)) {
                facts = try await Database.withConnection(url, logger: TestServer.logger) {
                    try await DoctorProbe(logger: TestServer.logger).facts($0)
                }
                // The scheduler retries a failed job, so the count of failures may be past 1 when doctor looks.
                return facts?.operations?.failedJobs.contains {
                    $0.contains("(failing_job, ") && $0.hasSuffix(" failure(s)): the job fails on purpose")
                } == true
            }
            let operations = String(describing: facts?.operations)
            #expect(seen, "the scheduler never ran the job, or doctor did not see it: \(operations)")
            let jobs = diagnose(try #require(facts)).first { $0.topic == "jobs" }
            #expect(jobs?.level == .warn && jobs?.detail.contains("the job fails on purpose") == true)
        }
    }
}
