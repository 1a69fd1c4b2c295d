import ADCore
import ADHTTP
import ADPostgres
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// AD_METRICS_LISTEN: swift-metrics goes to a Prometheus registry, `/metrics`, `/healthz` and `/readyz` are served
/// (`MetricsServer`), and the gauges read from SQL (backlog, its age, quarantined points) are refreshed every
/// AD_METRICS_REFRESH seconds on a connection of their own ("<name> metrics").
enum MetricsService {
    /// Bootstraps swift-metrics with a Prometheus registry (once per process) and returns it.
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            WorkerMetrics.batchDuration: WorkerMetrics.batchBuckets,
            WorkerMetrics.deliveryLatency: WorkerMetrics.deliveryBuckets,
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    static func services(
        url: DatabaseURL, listen: (host: String, port: Int), settings: WorkerSettings,
        readiness: ReadinessCheck, logger: Logger
    ) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let registry = bootstrap()
        WorkerMetrics.build(version: "\(Migrator.bundledVersion)")
        WorkerMetrics.declare(channelTypes: ChannelTypes.all, listen: settings.listen)
        let app = MetricsServer.application(
            host: listen.host, port: listen.port, logger: logger, metrics: { registry.emitToBuffer() },
            readiness: { await readiness.current() }
        ) { port in
            logger.info("metrics, /healthz and /readyz on http://\(listen.host):\(port)")
        }
        return [
            .init(service: app, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: BacklogGauges(url: url, settings: settings, logger: logger)),
            .init(service: ReadyGauge(readiness: readiness, every: settings.metricsRefresh)),
        ]
    }
}

/// The channel types ad.channels allows (`ad_alert_deliveries_total` is declared at 0 for each).
enum ChannelTypes {
    static let all = ["alertmanager", "email", "pagerduty", "slack", "webhook"]
}

/// Refreshes `ad_unscored_points`, `ad_unscored_oldest_age_seconds`, `ad_quarantined_points` and the db_poll
/// series (`ad_poll_*{source}`) from SQL.
struct BacklogGauges: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let logger: Logger
    let backoff = Backoff(base: 1, cap: 30)

    func run() async throws {
        let probe = HealthProbe(logger: logger)
        await runReconnecting(
            url, application: "\(settings.name) metrics", what: "metrics refresh", backoff: backoff,
            limits: settings.sessionLimits, logger: logger
        ) { conn, connected in
            connected()
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                WorkerMetrics.backlog(try await probe.backlog(conn))
                WorkerMetrics.polls(try await probe.polls(conn))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(settings.metricsRefresh)) }
            }
        }
    }
}

/// Refreshes `ad_ready` from the readiness check (on a loop of its own: it must say 0 while the database is down).
struct ReadyGauge: Service {
    let readiness: ReadinessCheck
    let every: Double

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            WorkerMetrics.ready(await readiness.current().ready)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(every)) }
        }
    }
}
