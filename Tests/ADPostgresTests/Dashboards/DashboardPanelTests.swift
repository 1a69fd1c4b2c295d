import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

/// Every PostgreSQL panel of every dashboard, expanded as Grafana expands it (GrafanaSQL) and run as ad_reader, the
/// role the provisioned data source logs in as: first on an empty database (no error), then on one filled by the
/// demo's generator (scripts/demo-data.sql, then live ticks of scripts/demo-feed.sql) and scored by a real worker,
/// with an alert rule delivering to a webhook that fails at first, and operator feedback (no error, and rows).
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct DashboardPanelsAsTheReader {
    /// Panels the demo gives no rows, and why. Every other panel must return rows on the demo-fed database.
    static let mayBeEmpty: [String: String] = [
        "Drift: largest feature PSI per model": "the demo trains no model, so no drift check runs",
        "Drift checks": "the demo trains no model, so no drift check runs",
    ]

    /// The statement Grafana would send for `text` with every variable at All, or at its first option.
    struct Run: Sendable {
        var label: String
        var context: GrafanaQueryContext
    }

    @Test func everyPanelRunsAsTheReaderOnAnEmptyAndADemoFedDatabase() async throws {
        let dashboards = try Dashboard.all()
        let receiver = HTTPReceiver()
        try receiver.start()
        defer { receiver.stop() }
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(url, "SELECT ad.create_roles()")

            // A fresh install: no sources, no variable options. Every panel answers, without rows.
            var problems = try await runPanels(dashboards, url, requireRows: false)
            #expect(problems.isEmpty, "on an empty database:\n\(problems.joined(separator: "\n"))")

            // The demo's history, the way scripts/demo loads it, and an alert rule that delivers to a webhook which
            // answers 503 three times first (so the history shows retries and sends).
            let repo = Repository.root()
            let history = try String(
                contentsOf: repo.appendingPathComponent("scripts/demo-data.sql"), encoding: .utf8)
            for statement in try SQLScript.statements(in: history) { try await sql(url, statement) }
            try await sql(
                url,
                "INSERT INTO ad.channels (name, type, target) VALUES ('hook', 'webhook', '\(receiver.url("/webhook/hook"))')"
            )
            try await sql(
                url,
                "INSERT INTO ad_internal.outbound_allowlist (network, note) VALUES ('127.0.0.1/32', 'the test receiver')"
            )
            try await sql(url, "INSERT INTO ad.alert_rules (name) VALUES ('everything')")
            try await sql(url, "SELECT ad.add_rule_channel('everything', 'hook')")
            try await receiver.fail(status: 503, count: 3)
            let worker = try WorkerProcess(
                url, name: "dash",
                environment: [
                    "AD_POLL_INTERVAL": "0.2", "AD_DELIVERY_POLL": "0.1", "AD_DELIVERY_BACKOFF_BASE": "0.2",
                    "AD_DELIVERY_BACKOFF_CAP": "0.5", "AD_CONFIG_REFRESH": "0",
                ])
            defer { Task { await worker.stop() } }
            let unscored = "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL"
            #expect(
                try await eventually(timeout: .seconds(600)) { try await integer(url, unscored) == 0 },
                "the demo history was not scored:\n\(worker.output)")
            // Live ticks, as the demo's feed sends them.
            let feed = try String(contentsOf: repo.appendingPathComponent("scripts/demo-feed.sql"), encoding: .utf8)
            for _ in 0..<3 {
                for statement in try SQLScript.statements(in: feed) { try await sql(url, statement) }
            }
            #expect(
                try await eventually(timeout: .seconds(120)) { try await integer(url, unscored) == 0 },
                "the live ticks were not scored:\n\(worker.output)")
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(
                        url,
                        "SELECT count(DISTINCT outcome) FROM ad.delivery_attempts WHERE outcome IN ('sent', 'retry')")
                        == 2
                }, "no delivery was retried and sent:\n\(worker.output)")

            // Operator feedback: one anomaly confirmed, one marked a false positive (which the worker learns from).
            try await sql(url, "INSERT INTO ad.users (name, db_role) VALUES ('Demo Operator', session_user)")
            let ids = try await strings(
                url, "SELECT id::text FROM ad.anomalies ORDER BY point_timestamp DESC, id LIMIT 2")
            try #require(ids.count == 2, "the demo produced fewer than two anomalies")
            _ = try await strings(url, "SELECT ad.confirm_anomaly('\(ids[0])', 'real')")
            _ = try await strings(url, "SELECT ad.mark_false_positive('\(ids[1])', 'expected')")
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    try await integer(url, "SELECT count(*) FROM ad.feedback WHERE processed_at IS NULL") == 0
                }, "the feedback was not processed:\n\(worker.output)")
            await worker.stop()

            problems = try await runPanels(dashboards, url, requireRows: true)
            #expect(problems.isEmpty, "on the demo-fed database:\n\(problems.joined(separator: "\n"))")
        }
    }

    /// Runs every PostgreSQL target of every dashboard as ad_reader: with every variable at All, and with every
    /// variable at its first option. Returns what went wrong, one line each.
    func runPanels(_ dashboards: [Dashboard], _ url: DatabaseURL, requireRows: Bool) async throws -> [String] {
        var problems: [String] = []
        try await Database.withConnection(url, logger: TestServer.logger) { conn in
            try await conn.query("SET ROLE ad_reader", logger: TestServer.logger)
            for d in dashboards {
                let range = try #require(Dashboard.relativeSeconds(d.from))
                // The browser's time range: milliseconds.
                let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
                var base = GrafanaQueryContext(
                    from: now.addingTimeInterval(-range), to: now,
                    intervalSeconds: Dashboard.interval(rangeSeconds: range), variables: [:])
                // Variables in order, each query run first (as Grafana does), as the reader.
                var firsts: [String: GrafanaVariable] = [:]
                for v in d.variables where v.datasourceUID != Dashboard.prometheusUID {
                    var options = v.custom
                    if let query = v.query {
                        let expanded = try GrafanaSQL.expand(query, base)
                        do {
                            options = try await textColumn(conn, expanded)
                        } catch {
                            problems.append("\(d.file) variable \(v.name): \(describe(error))\n  \(expanded)")
                            continue
                        }
                    }
                    let variable = GrafanaVariable(
                        name: v.name, options: options, multi: v.multi, includeAll: v.includeAll,
                        allValue: v.allValue, selected: nil)
                    base.variables[v.name] = variable
                    var first = variable
                    first.selected = options.first.map { [$0] }
                    firsts[v.name] = first
                }
                var runs = [Run(label: "all", context: base)]
                if firsts.values.contains(where: { $0.selected != nil }) {
                    var one = base
                    one.variables = firsts
                    runs.append(Run(label: "first option", context: one))
                }
                for t in d.targets where t.datasourceUID == Dashboard.postgresUID {
                    for run in runs {
                        let statement = try GrafanaSQL.expand(t.text, run.context)
                        let name = "\(d.file) \"\(t.panel)\" (\(run.label))"
                        do {
                            let (rows, columns) = try await execute(conn, statement)
                            if t.format == "time_series", rows > 0, !columns.contains("time") {
                                problems.append("\(name): time series without a time column: \(columns)")
                            }
                            if requireRows, run.label == "all", rows == 0, Self.mayBeEmpty[t.panel] == nil {
                                problems.append("\(name): no rows on the demo-fed database\n  \(statement)")
                            }
                        } catch {
                            problems.append("\(name): \(describe(error))\n  \(statement)")
                        }
                    }
                }
            }
            try await conn.query("RESET ROLE", logger: TestServer.logger)
        }
        return problems
    }

    /// The first column of every row, as text (a variable's options).
    func textColumn(_ conn: PostgresConnection, _ statement: String) async throws -> [String] {
        var out: [String] = []
        for try await row in try await conn.query(PostgresQuery(unsafeSQL: statement), logger: TestServer.logger) {
            guard let cell = row.first(where: { _ in true }) else { continue }
            out.append(try cell.decode(String.self))
        }
        return out
    }

    /// Runs a test-owned statement (a dashboard's, expanded); its row count and column names.
    func execute(_ conn: PostgresConnection, _ statement: String) async throws -> (Int, [String]) {
        var rows = 0
        var columns: [String] = []
        for try await row in try await conn.query(PostgresQuery(unsafeSQL: statement), logger: TestServer.logger) {
            if rows == 0 { columns = row.map(\.columnName) }
            rows += 1
        }
        return (rows, columns)
    }
}
