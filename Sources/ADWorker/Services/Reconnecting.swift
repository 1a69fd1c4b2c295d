import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Runs `session` on a fresh connection named `application` until graceful shutdown (SIGTERM, SIGINT). When a
/// session throws, logs "<what> failed: …", waits a jittered backoff that grows with consecutive failures, and
/// connects again. A session calls `connected()` once it is set up, which resets the failure count.
/// The scoring and delivery services share it; the LISTEN service has its own, because it must also wake its loop
/// after every reconnect.
func runReconnecting(
    _ url: DatabaseURL, application: String, what: String, backoff: Backoff, limits: SessionLimits, logger: Logger,
    _ session: (PostgresConnection, _ connected: () -> Void) async throws -> Void
) async {
    var failures = 0
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            try await Database.withConnection(url, logger: logger, applicationName: application, limits: limits) {
                conn in
                try await session(conn) { failures = 0 }
            }
        } catch {
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            failures += 1
            let delay = backoff.delay(attempt: failures, random: Double.random(in: 0...1))
            logger.error("\(what) failed: \(describe(error)); retrying in \(String(format: "%.2f", delay))s")
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(delay)) }
        }
    }
}

extension WorkerSettings {
    /// The limits every session of `adworker run` starts with: `AD_STATEMENT_TIMEOUT`, `AD_LOCK_TIMEOUT`, and an
    /// idle-in-transaction timeout of twice the statement timeout (at least a minute), so a worker that hangs
    /// inside a transaction does not hold its locks for long.
    var sessionLimits: SessionLimits {
        SessionLimits(
            statementTimeout: statementTimeout, lockTimeout: lockTimeout,
            idleInTransactionTimeout: max(60, statementTimeout * 2))
    }
}
