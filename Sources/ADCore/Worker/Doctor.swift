/// What `adworker doctor` reads from a database: plain facts, gathered by ADPostgres.
public struct DoctorFacts: Sendable, Equatable {
    public struct TimescaleDB: Sendable, Equatable {
        /// Installed in this database (pg_extension), if so.
        public var installedVersion: String?
        /// Installable on this server (pg_available_extensions), if so.
        public var availableVersion: String?
        /// Listed in shared_preload_libraries.
        public var preloaded: Bool
        /// timescaledb.license, when the library is loaded.
        public var license: String?
        public init(
            installedVersion: String? = nil, availableVersion: String? = nil, preloaded: Bool = false,
            license: String? = nil
        ) {
            self.installedVersion = installedVersion
            self.availableVersion = availableVersion
            self.preloaded = preloaded
            self.license = license
        }
    }

    public var serverVersion: String
    public var serverVersionNumber: Int
    public var schema: InstalledSchema
    /// anomaly_detection's version in pg_available_extensions (extension files on the server), if any.
    public var availableExtensionVersion: String?
    public var bundled: SchemaVersion
    /// The step scripts this adworker carries.
    public var bundledSteps: [UpgradeStep] = []
    /// What this role could not read (insufficient privilege), so the report is partial.
    public var unreadable: [String] = []
    public var timescale: TimescaleDB
    /// ad_internal.storage: how storage was set up at install time.
    public var storage: [String: String]
    /// Each ad_* group role and whether it exists.
    public var roles: [String: Bool]
    public var currentUser: String
    /// Points the worker quarantined and nobody re-queued yet (ad.quarantined_points); nil when there is no such
    /// table (an older schema) or this role cannot read it.
    public var quarantined: Int?
    /// The running system (backlog, leases, channels, sources, TimescaleDB jobs); nil when the schema is not there.
    public var operations: OperationsFacts?

    public init(
        serverVersion: String, serverVersionNumber: Int, schema: InstalledSchema,
        availableExtensionVersion: String?, bundled: SchemaVersion, timescale: TimescaleDB,
        storage: [String: String], roles: [String: Bool], currentUser: String
    ) {
        self.serverVersion = serverVersion
        self.serverVersionNumber = serverVersionNumber
        self.schema = schema
        self.availableExtensionVersion = availableExtensionVersion
        self.bundled = bundled
        self.timescale = timescale
        self.storage = storage
        self.roles = roles
        self.currentUser = currentUser
    }
}

/// What `adworker doctor` reads about the running system.
public struct OperationsFacts: Sendable, Equatable {
    /// Unscored points of active sources, quarantined ones apart, and seconds since the oldest was observed.
    public var unscored = 0
    public var oldestUnscoredSeconds = 0.0
    /// Training jobs whose lease ran out over a minute ago with no worker taking them over, or that no worker
    /// claimed within ten minutes: "name vN (why)".
    public var stuckTraining: [String] = []
    /// Deliveries claimed whose lease ran out over five minutes ago (no worker took them over), and deliveries due
    /// over five minutes ago that no worker claimed.
    public var expiredDeliveryLeases = 0
    public var overdueDeliveries = 0
    /// Channels whose latest attempt in the last 24 hours was not sent: name, type, failed attempts, last error.
    public struct FailingChannel: Sendable, Equatable {
        public var name: String, type: String, failures: Int, lastError: String
        public init(name: String, type: String, failures: Int, lastError: String) {
            self.name = name; self.type = type; self.failures = failures; self.lastError = lastError
        }
    }
    public var failingChannels: [FailingChannel] = []
    /// Active sources whose newest point is over an hour old: name and seconds.
    public var staleSources: [(name: String, seconds: Double)] = []
    /// TimescaleDB background jobs whose last run failed: "job N (proc) on table: error".
    public var failedJobs: [String] = []
    /// db_poll sources (`ad.poll_status`) that are failing, or whose lag is over three poll intervals (and a minute).
    public struct LaggingPoll: Sendable, Equatable {
        public var name: String, state: String, lagSeconds: Double, intervalSeconds: Double, lastError: String?
        public init(name: String, state: String, lagSeconds: Double, intervalSeconds: Double, lastError: String?) {
            self.name = name; self.state = state; self.lagSeconds = lagSeconds; self.intervalSeconds = intervalSeconds
            self.lastError = lastError
        }
    }
    /// nil when there are no db_poll sources.
    public var laggingPolls: [LaggingPoll]? = nil

    public init() {}

    public static func == (a: OperationsFacts, b: OperationsFacts) -> Bool {
        a.unscored == b.unscored && a.oldestUnscoredSeconds == b.oldestUnscoredSeconds
            && a.stuckTraining == b.stuckTraining && a.expiredDeliveryLeases == b.expiredDeliveryLeases
            && a.overdueDeliveries == b.overdueDeliveries && a.failingChannels == b.failingChannels
            && a.staleSources.map(\.name) == b.staleSources.map(\.name)
            && a.staleSources.map(\.seconds) == b.staleSources.map(\.seconds) && a.failedJobs == b.failedJobs
            && a.laggingPolls == b.laggingPolls
    }
}

