import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The feedback loop: processes queued operator feedback until shut down, at once again while a pass was full,
/// else after an ad_feedback notification or the jittered poll. On graceful shutdown the pass in flight commits.
struct FeedbackService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let wake: WakeSignal
    let logger: Logger
    let backoff = Backoff(base: 0.2, cap: 10)
    static let passSize = 100

    func run() async throws {
        let processor = FeedbackProcessor(logger: logger)
        await runReconnecting(
            url, application: "\(settings.name) feedback", what: "feedback", backoff: backoff,
            limits: settings.sessionLimits, logger: logger
        ) { conn, connected in
            connected()
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if try await processor.pass(conn, limit: Self.passSize) >= Self.passSize { continue }
                let poll = jittered(settings.pollInterval, random: Double.random(in: 0...1))
                _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(poll)) }
            }
        }
        logger.info("feedback stopped")
    }
}
