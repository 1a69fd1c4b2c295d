import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Claims and scores batches until shut down. A full batch is followed at once by the next; otherwise it waits
/// for a wake-up or the jittered poll, whichever comes first. On graceful shutdown (SIGTERM, SIGINT) the batch
/// in flight finishes and commits, then the service returns.
struct ScoringService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let wake: WakeSignal
    let logger: Logger
    let report: @Sendable (FoundAnomaly) -> Void
    let backoff = Backoff(base: 0.2, cap: 10)

    func run() async throws {
        let scorer = BatchScorer(settings: settings, logger: logger)
        var timings = ScoringTimings()
        var cache = settings.makeHistoryCache
        await runReconnecting(url, application: "\(settings.name) score", what: "scoring", backoff: backoff,
                              logger: logger) { conn, connected in
            try await scorer.prepare(conn)
            var catalog = try await SourceCatalog.load(conn, logger: logger)
            logger.info("scoring: batch \(settings.batchSize), poll every \(settings.pollInterval)s, listen \(settings.listen)")
            connected()
            reportUnusable(catalog, alreadyReported: [])
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if let at = catalog.loadedAt, ContinuousClock.now - at > .seconds(settings.configRefresh) {
                    let previous = Set(catalog.unusable)
                    catalog = try await SourceCatalog.load(conn, logger: logger)
                    reportUnusable(catalog, alreadyReported: previous)
                }
                let started = ContinuousClock.now
                cache.depth = catalog.maxWindow
                let (scored, anomalies) = try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings)
                if scored > 0 {
                    logger.debug("scored \(scored) points in \(ContinuousClock.now - started), \(anomalies.count) anomalies")
                }
                anomalies.forEach(report)
                if scored >= settings.batchSize { continue }
                let poll = jittered(settings.pollInterval, random: Double.random(in: 0...1))
                _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(poll)) }
            }
        }
        logger.info("scoring stopped; totals: \(timings.json)")
    }

    /// Logs each source whose config cannot be used, once (not again while it stays unusable).
    private func reportUnusable(_ catalog: SourceCatalog, alreadyReported: Set<UUID>) {
        for id in catalog.unusable where !alreadyReported.contains(id) {
            if let entry = catalog.entries[id], case .failure(let problem) = entry.config {
                logger.error("source \(entry.name) (\(id)): \(problem); its points stay unscored until fixed")
            }
        }
    }
}
