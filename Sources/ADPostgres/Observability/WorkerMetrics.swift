import ADCore
import Foundation
import Metrics
import Synchronization

/// The worker's metrics, recorded through swift-metrics' API (a no-op until `adworker run` bootstraps the
/// Prometheus factory for AD_METRICS_LISTEN). The names are fixed (README, "Monitor it"; dashboards and
/// docker/prometheus/alerts.yml use them): change one only with them.
public enum WorkerMetrics {
    public static let pointsScored = "ad_points_scored_total"
    public static let scoringBatches = "ad_scoring_batches_total"
    public static let batchDuration = "ad_scoring_batch_duration_seconds"
    public static let unscoredPoints = "ad_unscored_points"
    public static let unscoredOldestAge = "ad_unscored_oldest_age_seconds"
    public static let quarantinedPoints = "ad_quarantined_points"
    public static let anomalies = "ad_anomalies_total"
    public static let alertsRaised = "ad_alerts_raised_total"
    public static let deliveries = "ad_alert_deliveries_total"
    public static let deliveryLatency = "ad_alert_delivery_latency_seconds"
    public static let trainingRuns = "ad_training_runs_total"
    public static let listenerConnected = "ad_listener_connected"
    public static let listenerReconnects = "ad_listener_reconnects_total"
    public static let historyCacheSeries = "ad_history_cache_series"
    public static let historyCachePoints = "ad_history_cache_points"
    public static let buildInfo = "ad_build_info"
    public static let pollLag = "ad_poll_lag_seconds"
    public static let pollInterval = "ad_poll_interval_seconds"
    public static let pollRows = "ad_poll_rows_total"
    public static let pollErrors = "ad_poll_errors_total"
    /// 1 while /readyz would answer 200, refreshed with the gauges read from SQL (the alert rules watch it).
    public static let ready = "ad_ready"

