import ADTestSupport
import Foundation
import Testing

/// The dashboards as files, without a database: each loads, names a provisioned data source, keeps its SQL free of
/// what Grafana versions treat differently, and the worker dashboard asks Prometheus only for metrics the worker
/// exports.
@Suite struct DashboardFiles {
    /// The worker's metric names, as `WorkerMetrics` declares them (the Prometheus scrape test reads them from a
    /// running worker).
    static let workerMetrics: Set<String> = {
        let text =
            (try? String(
                contentsOf: Repository.root().appendingPathComponent(
                    "Sources/ADPostgres/Observability/WorkerMetrics.swift"), encoding: .utf8)) ?? ""
        return Set(text.matches(of: /"(ad_[a-z_]+)"/).map { String($0.output.1) })
    }()
    /// Exported metrics the dashboard does not chart, and why.
    static let notCharted: [String: String] = [
        "ad_poll_interval_seconds": "the alert rule compares the lag with it; the lag panel is enough to read",
        "ad_ready": "the workers-up and listener panels show it; the alert rule ADWorkerNotReady watches it",
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
        #expect(Self.workerMetrics.count >= 20, "\(Self.workerMetrics)")
        let uncharted = Self.workerMetrics.subtracting(used).subtracting(Self.notCharted.keys)
        #expect(uncharted.isEmpty, "no panel: \(uncharted)")
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
