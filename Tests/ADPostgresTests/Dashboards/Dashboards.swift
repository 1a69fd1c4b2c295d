import ADTestSupport
import Foundation

/// The Grafana dashboards in docker/grafana/dashboards, read the way Grafana reads them: panels (and the panels of
/// collapsed rows), their targets, and the dashboard's variables.
struct Dashboard: Sendable {
    struct Variable: Sendable {
        var name: String
        var type: String
        /// A query variable's query (SQL for the PostgreSQL data source, PromQL for Prometheus).
        var query: String?
        var datasourceUID: String?
        /// A custom variable's values.
        var custom: [String]
        var multi: Bool
        var includeAll: Bool
        var allValue: String?
    }

    struct Target: Sendable {
        var panel: String
        var refId: String
        var datasourceUID: String
        /// rawSql for PostgreSQL, expr for Prometheus.
        var text: String
        /// "table" or "time_series" (Grafana's default) for PostgreSQL.
        var format: String
    }

    var file: String
    var uid: String
    var title: String
    /// The default time range's start, e.g. "now-2d".
    var from: String
    var variables: [Variable]
    var targets: [Target]
    var panelTitles: [String]

    static let folder = Repository.root().appendingPathComponent("docker/grafana/dashboards")
    static let postgresUID = "ad-postgres"
    static let prometheusUID = "ad-prometheus"

    static func all() throws -> [Dashboard] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
            .sorted()
        return try files.map { try load(folder.appendingPathComponent($0)) }
    }

    static func load(_ url: URL) throws -> Dashboard {
        let file = url.lastPathComponent
        func fail(_ why: String) -> GrafanaSQLError { GrafanaSQLError(description: "\(file): \(why)") }
        guard let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        func uid(_ ds: Any?) -> String? { (ds as? [String: Any])?["uid"] as? String }
        var variables: [Variable] = []
        for v in ((json["templating"] as? [String: Any])?["list"] as? [[String: Any]]) ?? [] {
            let query: String? =
                (v["query"] as? String) ?? ((v["query"] as? [String: Any])?["query"] as? String)
            variables.append(
                Variable(
                    name: v["name"] as? String ?? "", type: v["type"] as? String ?? "",
                    query: v["type"] as? String == "query" ? query : nil, datasourceUID: uid(v["datasource"]),
                    custom: v["type"] as? String == "custom"
                        ? (query ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : [],
                    multi: v["multi"] as? Bool ?? false, includeAll: v["includeAll"] as? Bool ?? false,
                    allValue: (v["allValue"] as? String).flatMap { $0.isEmpty ? nil : $0 }))
        }
        var targets: [Target] = []
        var titles: [String] = []
        func walk(_ panels: [[String: Any]]) throws {
            for p in panels {
                if p["type"] as? String == "row" {
                    try walk(p["panels"] as? [[String: Any]] ?? [])
                    continue
                }
                let title = p["title"] as? String ?? "(untitled)"
                titles.append(title)
                for t in p["targets"] as? [[String: Any]] ?? [] {
                    guard let ds = uid(t["datasource"]) ?? uid(p["datasource"]) else {
                        throw fail("panel \"\(title)\" has a target without a data source uid")
                    }
                    let text = (t["rawSql"] as? String) ?? (t["expr"] as? String) ?? ""
                    targets.append(
                        Target(
                            panel: title, refId: t["refId"] as? String ?? "?", datasourceUID: ds, text: text,
                            format: t["format"] as? String ?? "time_series"))
                }
            }
        }
        try walk(json["panels"] as? [[String: Any]] ?? [])
        return Dashboard(
            file: file, uid: json["uid"] as? String ?? "", title: json["title"] as? String ?? "",
            from: ((json["time"] as? [String: Any])?["from"] as? String) ?? "now-6h", variables: variables,
            targets: targets, panelTitles: titles)
    }

    /// "now-2d" as seconds before now (the relative forms the dashboards use: now-Ns/m/h/d/w).
    static func relativeSeconds(_ from: String) -> Double? {
        guard from.hasPrefix("now-") else { return nil }
        return GrafanaSQL.parseInterval(String(from.dropFirst(4)))
    }

    /// The panel interval Grafana picks: the range over the panel's data points (about 1000 for a wide panel), not
    /// below the data source's minimum (jsonData.timeInterval, 1m), rounded up to a step of kbn.roundInterval's list.
    static func interval(rangeSeconds: Double, minimum: Double = 60) -> Double {
        let raw = max(rangeSeconds / 1000, minimum)
        let steps: [Double] = [
            0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200,
            10800, 21600, 43200, 86400, 604_800, 2_592_000, 31_536_000,
        ]
        return steps.first { $0 >= raw } ?? raw
    }
}
