import Foundation

/// `adworker run`'s settings, from the environment (AD_*), each validated with a message naming it.
public struct WorkerSettings: Sendable, Equatable {
    /// Points claimed per transaction.
    public var batchSize: Int = 5000
    /// Scoring loops in this worker, each on its own connection and its own share of the sources (a source's points
    /// always go to the same loop, so its history cache stays valid): one is in SQL while another scores in Swift.
    public var scoringLoops: Int = 2
    /// Seconds between polls when no notification arrives (jittered ±20%).
    public var pollInterval: Double = 2
    /// Whether to LISTEN for wake-up notifications (polling always runs).
    public var listen: Bool = true
    /// `statement_timeout` of every session the worker opens (retention's: ten times this), seconds.
    public var statementTimeout: Double = 30
    /// `lock_timeout` of every session the worker opens, seconds: a table or row someone else holds makes the
    /// statement fail after this (the batch is retried) instead of waiting out the statement timeout.
    public var lockTimeout: Double = 5
    /// Seconds between the LISTEN connection's heartbeats (`SELECT 1`, which must answer within as long again):
    /// a silently dead LISTEN socket is noticed within twice this and the connection opened again.
    public var listenHeartbeat: Double = 15
    /// Seconds a cached per-source config may be old.
    public var configRefresh: Double = 5
    /// How far a seasonal lag's point may be from exactly a day (or week) earlier, seconds.
    public var seasonalTolerance: Double = 1800
    /// Series (source and metric) whose recent values the worker keeps, to skip refetching context; 0 disables.
    public var historyCache: Int = 100_000
    /// Megabytes of values (and seasonal differences) that cache may hold.
    public var historyCacheMB: Int = 256
    /// Seconds between calls of ad.apply_retention().
    public var retentionInterval: Double = 3600
    /// Worker name, in application_name and logs.
    public var name: String = "adworker"
    /// Whether this worker runs the alert delivery loop (escalation and re-notification included).
    public var delivery: Bool = true
    /// Retry policy for failed deliveries.
    public var deliveryRetry = RetryPolicy()
    /// Deliveries sent at once.
    public var deliveryConcurrency: Int = 16
    /// Seconds between delivery polls without notifications.
    public var deliveryPoll: Double = 1
    /// Seconds a claimed delivery is leased: a worker that dies mid-send leaves it due again after this. Always
    /// at least `deliveryMaxSend` + `leaseMargin`, so no send outlives its lease (no second worker sends it too).
    public var deliveryLease: Double = 120
    /// The longest one send may take, all of it (resolving, connecting, the request, the answer's head and body, or
    /// the whole SMTP conversation), seconds; a channel's `timeout_seconds` is cut to it.
    public var deliveryMaxSend: Double = DeliveryLimits.maxChannelTimeout
    /// Sends in flight to one channel at most: a receiver that stalls holds this many of the
    /// `deliveryConcurrency` slots, never all of them.
    public var deliveryPerChannel: Int = 4
    /// Whether this worker runs training jobs and the drift monitor (`ad.train_model`).
    public var training: Bool = true
    /// Seconds a claimed training job is leased; renewed every third of it while training runs, so only a
    /// stopped worker lets it lapse (then another worker takes the job over).
    public var trainingLease: Double = 60
    /// The most points one training job reads.
    public var trainingMaxRows: Int = 2_000_000
    /// Seconds between training and drift polls without notifications.
    public var trainingPoll: Double = 10
    /// db_poll sources this worker polls at once, each on a connection of its own; 0: it polls none.
    public var pollLanes: Int = 2
    /// Where the HTTP API and console listen (`host:port`); nil: they are off.
    public var httpListen: (host: String, port: Int)? {
        get { httpHost.map { ($0, httpPort) } }
        set {
            httpHost = newValue?.host
            httpPort = newValue?.port ?? 0
        }
    }
    public var httpHost: String?
    public var httpPort: Int = 0
    /// The largest HTTP request body, megabytes.
    public var httpMaxBodyMB: Int = 16
    /// The most points one HTTP ingest request carries.
    public var httpMaxPoints: Int = 50_000
    /// Points requests the HTTP API takes at once.
    public var httpMaxUploads: Int = 8
    /// Database sessions the HTTP API holds at most (its own pool, as the login of AD_HTTP_DATABASE_URL).
    public var httpConnections: Int = 8
    /// Where `/metrics`, `/healthz` and `/readyz` listen (`host:port`); nil: off.
    public var metricsListen: (host: String, port: Int)? {
        get { metricsHost.map { ($0, metricsPort) } }
        set {
            metricsHost = newValue?.host
            metricsPort = newValue?.port ?? 0
        }
    }
    public var metricsHost: String?
    public var metricsPort: Int = 0
    /// Seconds between refreshes of the gauges read from SQL (backlog, its age, quarantined points).
    public var metricsRefresh: Double = 15
    /// How log lines are written: text (swift-log's stream handler) or json (one object a line).
    public var logFormat: LogFormat = .text

