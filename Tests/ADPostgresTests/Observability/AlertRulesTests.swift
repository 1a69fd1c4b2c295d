import ADTestSupport
import Foundation
import Testing

/// docker/prometheus/alerts.yml is valid for Prometheus (`promtool check rules`) and fires as its unit tests say
/// (`promtool test rules docker/prometheus/alerts_test.yml`), and every metric it names is one the worker exports.
@Suite(
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"),
        "needs /usr/bin/promtool: apt-get install prometheus (scripts/lib/deps.sh test installs it)")
)
struct TheWorkerAlertRules {
    static let directory = Repository.root().appendingPathComponent("docker/prometheus")

    static func promtool(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        p.arguments = arguments
        p.currentDirectoryURL = directory
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func promtoolChecksTheRules() throws {
        let r = try Self.promtool(["check", "rules", "alerts.yml"])
        #expect(r.status == 0, "\(r.output)")
    }

    @Test func theRulesPassTheirUnitTests() throws {
        let r = try Self.promtool(["test", "rules", "alerts_test.yml"])
        #expect(r.status == 0, "\(r.output)")
    }

    /// Each ad_* name in the rules is one of WorkerMetrics' names (or a histogram's _count/_sum/_bucket).
    @Test func theRulesNameOnlyMetricsTheWorkerExports() throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent("alerts.yml"), encoding: .utf8)
        let names = Set(
            text.matches(of: /\bad_[a-z_]+/).map { String($0.output) }.filter { !$0.hasPrefix("ad.") })
        let metrics = try String(
            contentsOf: Repository.root().appendingPathComponent(
                "Sources/ADPostgres/Observability/WorkerMetrics.swift"),
            encoding: .utf8)
        let exported = Set(metrics.matches(of: /"(ad_[a-z_]+)"/).map { String($0.output.1) })
        #expect(!names.isEmpty)
        for name in names where !name.hasPrefix("ad_internal") {
            let base = name.replacing(/_(count|sum|bucket)$/, with: "")
            #expect(
                exported.contains(name) || exported.contains(base), "alerts.yml names \(name), which is not exported")
        }
    }
}
