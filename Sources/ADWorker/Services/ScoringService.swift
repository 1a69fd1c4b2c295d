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
    /// The loops' shared catalog of sources and production models (the models listener invalidates it).
    var catalogs = SharedCatalog()
    /// Told which loops hold their connection (for /readyz).
    var health: WorkerHealth?
    let backoff = Backoff(base: 0.2, cap: 10)

    func run() async throws {
        let loops = wakes.count
        let totals = await withTaskGroup(of: ScoringTimings.self) { group in
            for k in 0..<loops { group.addTask { await loop(k, of: loops, catalogs: catalogs) } }
            return await group.reduce(ScoringTimings(), +)
        }
        logger.info("scoring stopped; totals: \(totals.json)")
    }

    /// Loop `k`: its connection is "<name> score" for the first loop, "<name> score <k+1>" for the others. The loops
    /// share one catalog (`SharedCatalog`); the first reports the sources whose config cannot be used.
    private func loop(_ k: Int, of loops: Int, catalogs: SharedCatalog) async -> ScoringTimings {
        let cycle = ScoringCycle(settings: settings, logger: logger, partition: (k, loops))
        let wake = wakes[k]
        var timings = ScoringTimings()
        var cache = settings.makeLoopHistoryCache
        var held: SharedCatalog.Held?
        // Survives reconnects: a batch split before a transient failure goes on being split after it.
        var recovery = BatchRecovery(batchSize: settings.batchSize)
        var reported: Set<UUID> = []
        let maxAge = Duration.seconds(settings.configRefresh)
        let application = k == 0 ? "\(settings.name) score" : "\(settings.name) score \(k + 1)"
        await runReconnecting(
            url, application: application, what: "scoring", backoff: backoff,
            limits: settings.sessionLimits, logger: logger
        ) { conn, connected in
            defer { health?.scoringLoop(k, connected: false) }
            try await cycle.prepare(conn)
            // Takes a catalog; the first loop reports what became unusable whenever its catalog changes.
            func adopt(_ next: SharedCatalog.Held) -> SourceCatalog {
                if k == 0 && next.generation != held?.generation {
                    reportUnusable(next.catalog, alreadyReported: reported)
                    reported = Set(next.catalog.unusable)
                }
                held = next
                return next.catalog
            }
            func refreshed() async throws -> SourceCatalog {
                adopt(try await catalogs.current(held: held, maxAge: maxAge, connection: conn, logger: logger))
            }
            var catalog = try await refreshed()
            if k == 0 {
                logger.info(
                    "scoring: \(loops) loop(s), batch \(settings.batchSize), poll every \(settings.pollInterval)s, listen \(settings.listen)"
                )
            }
            connected()
            health?.scoringLoop(k, connected: true)
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                catalog = try await refreshed()
                let started = ContinuousClock.now
                cache.depth = catalog.maxWindow
                let loadedAt = catalog.loadedAt
                let next = recovery.next
                let before = timings
                let scored: Int, anomalies: [FoundAnomaly]
                do {
                    switch next {
                    case .claim(let limit):
                        (scored, anomalies) = try await cycle.run(
                            conn, catalog: &catalog, cache: &cache, timings: &timings, limit: limit)
                    case .retry(let points):
                        (scored, anomalies) = try await cycle.run(
                            conn, catalog: &catalog, cache: &cache, timings: &timings, again: points)
                    }
                    recovery.succeeded(claimed: scored)
                } catch let failure as ScoringBatchFailure {
                    if catalog.loadedAt != loadedAt { catalog = adopt(await catalogs.publish(catalog)) }
                    guard try await recover(failure, with: &recovery, cycle: cycle, conn: conn, catalog: catalog)
                    else { throw failure }
                    continue
                }
                if catalog.loadedAt != loadedAt {  // it met a source it did not know and loaded the catalog again
                    catalog = adopt(await catalogs.publish(catalog))
                }
                if scored > 0 {
                    WorkerMetrics.batch(
                        before: before, after: timings, total: ContinuousClock.now - started, anomalies: anomalies)
                    WorkerMetrics.historyCache(loop: k, series: cache.count, points: cache.held)
                    logger.debug(
                        "loop \(k + 1): scored \(scored) points in \(ContinuousClock.now - started), \(anomalies.count) anomalies"
                    )
                }
                anomalies.forEach(report)
                if recovery.hasPending { continue }
                if case .claim(let limit) = next, scored >= limit { continue }
                let poll = jittered(settings.pollInterval, random: Double.random(in: 0...1))
                _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(poll)) }
            }
        }
        return timings
    }

    /// What a loop does about a failed batch (`BatchRecovery` decides): false for a transient failure, which the
    /// caller throws to reconnect after a backoff, as before; otherwise the batch was split (its halves run next) or
    /// its lone point quarantined, and the loop goes on at once.
    private func recover(
        _ failure: ScoringBatchFailure, with recovery: inout BatchRecovery, cycle: ScoringCycle,
        conn: PostgresConnection, catalog: SourceCatalog
    ) async throws -> Bool {
        let kind = failure.kind
        switch recovery.failed(failure.points, kind: kind) {
        case .backOff:
            return false
        case .split(let sizes):
            logger.warning(
                """
                scoring: a batch of \(failure.points.count) points failed \
                (\(kind == .timeout ? "statement timeout" : failure.message)); trying it in parts of \(sizes)
                """)
        case .quarantine(let point):
            try await cycle.quarantine(
                conn, point, failure: failure, sourceName: catalog.entries[point.source]?.name)
        }
        return true
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
