import ADCore
import Logging
import PostgresNIO

/// Reads the facts `adworker doctor` judges, without changing anything.
public struct DoctorProbe: Sendable {
    public let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    public func facts(_ connection: PostgresConnection) async throws -> DoctorFacts {
        var serverVersion = "", serverNumber = 0, user = ""
        for try await (v, n, u) in try await connection.query(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, current_user::text",
            logger: logger
        ).decode((String, Int, String).self) {
            serverVersion = v; serverNumber = n; user = u
        }
        var unreadable: [String] = []
        var schema = InstalledSchema()
        do {
            schema = try await Migrator(logger: logger).inspect(connection)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
            unreadable.append("ad_internal.schema_migrations")
            schema.adSchemaExists = true
        }

        var available: [String: String] = [:]
        for try await (name, version) in try await connection.query(
            "SELECT name::text, default_version FROM pg_catalog.pg_available_extensions WHERE name IN ('anomaly_detection', 'timescaledb')",
            logger: logger
        ).decode((String, String).self) {
            available[name] = version
        }

        var ts = DoctorFacts.TimescaleDB(availableVersion: available["timescaledb"])
        for try await v in try await connection.query(
            "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'", logger: logger
        ).decode(String.self) {
            ts.installedVersion = v
        }
        for try await (preload, license) in try await connection.query(
            "SELECT current_setting('shared_preload_libraries') ~ '(^|[, ])timescaledb($|[, ])', current_setting('timescaledb.license', true)",
            logger: logger
        ).decode((Bool, String?).self) {
            ts.preloaded = preload; ts.license = license
        }

        var storage: [String: String] = [:]
        var hasStorage = false
        for try await t in try await connection.query(
            "SELECT to_regclass('ad_internal.storage') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            hasStorage = t
        }
        if hasStorage {
            do {
                for try await (k, v) in try await connection.query(
                    "SELECT key, value FROM ad_internal.storage", logger: logger
                ).decode((String, String).self) {
                    storage[k] = v
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
                unreadable.append("ad_internal.storage")
            }
        }

        var quarantined: Int?
        var hasQuarantine = false
        for try await t in try await connection.query(
            "SELECT to_regclass('ad.quarantined_points') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            hasQuarantine = t
        }
        if hasQuarantine {
            do {
                for try await n in try await connection.query(
                    "SELECT count(*)::int8 FROM ad.quarantined_points WHERE requeued_at IS NULL", logger: logger
                ).decode(Int64.self) {
                    quarantined = Int(n)
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
                unreadable.append("ad.quarantined_points")
            }
        }

        var roles: [String: Bool] = [:]
        for name in groupRoles {
            for try await exists in try await connection.query(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = \(name))", logger: logger
            ).decode(Bool.self) {
                roles[name] = exists
            }
        }
        var facts = DoctorFacts(
            serverVersion: serverVersion, serverVersionNumber: serverNumber, schema: schema,
            availableExtensionVersion: available["anomaly_detection"], bundled: Migrator.bundledVersion,
            timescale: ts, storage: storage, roles: roles, currentUser: user)
        facts.bundledSteps = Migrator.bundledSteps
        facts.unreadable = unreadable
        facts.quarantined = quarantined
        return facts
    }
}
