import ADCore
import ADPostgres
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// LISTENs on a channel (ad_points, ad_deliveries, ad_feedback) on a dedicated connection and wakes its loop. postgres-nio does not reconnect by
/// itself: on any loss this reconnects with jittered exponential backoff, LISTENs again, and wakes the loop at
/// once to catch up on what arrived meanwhile (notifications are lost while disconnected; the rows are not).
struct ListenerService: Service {
    let url: DatabaseURL
    let name: String
    var channel = "ad_points"
    let wake: WakeSignal
    let logger: Logger
    let backoff = Backoff(base: 0.1, cap: 5)

    func run() async throws {
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let listened = Mutex(false)  // a connection that got as far as LISTEN resets the backoff
            do {
                try await cancelWhenGracefulShutdown {
                    try await Database.withConnection(
                        url, logger: logger,
                        applicationName: "\(name) listen\(channel == "ad_points" ? "" : " " + channel)"
                    ) { conn in
                        try await conn.listen(on: channel) { notifications in
                            logger.info("listening on \(channel)")
                            listened.withLock { $0 = true }
                            wake.signal()  // catch up on anything inserted while not listening
                            for try await _ in notifications { wake.signal() }
                        }
                    }
                }
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning("LISTEN connection ended; reconnecting")
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning("LISTEN connection lost: \(describe(error)); reconnecting")
            }
            attempt = listened.withLock { $0 } ? 1 : attempt + 1
            let delay = backoff.delay(attempt: attempt, random: Double.random(in: 0...1))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(delay)) }
        }
    }
}