    /// Buckets of the batch-phase histogram, seconds: a small batch takes milliseconds, a 5000-point one under load
    /// seconds, a statement timeout 30.
    public static let batchBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30),
    ]
    /// Buckets of alert created → sent, seconds: a healthy channel takes well under a second after the scoring
    /// commit; retries back off for minutes.
    public static let deliveryBuckets: [Duration] = [
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
    ]

    /// One committed scoring batch: `before` and `after` are the loop's running timings around it, `total` its wall
    /// time, `anomalies` what it found.
    public static func batch(
        before: ScoringTimings, after: ScoringTimings, total: Duration, anomalies: [FoundAnomaly]
    ) {
        let points = after.points - before.points
        guard points > 0 else { return }
        Counter(label: pointsScored).increment(by: points)
        Counter(label: scoringBatches).increment()
        let phases: [(String, Duration)] = [
            ("claim", after.claim - before.claim), ("features", after.features - before.features),
            ("score", after.scoring - before.scoring),
            ("write", (after.writes - before.writes) + (after.commit - before.commit)), ("total", total),
        ]
        for (phase, d) in phases {
            CoreMetrics.Timer(label: batchDuration, dimensions: [("phase", phase)]).record(duration: d)
        }
        var bySeverity: [String: Int] = [:]
        for a in anomalies { bySeverity[a.severity.rawValue, default: 0] += 1 }
        for (severity, n) in bySeverity {
            Counter(label: Self.anomalies, dimensions: [("severity", severity)]).increment(by: n)
        }
        let alerts = after.alerts - before.alerts
        if alerts > 0 { Counter(label: alertsRaised).increment(by: alerts) }
    }

    /// Series and numbers one scoring loop's history cache holds (`points`: `HistoryCache.held`, the values with
    /// their seasonal differences and sorted windows, 8 bytes each, which AD_HISTORY_CACHE_MB bounds); `loop` is its
    /// number. The gauges are the sums over the loops.
    public static func historyCache(loop: Int, series: Int, points: Int) {
        let (s, p) = cacheSizes.withLock { sizes in
            sizes[loop] = (series, points)
            return sizes.values.reduce((0, 0)) { ($0.0 + $1.series, $0.1 + $1.points) }
        }
        Gauge(label: historyCacheSeries).record(s)
        Gauge(label: historyCachePoints).record(p)
    }
    private static let cacheSizes = Mutex<[Int: (series: Int, points: Int)]>([:])

    /// One delivery attempt recorded: its channel type, outcome (sent, retry, failed), and for a sent trigger the
    /// seconds since its alert was created.
    public static func delivery(channelType: String, outcome: String, latency: Double?) {
        Counter(label: deliveries, dimensions: [("channel_type", channelType), ("outcome", outcome)]).increment()
        if let latency {
            CoreMetrics.Timer(label: deliveryLatency, dimensions: [("channel_type", channelType)]).record(
                duration: .milliseconds(Int64((max(0, latency) * 1000).rounded())))
        }
    }

    /// A training job ended: succeeded (registered) or failed.
    public static func trainingRun(succeeded: Bool) {
        Counter(label: trainingRuns, dimensions: [("outcome", succeeded ? "succeeded" : "failed")]).increment()
    }

    /// Every LISTEN connection of the worker is up (1) or not (0).
    public static func listener(connected: Bool) { Gauge(label: listenerConnected).record(connected ? 1 : 0) }

    /// A LISTEN connection is being opened again after it was lost.
    public static func listenerReconnected() { Counter(label: listenerReconnects).increment() }

    /// The gauges read from SQL.
    public static func backlog(_ b: Backlog) {
        Gauge(label: unscoredPoints).record(b.unscored)
        Gauge(label: unscoredOldestAge).record(b.oldestAgeSeconds)
        Gauge(label: quarantinedPoints).record(b.quarantined)
    }

    /// The db_poll gauges and counters, from `ad.poll_status` (disabled sources left out): its totals are the
    /// database's, so each counter moves by what its total grew since the last reading (from 0 at this worker's
    /// first reading). A source no longer listed (removed, renamed or disabled) loses its series.
    public static func polls(_ rows: [PollReading]) {
        let (deltas, gone) = pollTotals.withLock { seen in
            let deltas = rows.map { r -> (String, Int, Int) in
                let before = seen[r.source] ?? (0, 0)
                seen[r.source] = (r.rowsInserted, r.errors)
                return (r.source, max(0, r.rowsInserted - before.rows), max(0, r.errors - before.errors))
            }
            let gone = Set(seen.keys).subtracting(rows.map(\.source))
            for source in gone { seen[source] = nil }
            return (deltas, gone)
        }
        for r in rows {
            Gauge(label: pollLag, dimensions: [("source", r.source)]).record(r.lagSeconds)
            Gauge(label: pollInterval, dimensions: [("source", r.source)]).record(r.intervalSeconds)
        }
        for (source, rows, errors) in deltas {
            Counter(label: pollRows, dimensions: [("source", source)]).increment(by: rows)
            Counter(label: pollErrors, dimensions: [("source", source)]).increment(by: errors)
        }
        for source in gone {
            Gauge(label: pollLag, dimensions: [("source", source)]).destroy()
            Gauge(label: pollInterval, dimensions: [("source", source)]).destroy()
            Counter(label: pollRows, dimensions: [("source", source)]).destroy()
            Counter(label: pollErrors, dimensions: [("source", source)]).destroy()
        }
    }
    private static let pollTotals = Mutex<[String: (rows: Int, errors: Int)]>([:])

    /// Whether the worker is ready (what /readyz answers).
    public static func ready(_ ready: Bool) { Gauge(label: Self.ready).record(ready ? 1 : 0) }

    /// `ad_build_info{version} 1`.
    public static func build(version: String) { Gauge(label: buildInfo, dimensions: [("version", version)]).record(1) }

    /// Counters that should read 0 rather than be absent before their first event (so rate() and the alert rules
    /// see them from the start).
    public static func declare(channelTypes: [String], listen: Bool) {
        Counter(label: pointsScored).increment(by: 0)
        Counter(label: scoringBatches).increment(by: 0)
        Counter(label: alertsRaised).increment(by: 0)
        for s in Severity.allCases {
            Counter(label: anomalies, dimensions: [("severity", s.rawValue)]).increment(by: 0)
        }
        for t in channelTypes {
            for o in ["sent", "retry", "failed"] {
                Counter(label: deliveries, dimensions: [("channel_type", t), ("outcome", o)]).increment(by: 0)
            }
        }
        for o in ["succeeded", "failed"] { Counter(label: trainingRuns, dimensions: [("outcome", o)]).increment(by: 0) }
        if listen {
            Counter(label: listenerReconnects).increment(by: 0)
            listener(connected: false)
        }
        Gauge(label: historyCacheSeries).record(0)
        Gauge(label: historyCachePoints).record(0)
    }
}

/// The unscored backlog and quarantine, as the gauges and `adworker doctor` read them.
public struct Backlog: Sendable, Equatable {
    /// Unscored points, quarantined ones not counted (the claim skips them).
    public var unscored: Int
    /// Seconds since the oldest of them was observed ("timestamp"), 0 when there are none (or it lies ahead).
    public var oldestAgeSeconds: Double
    /// Points quarantined and not re-queued.
    public var quarantined: Int
    public init(unscored: Int, oldestAgeSeconds: Double, quarantined: Int) {
        self.unscored = unscored; self.oldestAgeSeconds = oldestAgeSeconds; self.quarantined = quarantined
    }
}

/// One db_poll source as `ad.poll_status` shows it, for the metrics.
public struct PollReading: Sendable, Equatable {
    public var source: String, lagSeconds: Double, intervalSeconds: Double, rowsInserted: Int, errors: Int
    public init(source: String, lagSeconds: Double, intervalSeconds: Double, rowsInserted: Int, errors: Int) {
        self.source = source; self.lagSeconds = lagSeconds; self.intervalSeconds = intervalSeconds
        self.rowsInserted = rowsInserted; self.errors = errors
    }
}
