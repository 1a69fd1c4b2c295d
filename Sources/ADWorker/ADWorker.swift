import ADCore
import ADPostgres
import ArgumentParser
import Foundation
import Logging

@main
struct ADWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adworker",
        abstract: "The anomaly-detection sidecar for PostgreSQL.",
        subcommands: [
            RunCommand.self, MigrateCommand.self, DoctorCommand.self, BenchCommand.self, EvaluateCommand.self,
        ]
    )
}

/// Options every subcommand that talks to the database shares.
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "postgres:// URL of the database (default: $DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: $AD_LOG_LEVEL or info).")
    var logLevel: String?

    func url() throws -> DatabaseURL {
        guard let text = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else {
            throw ValidationError(
                "no database: set DATABASE_URL or pass --database-url (scripts/pgcluster start prints one)")
        }
        do {
            return try DatabaseURL(text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func logger(_ label: String) throws -> Logger {
        let text = logLevel ?? ProcessInfo.processInfo.environment["AD_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: text) else {
            throw ValidationError(
                "log level \"\(text)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        let env = ProcessInfo.processInfo.environment
        let format: WorkerSettings.LogFormat
        do {
            format = try WorkerSettings.LogFormat.parse(env["AD_LOG_FORMAT"])
        } catch {
            throw ValidationError(error.description)
        }
        switch format {
        case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        case .json:
            let worker = env["AD_WORKER_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "adworker"
            LoggingSystem.bootstrap { JSONLogHandler(label: $0, worker: worker) }
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// Exit with a message on standard error, for failures that are not usage errors.
struct Fatal: Error, CustomStringConvertible {
    let description: String
}

extension AsyncParsableCommand {
    /// Runs `body`, turning our errors into a one-line message and exit status 1.
    func failingClearly(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("adworker: \(describe(error))\n".utf8))
            throw ExitCode.failure
        }
    }
}
