import ADCore
import Logging
import PostgresNIO

/// `adworker migrate`: installs or upgrades the schema from the SQL embedded in the binary, in one transaction.
public struct Migrator: Sendable {
    /// The version this binary installs.
    public static var bundledVersion: SchemaVersion { SchemaVersion(EmbeddedSchema.version)! }
    /// The same, as written in the control file.
    public static var bundledVersionText: String { EmbeddedSchema.version }

    /// The step scripts this binary carries.
    public static var bundledSteps: [UpgradeStep] {
        EmbeddedSchema.updates.map { UpgradeStep(from: SchemaVersion($0.from)!, to: SchemaVersion($0.to)!) }
    }

    /// The sql/ files a fresh install runs, in order: the same as the extension's install script.
    public static var installFiles: [String] { EmbeddedSchema.install }

    /// The sql/ files the update `step` runs, in order (its step script, then every re-run file): the same as
    /// the extension's update script. Nil when this binary has no such step.
    public static func updateFiles(_ step: UpgradeStep) -> [String]? {
        EmbeddedSchema.updates.first { SchemaVersion($0.from) == step.from && SchemaVersion($0.to) == step.to }?.files
    }

    /// What happened.
    public enum Outcome: Sendable, Equatable {
        case installed(SchemaVersion)
        case upgraded(from: SchemaVersion, to: SchemaVersion)
        case alreadyCurrent(SchemaVersion)
    }

    /// A migration that was refused or failed; nothing was changed.
    public struct Failure: Error, CustomStringConvertible {
        /// Stable code: a `MigrationRefusal` code, or `sql_error`.
        public let code: String
        public let message: String
        public var description: String { message }
    }

    public let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    /// Reads what is installed, without changing anything.
    public func inspect(_ connection: PostgresConnection) async throws -> InstalledSchema {
        var installed = InstalledSchema()
        for try await v in try await connection.query(
            "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'anomaly_detection'", logger: logger
        ).decode(String.self) {
            installed.extensionVersion = v
        }
        for try await exists in try await connection.query(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'ad')", logger: logger
        ).decode(Bool.self) {
            installed.adSchemaExists = exists
        }
        var hasTable = false
        for try await t in try await connection.query(
            "SELECT to_regclass('ad_internal.schema_migrations') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            hasTable = t
        }
        if hasTable {
            var versions: [String] = []
            for try await v in try await connection.query(
                "SELECT version FROM ad_internal.schema_migrations ORDER BY installed_at", logger: logger
            ).decode(String.self) {
                versions.append(v)
            }
            installed.recordedVersions = versions
        }
        return installed
    }

    /// Installs or upgrades to the bundled version. Serialised by an advisory lock, so two concurrent runs
    /// are safe: the second waits and then finds the work done.
    public func migrate(_ connection: PostgresConnection) async throws -> Outcome {
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query(
                "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('anomaly_detection.migrate'))",
                logger: logger)
            let installed = try await inspect(connection)
            let outcome: Outcome
            switch MigrationPlan.decide(installed: installed, bundled: Self.bundledVersion, steps: Self.bundledSteps) {
            case .refuse(let why):
                throw Failure(code: why.code, message: why.description)
            case .upToDate(let v):
                outcome = .alreadyCurrent(v)
            case .install(let v):
                try await run(files: Self.installFiles, on: connection)
                try await record(v, on: connection)
                outcome = .installed(v)
            case .upgrade(let steps):
                // Each step is recorded as it completes; all of them commit together or not at all.
                for step in steps {
                    try await run(files: Self.updateFiles(step)!, on: connection)
                    try await record(step.to, on: connection)
                }
                outcome = .upgraded(from: steps.first!.from, to: steps.last!.to)
            }
            try await connection.query("COMMIT", logger: logger)
            return outcome
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private func record(_ version: SchemaVersion, on connection: PostgresConnection) async throws {
        let text = version.description
        try await connection.query(
            "INSERT INTO ad_internal.schema_migrations (version, installer) VALUES (\(text), 'migrate')",
            logger: logger)
    }

    private func run(files: [String], on connection: PostgresConnection) async throws {
        for name in files {
            try await run(script: EmbeddedSchema.sql(name)!, named: "sql/\(name)", on: connection)
        }
    }

    private func run(script: String, named name: String, on connection: PostgresConnection) async throws {
        let statements: [String]
        do {
            statements = try SQLScript.statements(in: script)
        } catch {
            throw Failure(code: "sql_error", message: "\(name): \(error)")
        }
        for statement in statements {
            do {
                // The SQL is the binary's own schema, never user input. Errors raised while a statement runs
                // arrive in its row stream, so the stream is always read to the end.
                for try await _ in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) {}
            } catch {
                let head = statement.split(separator: "\n").first { !$0.hasPrefix("--") } ?? ""
                throw Failure(code: "sql_error", message: "\(name): \(describe(error))\n  in: \(head)")
            }
        }
    }
}
