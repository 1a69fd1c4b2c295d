import ADCore
import ADPostgres
import ArgumentParser

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the database: server, schema version, TimescaleDB, roles; say what to do about each problem.",
        discussion: "Exits 0 when nothing failed (warnings allowed), 1 otherwise."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        var failed = false
        try await failingClearly {
            let url = try connection.url()
            let logger = try connection.logger("adworker.doctor")
            let facts = try await Database.withConnection(url, logger: logger, applicationName: "adworker doctor") {
                try await DoctorProbe(logger: logger).facts($0)
            }
            print("adworker doctor: \(url) as \(facts.currentUser)")
            for finding in diagnose(facts) {
                print(
                    "  \(finding.level.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  "
                        + "\(finding.topic.padding(toLength: 12, withPad: " ", startingAt: 0)) \(finding.detail)")
                if let action = finding.action { print("        \(String(repeating: " ", count: 12)) -> \(action)") }
                if finding.level == .fail { failed = true }
            }
        }
        if failed { throw ExitCode.failure }
    }
}
