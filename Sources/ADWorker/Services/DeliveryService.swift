import ADAlerting
import ADCore
import ADPostgres
import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Runs the delivery loop until shut down (`DeliveryPass.run`: sends side by side, each within its deadline, at
/// most `AD_DELIVERY_PER_CHANNEL` per channel). On graceful shutdown no new deliveries are claimed; the sends in
/// flight end (each within its deadline) and are recorded, then the service returns.
struct DeliveryService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let wake: WakeSignal
    let logger: Logger
    let backoff = Backoff(base: 0.2, cap: 10)

    func run() async throws {
        let clients = PinnedHTTPClients(connectTimeout: settings.deliveryMaxSend)
        let loop = DeliveryPass(
            settings: settings,
            sender: ChannelSender(clients: clients, logger: logger, maxSend: settings.deliveryMaxSend),
            logger: logger)
        let wake = self.wake
        await runReconnecting(
            url, application: "\(settings.name) deliver", what: "delivery", backoff: backoff,
            limits: settings.sessionLimits, logger: logger
        ) { conn, connected in
            logger.info(
                "delivering alerts: \(settings.deliveryConcurrency) at once, \(settings.deliveryPerChannel) per channel, each send within \(settings.deliveryMaxSend) s, up to \(settings.deliveryRetry.maxAttempts) attempts"
            )
            connected()
            try await loop.run(
                conn, wake: wake, stop: { Task.isShuttingDownGracefully || Task.isCancelled },
                wait: { seconds in
                    _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(seconds)) }
                })
        }
        await clients.shutdown()
        logger.info("delivery stopped")
    }
}
