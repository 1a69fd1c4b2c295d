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
        if hasQuarantine {
            do {
                facts.operations = try await operations(
                    connection, timescale: ts.installedVersion != nil, unreadable: &facts.unreadable)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
                facts.unreadable.append("the tables of the running system (backlog, leases, deliveries)")
            }
        }
        return facts
    }

    static let stuckTrainingQuery = """
        SELECT name || ' v' || version || CASE
                 WHEN lease_until IS NULL
                 THEN ' (waiting since ' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC, claimed by no worker)'
                 ELSE ' (lease of ' || coalesce(claimed_by, '?') || ' ran out at '
                      || to_char(lease_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC)'
               END
          FROM ad.ml_models
         WHERE status IN ('training', 'evaluating')
           AND ((lease_until IS NULL AND created_at < now() - interval '10 minutes')
                OR lease_until < now() - interval '1 minute')
         ORDER BY created_at
         LIMIT 20
        """

    static let deliveriesQuery = """
        SELECT count(*) FILTER (WHERE attempts > 0)::int8, count(*) FILTER (WHERE attempts = 0)::int8
          FROM ad.alert_deliveries
         WHERE status = 'pending' AND next_attempt_at < now() - interval '5 minutes'
        """

    /// Channels whose latest attempt in the last 24 hours was not sent.
    static let failingChannelsQuery = """
        SELECT c.name, c.type, count(*) FILTER (WHERE a.outcome <> 'sent')::int8,
               left(coalesce((array_agg(a.error ORDER BY a.finished_at DESC, a.id DESC)
                              FILTER (WHERE a.outcome <> 'sent'))[1], '?'), 300)
          FROM ad.channels c
          JOIN ad.alert_deliveries d ON d.channel_id = c.id
          JOIN ad.delivery_attempts a ON a.delivery_id = d.id
         WHERE a.finished_at > now() - interval '24 hours'
         GROUP BY c.name, c.type
        HAVING (array_agg(a.outcome ORDER BY a.finished_at DESC, a.id DESC))[1] <> 'sent'
         ORDER BY c.name
        """

    /// Active sources whose newest point is over an hour old (sources without points are not listed); each newest
    /// point is one probe of the primary key.
    static let staleSourcesQuery = """
        SELECT s.name, extract(epoch FROM now() - latest."timestamp")::float8
          FROM ad.data_sources s
          CROSS JOIN LATERAL (SELECT p."timestamp" FROM ad.data_points p WHERE p.source_id = s.id
                               ORDER BY p."timestamp" DESC LIMIT 1) latest
         WHERE s.status = 'active' AND latest."timestamp" < now() - interval '1 hour'
         ORDER BY latest."timestamp"
        """

    /// db_poll sources: how many there are, and those failing or over three poll intervals (and a minute) behind.
    static let pollsQuery = """
        SELECT source_name, state, lag_seconds, interval_seconds, left(last_error, 300),
               count(*) OVER ()
          FROM ad.poll_status
         ORDER BY lag_seconds DESC
        """

    /// TimescaleDB background jobs whose last run failed, with the latest error recorded for each.
    static let failedJobsQuery = """
        SELECT 'job ' || js.job_id || ' (' || j.proc_name || coalesce(' on ' || j.hypertable_name, '') || ', '
               || js.total_failures || ' failure(s))'
               || coalesce(': ' || left((SELECT e.err_message FROM timescaledb_information.job_errors e
                                          WHERE e.job_id = js.job_id ORDER BY e.start_time DESC LIMIT 1), 300), '')
          FROM timescaledb_information.job_stats js
          JOIN timescaledb_information.jobs j ON j.job_id = js.job_id
         WHERE js.last_run_status = 'Failed'
         ORDER BY js.job_id
        """

    /// The running system: backlog, stuck leases, failing channels, stale sources, failed TimescaleDB jobs.
    public func operations(
        _ connection: PostgresConnection, timescale: Bool, unreadable: inout [String]
    ) async throws -> OperationsFacts {
        var o = OperationsFacts()
        let backlog = try await HealthProbe(logger: logger).backlog(connection)
        o.unscored = backlog.unscored
        o.oldestUnscoredSeconds = backlog.oldestAgeSeconds
        for try await text in try await connection.query(
            PostgresQuery(unsafeSQL: Self.stuckTrainingQuery), logger: logger
        ).decode(String.self) {
            o.stuckTraining.append(text)
        }
        for try await (expired, overdue) in try await connection.query(
            PostgresQuery(unsafeSQL: Self.deliveriesQuery), logger: logger
        ).decode((Int64, Int64).self) {
            o.expiredDeliveryLeases = Int(expired); o.overdueDeliveries = Int(overdue)
        }
        for try await (name, type, failures, error) in try await connection.query(
            PostgresQuery(unsafeSQL: Self.failingChannelsQuery), logger: logger
        ).decode((String, String, Int64, String).self) {
            o.failingChannels.append(.init(name: name, type: type, failures: Int(failures), lastError: error))
        }
        for try await (name, seconds) in try await connection.query(
            PostgresQuery(unsafeSQL: Self.staleSourcesQuery), logger: logger
        ).decode((String, Double).self) {
            o.staleSources.append((name, seconds))
        }
        for try await (name, state, lag, interval, error, _) in try await connection.query(
            PostgresQuery(unsafeSQL: Self.pollsQuery), logger: logger
        ).decode((String, String, Double, Double, String?, Int64).self) {
            var polls = o.laggingPolls ?? []
            if state == "failing" || (state != "disabled" && lag > max(3 * interval, 60)) {
                polls.append(
                    .init(name: name, state: state, lagSeconds: lag, intervalSeconds: interval, lastError: error))
            }
            o.laggingPolls = polls
        }
        if timescale {
            do {
                for try await text in try await connection.query(
                    PostgresQuery(unsafeSQL: Self.failedJobsQuery), logger: logger
                ).decode(String.self) {
                    o.failedJobs.append(text)
                }
            } catch let error as PSQLError where ["42501", "42P01"].contains(error.serverInfo?[.sqlState] ?? "") {
                unreadable.append("timescaledb_information.job_stats")
            }
        }
        return o
    }
}