    /// AD_LOG_FORMAT's values.
    public enum LogFormat: String, Sendable, Equatable, CaseIterable {
        case text, json

        /// AD_LOG_FORMAT's value (unset or empty: text).
        public static func parse(_ value: String?) throws(Problem) -> LogFormat {
            guard let value, !value.isEmpty else { return .text }
            guard let format = LogFormat(rawValue: value.lowercased()) else {
                throw Problem(variable: "AD_LOG_FORMAT", message: "must be text or json, got \"\(value)\"")
            }
            return format
        }
    }

    public init() {}

    /// The history cache these settings ask for.
    public var makeHistoryCache: HistoryCache {
        HistoryCache(capacity: historyCache, depth: SourceConfig.defaults.window, maxNumbers: historyCacheMB * 131_072)
    }

    /// One scoring loop's share of that cache, so all loops together stay within the settings.
    public var makeLoopHistoryCache: HistoryCache {
        let n = max(1, scoringLoops)
        return HistoryCache(
            capacity: historyCache == 0 ? 0 : max(1, historyCache / n), depth: SourceConfig.defaults.window,
            maxNumbers: max(1, historyCacheMB * 131_072 / n))
    }

    /// A setting that cannot be used.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let variable: String
        public let message: String
        public var description: String { "\(variable): \(message)" }
    }

    /// The variables this reads, with what they mean (for --help and the README).
    public static let documentation: [(String, String)] = [
        ("AD_BATCH_SIZE", "points claimed per transaction, 1 to 100000 (default 5000)"),
        (
            "AD_SCORING_LOOPS",
            "scoring loops in this worker, each with its own connection and share of the sources, 1 to 64 (default 2)"
        ),
        ("AD_POLL_INTERVAL", "seconds between polls without notifications, 0.05 to 3600 (default 2, jittered ±20%)"),
        ("AD_LISTEN", "true or false: LISTEN for wake-ups; polling always runs (default true)"),
        (
            "AD_STATEMENT_TIMEOUT",
            "statement_timeout of every worker session, seconds, 1 to 3600 (default 30; retention's is 10 times this)"
        ),
        ("AD_LOCK_TIMEOUT", "lock_timeout of every worker session, seconds, 0.1 to 3600 (default 5)"),
        (
            "AD_LISTEN_HEARTBEAT",
            "seconds between SELECT 1 heartbeats on each LISTEN connection, which must answer within as long again; "
                + "0.1 to 3600 (default 15)"
        ),
        ("AD_CONFIG_REFRESH", "seconds a cached per-source config may be old, 0 to 3600 (default 5)"),
        (
            "AD_SEASONAL_TOLERANCE",
            "seconds a seasonal lag point may be off exactly a day/week earlier, 1 to 86400 (default 1800)"
        ),
        (
            "AD_HISTORY_CACHE",
            "series whose recent values the worker keeps in memory to skip refetching context, 0 to 10000000 (default 100000; 0 disables)"
        ),
        (
            "AD_HISTORY_CACHE_MB",
            "megabytes that cache may hold (8 bytes a number: values, their daily and weekly differences, the window, its steps and the differences kept sorted), 1 to 100000 (default 256); past it the cache starts over"
        ),
        ("AD_RETENTION_INTERVAL", "seconds between calls of ad.apply_retention(), 0.1 to 86400 (default 3600)"),
        ("AD_WORKER_NAME", "name in application_name and logs (default adworker)"),
        ("AD_DELIVERY", "true or false: run the alert delivery loop in this worker (default true)"),
        ("AD_DELIVERY_MAX_ATTEMPTS", "attempts per delivery before it fails, 1 to 100 (default 8)"),
        (
            "AD_DELIVERY_BACKOFF_BASE",
            "seconds before the first retry, doubling each time, 0.01 to 3600 (default 5; jittered)"
        ),
        ("AD_DELIVERY_BACKOFF_CAP", "longest wait between retries, seconds, 0.01 to 86400 (default 900)"),
        ("AD_DELIVERY_CONCURRENCY", "deliveries sent at once, 1 to 256 (default 16)"),
        ("AD_DELIVERY_POLL", "seconds between delivery polls without notifications, 0.05 to 3600 (default 1)"),
        (
            "AD_DELIVERY_LEASE",
            "seconds a claimed delivery is leased before another worker may retry it, 5 to 3600 and at least AD_DELIVERY_MAX_SEND + 10 (default 120)"
        ),
        (
            "AD_DELIVERY_MAX_SEND",
            "the longest one send may take in all (connect, request, answer), seconds; a channel's timeout_seconds is cut to it, 1 to 60 (default 60)"
        ),
        ("AD_DELIVERY_PER_CHANNEL", "sends in flight to one channel at most, 1 to 256 (default 4)"),
        ("AD_TRAINING", "true or false: run training jobs and the drift monitor in this worker (default true)"),
        (
            "AD_TRAINING_LEASE",
            "seconds a claimed training job is leased (renewed while it trains), 5 to 3600 (default 60)"
        ),
        ("AD_TRAINING_MAX_ROWS", "the most points one training job reads, 100 to 50000000 (default 2000000)"),
        (
            "AD_TRAINING_POLL",
            "seconds between training and drift polls without notifications, 0.05 to 3600 (default 10)"
        ),
        (
            "AD_POLL_LANES",
            "db_poll sources this worker polls at once, each on its own connection; 0 polls none, 0 to 64 (default 2)"
        ),
        (
            "AD_HTTP_LISTEN",
            "host:port the HTTP API and console listen on, for example 127.0.0.1:8080 (default: off)"
        ),
        (
            "AD_HTTP_DATABASE_URL",
            "the login the HTTP API connects as, a member of ad_api (default: DATABASE_URL)"
        ),
        ("AD_HTTP_MAX_BODY_MB", "largest HTTP request body, megabytes, 1 to 1024 (default 16)"),
        ("AD_HTTP_MAX_POINTS", "most points one HTTP ingest request carries, 1 to 1000000 (default 50000)"),
        ("AD_HTTP_CONNECTIONS", "database sessions the HTTP API holds at most, 1 to 256 (default 8)"),
        ("AD_HTTP_MAX_UPLOADS", "points requests the HTTP API takes at once (more: 503), 1 to 1024 (default 8)"),
        (
            "AD_METRICS_LISTEN",
            "host:port serving /metrics (Prometheus text format), /healthz and /readyz, for example 0.0.0.0:9464 "
                + "(default: off)"
        ),
        (
            "AD_METRICS_REFRESH",
            "seconds between refreshes of the metrics read from SQL (backlog, its age, quarantined points), 1 to 3600 "
                + "(default 15)"
        ),
        ("AD_LOG_FORMAT", "text or json: json writes one JSON object a line, fields in docs/logging.md (default text)"),
    ]

    public static func parse(environment env: [String: String]) throws(Problem) -> WorkerSettings {
        var s = WorkerSettings()
        if let v = env["AD_BATCH_SIZE"] {
            s.batchSize = try Int(number(v, "AD_BATCH_SIZE", 1...100_000, integer: true))
        }
        if let v = env["AD_SCORING_LOOPS"] {
            s.scoringLoops = try Int(number(v, "AD_SCORING_LOOPS", 1...64, integer: true))
        }
        if let v = env["AD_POLL_INTERVAL"] { s.pollInterval = try number(v, "AD_POLL_INTERVAL", 0.05...3600) }
        if let v = env["AD_LISTEN"] { s.listen = try boolean(v, "AD_LISTEN") }
        if let v = env["AD_DELIVERY"] { s.delivery = try boolean(v, "AD_DELIVERY") }
        if let v = env["AD_DELIVERY_MAX_ATTEMPTS"] {
            s.deliveryRetry.maxAttempts = try Int(number(v, "AD_DELIVERY_MAX_ATTEMPTS", 1...100, integer: true))
        }
        if let v = env["AD_DELIVERY_BACKOFF_BASE"] {
            s.deliveryRetry.base = try number(v, "AD_DELIVERY_BACKOFF_BASE", 0.01...3600)
        }
        if let v = env["AD_DELIVERY_BACKOFF_CAP"] {
            s.deliveryRetry.cap = try number(v, "AD_DELIVERY_BACKOFF_CAP", 0.01...86_400)
        }
        if let v = env["AD_DELIVERY_CONCURRENCY"] {
            s.deliveryConcurrency = try Int(number(v, "AD_DELIVERY_CONCURRENCY", 1...256, integer: true))
        }
        if let v = env["AD_DELIVERY_POLL"] { s.deliveryPoll = try number(v, "AD_DELIVERY_POLL", 0.05...3600) }
        if let v = env["AD_DELIVERY_LEASE"] { s.deliveryLease = try number(v, "AD_DELIVERY_LEASE", 5...3600) }
        if let v = env["AD_DELIVERY_MAX_SEND"] {
            s.deliveryMaxSend = try number(v, "AD_DELIVERY_MAX_SEND", 1...DeliveryLimits.maxChannelTimeout)
        }
        if let v = env["AD_DELIVERY_PER_CHANNEL"] {
            s.deliveryPerChannel = try Int(number(v, "AD_DELIVERY_PER_CHANNEL", 1...256, integer: true))
        }
        if s.deliveryLease < s.deliveryMaxSend + DeliveryLimits.leaseMargin {
            throw Problem(
                variable: "AD_DELIVERY_LEASE",
                message:
                    "must be at least AD_DELIVERY_MAX_SEND (\(s.deliveryMaxSend) s) + \(DeliveryLimits.leaseMargin) s, so no send outlives its lease and another worker sends it again; got \(s.deliveryLease)"
            )
        }
        if s.deliveryRetry.cap < s.deliveryRetry.base {
            throw Problem(variable: "AD_DELIVERY_BACKOFF_CAP", message: "must not be below AD_DELIVERY_BACKOFF_BASE")
        }
        if let v = env["AD_TRAINING"] { s.training = try boolean(v, "AD_TRAINING") }
        if let v = env["AD_TRAINING_LEASE"] { s.trainingLease = try number(v, "AD_TRAINING_LEASE", 5...3600) }
        if let v = env["AD_TRAINING_MAX_ROWS"] {
            s.trainingMaxRows = try Int(number(v, "AD_TRAINING_MAX_ROWS", 100...50_000_000, integer: true))
        }
        if let v = env["AD_TRAINING_POLL"] { s.trainingPoll = try number(v, "AD_TRAINING_POLL", 0.05...3600) }
        if let v = env["AD_POLL_LANES"] { s.pollLanes = try Int(number(v, "AD_POLL_LANES", 0...64, integer: true)) }
        if let v = env["AD_HTTP_LISTEN"], !v.isEmpty {
            s.httpListen = try address(v, "AD_HTTP_LISTEN", "127.0.0.1:8080")
        }
        if let v = env["AD_METRICS_LISTEN"], !v.isEmpty {
            s.metricsListen = try address(v, "AD_METRICS_LISTEN", "0.0.0.0:9464")
        }
        if let v = env["AD_METRICS_REFRESH"] { s.metricsRefresh = try number(v, "AD_METRICS_REFRESH", 1...3600) }
        s.logFormat = try LogFormat.parse(env["AD_LOG_FORMAT"])
        if let v = env["AD_HTTP_MAX_BODY_MB"] {
            s.httpMaxBodyMB = try Int(number(v, "AD_HTTP_MAX_BODY_MB", 1...1024, integer: true))
        }
        if let v = env["AD_HTTP_MAX_POINTS"] {
            s.httpMaxPoints = try Int(number(v, "AD_HTTP_MAX_POINTS", 1...1_000_000, integer: true))
        }
        if let v = env["AD_HTTP_MAX_UPLOADS"] {
            s.httpMaxUploads = try Int(number(v, "AD_HTTP_MAX_UPLOADS", 1...1024, integer: true))
        }
        if let v = env["AD_HTTP_CONNECTIONS"] {
            s.httpConnections = try Int(number(v, "AD_HTTP_CONNECTIONS", 1...256, integer: true))
        }
        if let v = env["AD_STATEMENT_TIMEOUT"] { s.statementTimeout = try number(v, "AD_STATEMENT_TIMEOUT", 1...3600) }
        if let v = env["AD_LOCK_TIMEOUT"] { s.lockTimeout = try number(v, "AD_LOCK_TIMEOUT", 0.1...3600) }
        if let v = env["AD_LISTEN_HEARTBEAT"] {
            s.listenHeartbeat = try number(v, "AD_LISTEN_HEARTBEAT", 0.1...3600)
        }
        if let v = env["AD_CONFIG_REFRESH"] { s.configRefresh = try number(v, "AD_CONFIG_REFRESH", 0...3600) }
        if let v = env["AD_SEASONAL_TOLERANCE"] {
            s.seasonalTolerance = try number(v, "AD_SEASONAL_TOLERANCE", 1...86_400)
        }
        if let v = env["AD_HISTORY_CACHE"] {
            s.historyCache = try Int(number(v, "AD_HISTORY_CACHE", 0...10_000_000, integer: true))
        }
        if let v = env["AD_HISTORY_CACHE_MB"] {
            s.historyCacheMB = try Int(number(v, "AD_HISTORY_CACHE_MB", 1...100_000, integer: true))
        }
        if let v = env["AD_RETENTION_INTERVAL"] {
            s.retentionInterval = try number(v, "AD_RETENTION_INTERVAL", 0.1...86_400)
        }
        if let v = env["AD_WORKER_NAME"] {
            guard (1...40).contains(v.count), v.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw Problem(
                    variable: "AD_WORKER_NAME",
                    message: "must be 1 to 40 letters, digits, '-', '_' or '.', got \"\(v)\"")
            }
            s.name = v
        }
        return s
    }

    /// host:port, or [v6 address]:port.
    private static func address(_ v: String, _ name: String, _ example: String) throws(Problem) -> (String, Int) {
        guard let colon = v.lastIndex(of: ":"), let port = Int(v[v.index(after: colon)...]), (0...65535).contains(port)
        else {
            throw Problem(variable: name, message: "must be host:port, for example \(example), got \"\(v)\"")
        }
        var host = String(v[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            throw Problem(variable: name, message: "must name a host, for example \(example)")
        }
        return (host, port)
    }

    private static func boolean(_ v: String, _ name: String) throws(Problem) -> Bool {
        switch v.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw Problem(variable: name, message: "must be true or false, got \"\(v)\"")
        }
    }

    private static func number(
        _ text: String, _ name: String, _ range: ClosedRange<Double>, integer: Bool = false
    )
        throws(Problem) -> Double
    {
        guard let x = Double(text.trimmingCharacters(in: .whitespaces)), x.isFinite, range.contains(x),
            !integer || x == x.rounded()
        else {
            let kind = integer ? "an integer" : "a number"
            throw Problem(
                variable: name,
                message:
                    "must be \(kind) from \(Self.show(range.lowerBound)) to \(Self.show(range.upperBound)), got \"\(text)\""
            )
        }
        return x
    }

    private static func show(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
}
