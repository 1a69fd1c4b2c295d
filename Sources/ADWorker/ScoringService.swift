import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Claims and scores batches until shut down, in `AD_SCORING_LOOPS` loops, each on its own connection with its own
/// share of the sources and its own history cache. A full batch is followed at once by the next; otherwise a loop
/// waits for a wake-up or the jittered poll, whichever comes first. On graceful shutdown (SIGTERM, SIGINT) each
/// loop's batch in flight finishes and commits, then the service returns.
struct ScoringService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    /// One per loop (the listener's signal forwards to all of them).
    let wakes: [WakeSignal]
    let logger: Logger
    let report: @Sendable (FoundAnomaly) -> Void
    let backoff = Backoff(base: 0.2, cap: 10)

    func run() async throws {
        let loops = wakes.count
        let totals = await withTaskGroup(of: ScoringTimings.self) { group in
            for k in 0..<loops { group.addTask { await loop(k, of: loops) } }
            return await group.reduce(ScoringTimings(), +)
        }
        logger.info("scoring stopped; totals: \(totals.json)")
    }

    /// Loop `k`: its connection is "<name> score" for the first loop, "<name> score <k+1>" for the others.
    private func loop(_ k: Int, of loops: Int) async -> ScoringTimings {
        let scorer = BatchScorer(settings: settings, logger: logger, partition: (k, loops))
        let wake = wakes[k]
        var timings = ScoringTimings()
        var cache = settings.makeLoopHistoryCache
        let application = k == 0 ? "\(settings.name) score" : "\(settings.name) score \(k + 1)"
        await runReconnecting(url, application: application, what: "scoring", backoff: backoff,
                              logger: logger) { conn, connected in
            try await scorer.prepare(conn)
            var catalog = try await SourceCatalog.load(conn, logger: logger)
            if k == 0 {
                logger.info("scoring: \(loops) loop(s), batch \(settings.batchSize), poll every \(settings.pollInterval)s, listen \(settings.listen)")
            }
            connected()
            if k == 0 { reportUnusable(catalog, alreadyReported: []) }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if let at = catalog.loadedAt, ContinuousClock.now - at > .seconds(settings.configRefresh) {
                    let previous = Set(catalog.unusable)
                    catalog = try await SourceCatalog.load(conn, logger: logger)
                    if k == 0 { reportUnusable(catalog, alreadyReported: previous) }
                }
                let started = ContinuousClock.now
                cache.depth = catalog.maxWindow
                let (scored, anomalies) = try await scorer.run(conn, catalog: &catalog, cache: &cache, timings: &timings)
                if scored > 0 {
                    logger.debug("loop \(k + 1): scored \(scored) points in \(ContinuousClock.now - started), \(anomalies.count) anomalies")
                }
                anomalies.forEach(report)
                if scored >= settings.batchSize { continue }
                let poll = jittered(settings.pollInterval, random: Double.random(in: 0...1))
                _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(poll)) }
            }
        }
        return timings
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
