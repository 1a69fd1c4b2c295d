import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// db_poll sources (README, "Feed it from another database"): `AD_POLL_LANES` lanes, each with a connection of its
/// own, take the due sources one at a time (`Poller.pollOne`), so a slow source holds one lane for at most its
/// query timeout while the others, and scoring, go on. A lane with nothing due sleeps until the next source is due
/// (at most `idleCap` seconds, so a newly added source is picked up soon). A lane whose own database fails
/// reconnects with backoff; a source that fails is recorded in `ad.poll_status` and retried with its own backoff.
struct PollService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let logger: Logger
    let backoff = Backoff(base: 0.5, cap: 30)
    static let idleCap = 5.0

    func run() async throws {
        // The claim's transaction stays open while the source's query runs (up to 10 minutes, the longest
        // query_timeout ad.add_poll_source allows), so this session may sit idle in it that long.
        var sessionLimits = settings.sessionLimits
        sessionLimits.idleInTransactionTimeout = max(sessionLimits.idleInTransactionTimeout ?? 0, 900)
        let limits = sessionLimits
        let poller = Poller(localURL: url, application: "\(settings.name) poll source", logger: logger)
        await withTaskGroup(of: Void.self) { group in
            for lane in 0..<settings.pollLanes {
                group.addTask {
                    await runReconnecting(
                        url, application: "\(settings.name) poll \(lane)", what: "polling", backoff: backoff,
                        limits: limits, logger: logger
                    ) { conn, connected in
                        connected()
                        while !Task.isShuttingDownGracefully && !Task.isCancelled {
                            if let result = try await poller.pollOne(conn) {
                                report(result)
                                continue
                            }
                            let wait = try await poller.nextDue(conn, cap: Self.idleCap)
                            try? await cancelWhenGracefulShutdown {
                                try await Task.sleep(for: .seconds(max(0.05, wait)))
                            }
                        }
                    }
                }
            }
        }
        logger.info("polling stopped")
    }

    func report(_ r: PollResult) {
        if let error = r.error {
            logger.warning("poll of source \"\(r.source)\" failed: \(error)")
        }
        if r.rejected > 0 {
            logger.warning(
                "poll of source \"\(r.source)\" skipped \(r.rejected) rows the door refuses; first: \(r.firstRejection ?? "")"
            )
        }
        if r.inserted > 0 {
            logger.info("poll of source \"\(r.source)\" inserted \(r.inserted) points (\(r.duplicate) duplicates)")
        }
    }
}
