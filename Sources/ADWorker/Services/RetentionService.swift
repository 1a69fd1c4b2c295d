import ADCore
import ADPostgres
import Logging
import PostgresNIO
import ServiceLifecycle

/// Calls `ad.apply_retention()` every `AD_RETENTION_INTERVAL` seconds. It does nothing while data is kept
/// forever or a TimescaleDB retention policy does the work; otherwise it deletes (or drops chunks of) points
/// older than `ad.set_retention()` says.
struct RetentionService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let logger: Logger

    func run() async throws {
        // Retention may delete a day of points in one statement: ten times the statement timeout.
        var limits = settings.sessionLimits
        limits.statementTimeout = settings.statementTimeout * 10
        limits.idleInTransactionTimeout = nil
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let removed = try await Database.withConnection(
                    url, logger: logger, applicationName: "\(settings.name) retention", limits: limits
                ) { conn in
                    try await Retention.apply(conn, logger: logger)
                }
                if removed > 0 { logger.info("retention removed \(removed) (rows, or chunks on TimescaleDB)") }
            } catch {
                logger.warning("retention failed: \(describe(error)); trying again next interval")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(settings.retentionInterval)) }
        }
    }
}
