import ADTestSupport
import Foundation
import Testing

/// The dashboards as files, without a database: each loads, names a provisioned data source, keeps its SQL free of
/// what Grafana versions treat differently, and the worker dashboard asks Prometheus only for metrics the worker
/// exports.
@Suite struct DashboardFiles {
    /// The worker's metric names, fixed for issue 21 (the observability work implements them; the merged CI run checks
    /// this list against a real /metrics scrape).
    static let workerMetrics: Set<String> = [
        "ad_points_scored_total", "ad_scoring_batches_total", "ad_scoring_batch_duration_seconds",
        "ad_unscored_points", "ad_unscored_oldest_age_seconds", "ad_quarantined_points", "ad_anomalies_total",
        "ad_alerts_raised_total", "ad_alert_deliveries_total", "ad_alert_delivery_latency_seconds",
        "ad_training_runs_total", "ad_listener_connected", "ad_listener_reconnects_total", "ad_history_cache_series",
        "ad_history_cache_points", "ad_poll_lag_seconds", "ad_poll_rows_total", "ad_poll_errors_total",
        "ad_build_info",
    ]
    static let histograms: Set<String> = ["ad_scoring_batch_duration_seconds", "ad_alert_delivery_latency_seconds"]

    /// The uids the provisioning file gives its data sources.
    static func provisionedUIDs() throws -> Set<String> {
        let text = try String(
            contentsOf: Repository.root().appendingPathComponent(
                "docker/grafana/provisioning/datasources/anomaly-detection.yaml"), encoding: .utf8)
        return Set(
            text.split(separator: "\n").compactMap { line -> String? in
                let t = line.trimmingCharacters(in: .whitespaces)
                return t.hasPrefix("uid:") ? t.dropFirst(4).trimmingCharacters(in: .whitespaces) : nil
            })
    }

    @Test func everyDashboardLoadsAndUsesOnlyTheProvisionedDataSources() throws {
        let dashboards = try Dashboard.all()
        #expect(dashboards.count >= 4, "\(dashboards.map(\.file))")
        let uids = try Self.provisionedUIDs()
        #expect(uids == [Dashboard.postgresUID, Dashboard.prometheusUID])
        #expect(Set(dashboards.map(\.uid)).count == dashboards.count, "dashboard uids are unique")
        for d in dashboards {
            #expect(!d.targets.isEmpty, "\(d.file) has panels with queries")
            #expect(Dashboard.relativeSeconds(d.from) != nil, "\(d.file): default time range \(d.from)")
            for t in d.targets {
                #expect(uids.contains(t.datasourceUID), "\(d.file) \(t.panel): data source \(t.datasourceUID)")
                #expect(!t.text.isEmpty, "\(d.file) \(t.panel) \(t.refId) has a query")
            }
            for v in d.variables where v.type == "query" {
                #expect(v.datasourceUID.map(uids.contains) == true, "\(d.file) variable \(v.name)")
            }
            #expect(
                Set(d.panelTitles).count == d.panelTitles.count, "\(d.file): panel titles are unique (tests name them)")
        }
        // Both kinds are there: the views (PostgreSQL) and the worker's metrics (Prometheus).
        #expect(dashboards.contains { $0.targets.contains { $0.datasourceUID == Dashboard.prometheusUID } })
        #expect(dashboards.filter { $0.targets.contains { $0.datasourceUID == Dashboard.postgresUID } }.count >= 3)
    }

    @Test func panelSQLReadsOnlyAdViewsAndHasNoComments() throws {
        // Grafana 12 strips SQL comments before expanding macros and older versions do not: a panel without comments
        // means the same statement on both. The reader views live in schema ad; nothing else is readable anyway.
        let relation = try NSRegularExpression(pattern: #"\b(?:FROM|JOIN)\s+([a-zA-Z_][\w.]*)"#)
        for d in try Dashboard.all() {
            for t in d.targets where t.datasourceUID == Dashboard.postgresUID {
                #expect(!t.text.contains("--") && !t.text.contains("/*"), "\(d.file) \(t.panel)")
                #expect(!t.text.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix(";"), "\(d.file) \(t.panel)")
                let ns = t.text as NSString
                for m in relation.matches(in: t.text, range: NSRange(location: 0, length: ns.length)) {
                    let name = ns.substring(with: m.range(at: 1))
                    #expect(name.hasPrefix("ad."), "\(d.file) \(t.panel) reads \(name)")
                }
            }
        }
    }

    @Test func theWorkerDashboardNamesOnlyMetricsTheWorkerExports() throws {
        let metric = try NSRegularExpression(pattern: #"\bad_[a-z0-9_]+"#)
        var used: Set<String> = []
        for d in try Dashboard.all() {
            let exprs =
                d.targets.filter { $0.datasourceUID == Dashboard.prometheusUID }.map { ($0.panel, $0.text) }
                + d.variables.filter { $0.datasourceUID == Dashboard.prometheusUID }.compactMap { v in
                    v.query.map { ("variable \(v.name)", $0) }
                }
            for (panel, expr) in exprs {
                let ns = expr as NSString
                for m in metric.matches(in: expr, range: NSRange(location: 0, length: ns.length)) {
                    var name = ns.substring(with: m.range)
                    for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                        let base = String(name.dropLast(suffix.count))
                        if Self.histograms.contains(base) { name = base }
                    }
                    used.insert(name)
                    #expect(Self.workerMetrics.contains(name), "\(d.file) \(panel): \(name) is not a worker metric")
                }
            }
        }
        // Every metric of the list has a panel.
        #expect(Self.workerMetrics.subtracting(used).isEmpty, "no panel: \(Self.workerMetrics.subtracting(used))")
    }

    /// promtool parses every expression (as a recording rule), with the dashboard's variables filled in.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"), "needs promtool"))
    func promtoolParsesEveryWorkerPanelExpression() throws {
        var rules: [[String: String]] = []
        for d in try Dashboard.all() {
            for (i, t) in d.targets.enumerated() where t.datasourceUID == Dashboard.prometheusUID {
                let expr = t.text.replacingOccurrences(of: "$__rate_interval", with: "1m")
                    .replacingOccurrences(of: "$__interval", with: "1m").replacingOccurrences(
                        of: "$__range", with: "1h"
                    )
                    .replacingOccurrences(of: "$instance", with: ".*")
                rules.append([
                    "record": "dashboard:\(d.uid.replacingOccurrences(of: "-", with: "_")):\(i)", "expr": expr,
                ])
            }
        }
        #expect(!rules.isEmpty)
        // YAML is a superset of JSON: promtool reads this as a rule file.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-rules-\(UUID()).yml")
        try JSONSerialization.data(withJSONObject: ["groups": [["name": "dashboards", "rules": rules]]])
            .write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        p.arguments = ["check", "rules", file.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "promtool check rules:\n\(text)")
    }
}
