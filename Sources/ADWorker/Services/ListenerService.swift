import ADCore
import ADPostgres
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// LISTENs on a channel (ad_points, ad_deliveries, ad_feedback) on a dedicated connection and wakes its loop.
/// postgres-nio does not reconnect by itself: on any loss this reconnects with jittered exponential backoff, LISTENs
/// again, and wakes the loop at once to catch up on what arrived meanwhile (notifications are lost while
/// disconnected; the rows are not).
///
/// A LISTEN connection only ever reads, so a socket that died silently (a middlebox that stopped forwarding, a
/// peer that vanished without a reset) would never be noticed. Every `heartbeat` seconds it runs `SELECT 1`,
/// which must answer within `heartbeat` seconds; a miss closes the connection and opens a new one. The loops keep
/// polling meanwhile, so a dead LISTEN costs at most latency, never points.
///
/// A notification is only a wake-up: its payload is never read, so a notification anybody forges (any login may
/// NOTIFY any channel) costs one wasted claim, coalesced with the others by `WakeSignal`.
struct ListenerService: Service {
    let url: DatabaseURL
    let name: String
    var channel = "ad_points"
    let wake: WakeSignal
    /// More channels LISTENed on the same connection, each waking its own loop (one connection rather than one
    /// per quiet channel).
    var also: [(channel: String, wake: WakeSignal)] = []
    let logger: Logger
    var heartbeat: Double = 15
    var limits: SessionLimits = .none
    /// Told when this connection is up or down (for /readyz and `ad_listener_connected`).
    var health: WorkerHealth?
    let backoff = Backoff(base: 0.1, cap: 5)

    /// The heartbeat went unanswered.
    struct HeartbeatMissed: Error, CustomStringConvertible {
        let seconds: Double
        var description: String { "heartbeat SELECT 1 failed or went unanswered for \(seconds) s" }
    }

    /// Set when a heartbeat goes unanswered, so the log names the heartbeat rather than the error the closing
    /// connection then raises in the listening task.
    final class Missed: Sendable {
        private let flag = Mutex(false)
        func set() { flag.withLock { $0 = true } }
        var isSet: Bool { flag.withLock { $0 } }
    }

    func run() async throws {
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let listened = Mutex(false)  // a connection that got as far as LISTEN resets the backoff
            let missed = Missed()
            do {
                try await cancelWhenGracefulShutdown {
                    try await Database.withConnection(
                        url, logger: logger,
                        applicationName: "\(name) listen\(channel == "ad_points" ? "" : " " + channel)",
                        limits: limits
                    ) { conn in
                        try await conn.listen(on: channel) { notifications in
                            logger.info("listening on \(([channel] + also.map(\.channel)).joined(separator: ", "))")
                            listened.withLock { $0 = true }
                            report(connected: true)
                            defer { report(connected: false) }
                            wake.signal()  // catch up on anything inserted while not listening
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask { for try await _ in notifications { wake.signal() } }
                                for (other, otherWake) in also {
                                    group.addTask {
                                        try await conn.listen(on: other) { more in
                                            otherWake.signal()
                                            for try await _ in more { otherWake.signal() }
                                        }
                                    }
                                }
                                group.addTask { try await beat(conn, missed: missed) }
                                _ = try await group.next()  // whichever ends first ends this connection
                                group.cancelAll()
                            }
                        }
                    }
                }
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning("LISTEN connection ended; reconnecting")
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                if missed.isSet {
                    logger.warning("LISTEN connection missed its heartbeat (\(heartbeat) s): reconnecting")
                } else {
                    logger.warning("LISTEN connection lost: \(describe(error)); reconnecting")
                }
            }
            attempt = listened.withLock { $0 } ? 1 : attempt + 1
            WorkerMetrics.listenerReconnected()
            let delay = backoff.delay(attempt: attempt, random: Double.random(in: 0...1))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(delay)) }
        }
    }

    /// Tells the worker's health and the `ad_listener_connected` gauge (1 only while every LISTEN connection is up).
    private func report(connected: Bool) {
        guard let health else { return }
        WorkerMetrics.listener(connected: health.listener(channel, connected: connected))
    }

    /// Runs `SELECT 1` every `heartbeat` seconds until one goes unanswered for `heartbeat` seconds: then closes
    /// the connection (which fails the query stuck on it) and throws.
    private func beat(_ conn: PostgresConnection, missed: Missed) async throws {
        while true {
            try await Task.sleep(for: .seconds(heartbeat))
            let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do {
                        for try await _ in try await conn.query("SELECT 1", logger: logger) {}
                        return true
                    } catch {
                        return false
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(heartbeat))
                    missed.set()
                    try? await conn.close()  // fails the stuck query, so the group can end
                    return false
                }
                let first = try await group.next() ?? false
                group.cancelAll()
                return first
            }
            if !answered {
                missed.set()
                throw HeartbeatMissed(seconds: heartbeat)
            }
        }
    }
}