/// "3 h 20 min" from seconds.
func humanDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s < 120 { return "\(s) s" }
    if s < 7200 { return "\(s / 60) min" }
    if s < 172_800 { return "\(s / 3600) h \(s % 3600 / 60) min" }
    return "\(s / 86400) days"
}

/// The findings about the running system.
public func diagnose(_ o: OperationsFacts) -> [Finding] {
    var out: [Finding] = []
    if o.unscored == 0 {
        out.append(Finding(.ok, "backlog", "no unscored points"))
    } else {
        let detail =
            "\(o.unscored) unscored point(s), the oldest observed \(humanDuration(o.oldestUnscoredSeconds)) ago"
        out.append(
            o.oldestUnscoredSeconds < 600
                ? Finding(.ok, "backlog", detail)
                : Finding(
                    .warn, "backlog", detail,
                    action:
                        "is a worker running (adworker run)? Its log and /metrics say more; a backfill of old points "
                        + "also shows here until it is scored"))
    }
    if o.stuckTraining.isEmpty {
        out.append(Finding(.ok, "training", "no stuck training jobs"))
    } else {
        out.append(
            Finding(
                .warn, "training", "stuck: \(o.stuckTraining.joined(separator: "; "))",
                action: "run a worker with AD_TRAINING=true (the default); a lapsed lease is taken over by the next"))
    }
    if o.expiredDeliveryLeases + o.overdueDeliveries == 0 {
        out.append(Finding(.ok, "deliveries", "no stuck deliveries"))
    } else {
        var parts: [String] = []
        if o.expiredDeliveryLeases > 0 {
            parts.append("\(o.expiredDeliveryLeases) claimed whose lease ran out over 5 min ago")
        }
        if o.overdueDeliveries > 0 { parts.append("\(o.overdueDeliveries) due over 5 min ago and not claimed") }
        out.append(
            Finding(
                .warn, "deliveries", parts.joined(separator: ", "),
                action: "run a worker with AD_DELIVERY=true (the default); see its log for delivery errors"))
    }
    if o.failingChannels.isEmpty {
        out.append(Finding(.ok, "channels", "no channel failing in the last 24 h"))
    } else {
        for c in o.failingChannels {
            out.append(
                Finding(
                    .warn, "channels",
                    "\(c.name) (\(c.type)): its latest attempt failed; \(c.failures) failed attempt(s) in 24 h, last: \(c.lastError)",
                    action: "SELECT * FROM ad.delivery_attempts a JOIN ad.alert_deliveries d ON d.id = a.delivery_id "
                        + "ORDER BY a.finished_at DESC; fix the channel's target or secret"))
        }
    }
    if o.staleSources.isEmpty {
        out.append(Finding(.ok, "sources", "every active source with points had one within the hour"))
    } else {
        let shown = o.staleSources.prefix(5).map { "\($0.name) (\(humanDuration($0.seconds)))" }
        let more = o.staleSources.count > 5 ? " and \(o.staleSources.count - 5) more" : ""
        out.append(
            Finding(
                .warn, "sources", "no point for over an hour: \(shown.joined(separator: ", "))\(more)",
                action: "check the loaders of these sources, or set a source's status to paused"))
    }
    switch o.laggingPolls {
    case nil: break
    case let polls? where polls.isEmpty:
        out.append(Finding(.ok, "polling", "every db_poll source is caught up"))
    case let polls?:
        for p in polls {
            let why = p.lastError.map { ", last error: \($0)" } ?? ""
            out.append(
                Finding(
                    .warn, "polling",
                    "\(p.name) is \(p.state), \(humanDuration(p.lagSeconds)) behind (polled every "
                        + "\(humanDuration(p.intervalSeconds)))\(why)",
                    action: "SELECT * FROM ad.poll_status; is a worker running with AD_POLL_LANES > 0, and is the "
                        + "source database up?"))
        }
    }
    if !o.failedJobs.isEmpty {
        out.append(
            Finding(
                .warn, "jobs", "TimescaleDB jobs whose last run failed: \(o.failedJobs.joined(separator: "; "))",
                action: "SELECT * FROM timescaledb_information.job_errors ORDER BY start_time DESC;"))
    }
    return out
}

/// One line of the doctor's report.
public struct Finding: Sendable, Equatable {
    public enum Level: String, Sendable, Comparable {
        case ok, info, warn, fail
        private var rank: Int { [.ok: 0, .info: 1, .warn: 2, .fail: 3][self]! }
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }
    public var level: Level
    public var topic: String
    public var detail: String
    /// What to do about it, when something is to be done.
    public var action: String?
    public init(_ level: Level, _ topic: String, _ detail: String, action: String? = nil) {
        self.level = level; self.topic = topic; self.detail = detail; self.action = action
    }
}

