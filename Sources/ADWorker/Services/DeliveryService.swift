import ADAlerting
import ADCore
import ADPostgres
import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Runs the delivery loop until shut down: a pass, at once another when the last one claimed a full set, else a
/// wait for an ad_deliveries notification or the poll. On graceful shutdown the pass in flight finishes (its
/// sends and their records), then the service returns.
struct DeliveryService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let wake: WakeSignal
    let logger: Logger
    let backoff = Backoff(base: 0.2, cap: 10)

    func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let loop = DeliveryPass(settings: settings, sender: ChannelSender(http: http, logger: logger), logger: logger)
        await runReconnecting(
            url, application: "\(settings.name) deliver", what: "delivery", backoff: backoff,
            limits: settings.sessionLimits, logger: logger
        ) { conn, connected in
            logger.info(
                "delivering alerts: \(settings.deliveryConcurrency) at once, up to \(settings.deliveryRetry.maxAttempts) attempts"
            )
            connected()
            var lastHousekeeping = ContinuousClock.now - .seconds(3600)
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let housekeeping = ContinuousClock.now - lastHousekeeping >= .seconds(settings.deliveryPoll)
                if housekeeping { lastHousekeeping = .now }
                let pass = try await loop.pass(conn, housekeeping: housekeeping)
                if pass.claimed >= settings.deliveryConcurrency { continue }
                let poll = jittered(settings.deliveryPoll, random: Double.random(in: 0...1))
                _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(poll)) }
            }
        }
        try? await http.shutdown()
        logger.info("delivery stopped")
    }
}
