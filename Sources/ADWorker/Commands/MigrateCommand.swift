import ADCore
import ADPostgres
import ArgumentParser

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Install or upgrade the ad schema in a database where the extension files cannot be installed.",
        discussion: """
            Applies the same SQL as CREATE EXTENSION anomaly_detection, in one transaction, and records the version \
            in ad_internal.schema_migrations. Running it again is a no-op. It refuses a database where the extension \
            is installed (use ALTER EXTENSION ... UPDATE there) or whose schema is newer than this binary.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Only report what would be done.")
    var dryRun = false

    func run() async throws {
        try await failingClearly {
            let url = try connection.url()
            let logger = try connection.logger("adworker.migrate")
            let migrator = Migrator(logger: logger)
            try await Database.withConnection(url, logger: logger, applicationName: "adworker migrate") { conn in
                if dryRun {
                    let installed = try await migrator.inspect(conn)
                    let plan = MigrationPlan.decide(
                        installed: installed, bundled: Migrator.bundledVersion,
                        steps: Migrator.bundledSteps)
                    print("plan: \(plan)")
                    return
                }
                switch try await migrator.migrate(conn) {
                case .installed(let v): print("installed anomaly_detection schema \(v) into \(url.database)")
                case .upgraded(let a, let b): print("upgraded anomaly_detection schema \(a) -> \(b) in \(url.database)")
                case .alreadyCurrent(let v):
                    print("anomaly_detection schema \(v) is already installed in \(url.database); nothing to do")
                }
            }
        }
    }
}