/// The group roles `ad.create_roles()` creates.
public let groupRoles = ["ad_ingest", "ad_reader", "ad_operator", "ad_scientist", "ad_worker"]

/// Turns facts into findings, each failure or warning with what to do.
public func diagnose(_ f: DoctorFacts) -> [Finding] {
    var out: [Finding] = []
    if f.serverVersionNumber >= 150000 {
        out.append(Finding(.ok, "server", "PostgreSQL \(f.serverVersion)"))
    } else {
        out.append(
            Finding(
                .fail, "server", "PostgreSQL \(f.serverVersion) is older than 15",
                action: "use PostgreSQL 15 or newer"))
    }

    let plan = MigrationPlan.decide(installed: f.schema, bundled: f.bundled, steps: f.bundledSteps)
    if let ext = f.schema.extensionVersion {
        if SchemaVersion(ext) == f.bundled {
            out.append(Finding(.ok, "schema", "extension anomaly_detection \(ext)"))
        } else {
            out.append(
                Finding(
                    .warn, "schema", "extension anomaly_detection \(ext); this adworker expects \(f.bundled)",
                    action: "make -C extension install, then ALTER EXTENSION anomaly_detection UPDATE"))
        }
    } else {
        switch plan {
        case .upToDate(let v):
            out.append(Finding(.ok, "schema", "installed by adworker migrate, version \(v)"))
        case .install:
            let how =
                f.availableExtensionVersion != nil
                ? "CREATE EXTENSION anomaly_detection (files are installed), or adworker migrate"
                : "adworker migrate (or make -C extension install, then CREATE EXTENSION anomaly_detection)"
            out.append(Finding(.fail, "schema", "the ad schema is not installed in this database", action: how))
        case .upgrade:
            out.append(
                Finding(
                    .warn, "schema",
                    "installed by adworker migrate at an older version; this adworker has \(f.bundled)",
                    action: "adworker migrate"))
        case .refuse(let why):
            out.append(Finding(.fail, "schema", why.description))
        }
    }

    let ts = f.timescale
    if let v = ts.installedVersion {
        let licensed = ts.license == "timescale"
        out.append(
            Finding(
                licensed ? .ok : .warn, "timescaledb",
                "TimescaleDB \(v), license \(ts.license ?? "unknown")",
                action: licensed
                    ? nil : "set timescaledb.license = 'timescale' for compression, continuous aggregates and policies")
        )
        if f.schema.extensionVersion != nil || f.schema.recordedVersions?.isEmpty == false {
            if f.storage["hypertable:ad.data_points"] == nil {
                out.append(
                    Finding(
                        .warn, "storage",
                        "ad.data_points is a plain table: TimescaleDB was added after the schema was installed",
                        action: "reinstall the schema into a database where TimescaleDB is installed first"))
            } else {
                var parts = ["ad.data_points is a hypertable (chunks of \(f.storage["hypertable:ad.data_points"]!))"]
                if let c = f.storage["compression"] { parts.append("compression after \(c)") }
                if let cagg = f.storage["continuous_aggregate"] { parts.append("continuous aggregate \(cagg)") }
                out.append(Finding(.ok, "storage", parts.joined(separator: ", ")))
            }
        }
    } else if let avail = ts.availableVersion {
        let how =
            ts.preloaded
            ? "CREATE EXTENSION timescaledb before installing the schema"
            : "add timescaledb to shared_preload_libraries, restart, then CREATE EXTENSION timescaledb before installing the schema"
        out.append(
            Finding(
                .info, "timescaledb", "available (\(avail)) but not installed in this database; plain tables are used",
                action: how))
    } else {
        out.append(Finding(.info, "timescaledb", "not available on this server; plain tables and views are used"))
    }

    if !f.unreadable.isEmpty {
        out.append(
            Finding(
                .warn, "privileges",
                "\(f.currentUser) cannot read \(f.unreadable.joined(separator: ", ")); this report is partial",
                action: "run adworker doctor as the schema owner, a superuser or the worker role"))
    }
    switch f.quarantined {
    case nil: break
    case 0?: out.append(Finding(.ok, "quarantine", "no points quarantined"))
    case let n?:
        out.append(
            Finding(
                .warn, "quarantine",
                "\(n) point(s) quarantined: scoring them failed, so the worker set them aside and scored the rest "
                    + "(SELECT * FROM ad.quarantine says why)",
                action:
                    "fix the cause, then SELECT ad.requeue_quarantined(); (or one source: ad.requeue_quarantined('name'))"
            ))
    }
    if let o = f.operations { out += diagnose(o) }
    let missing = groupRoles.filter { f.roles[$0] != true }
    if missing.isEmpty {
        out.append(Finding(.ok, "roles", groupRoles.joined(separator: ", ")))
    } else {
        out.append(
            Finding(
                .warn, "roles", "missing: \(missing.joined(separator: ", "))",
                action: "as a superuser, or the schema owner with CREATEROLE: SELECT ad.create_roles();"))
    }
    return out
}
