import ADPostgres
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A bound on the live feeds open at once: each holds a connection open and polls the database every second.
final class ConsoleFeedSlots: Sendable {
    let limit: Int
    private let open = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// A slot, or nil when all are taken. The slot is given back when the value is released (the response and its
    /// writer are done with it, however the stream ended, or if it never started).
    func take() -> Slot? {
        let taken = open.withLock { n -> Bool in
            guard n < limit else { return false }
            n += 1
            return true
        }
        return taken ? Slot(self) : nil
    }

    var count: Int { open.withLock { $0 } }

    fileprivate func giveBack() { open.withLock { $0 -= 1 } }

    final class Slot: Sendable {
        private let slots: ConsoleFeedSlots
        fileprivate init(_ slots: ConsoleFeedSlots) { self.slots = slots }
        deinit { slots.giveBack() }
    }
}

/// The live anomaly feed: server-sent events (`event: anomaly`, the row rendered by the server as `data`, its
/// detection time as `id`), polled from ad.anomaly_details as the session's role every `interval`, with a comment
/// line as a heartbeat. It ends when the client goes (the request's inbound side closes; Hummingbird cancels the
/// loop), when the worker shuts down, or when the token stops being valid (an `end` event says so).
struct ConsoleFeed: Sendable {
    let store: APIStore
    let logger: Logger
    var interval: Duration = .seconds(1)
    var heartbeat: Duration = .seconds(15)
    /// How far before the cursor each poll looks again (see `APIStore.consoleFeed`), seconds.
    var overlap = 10.0
    /// The most anomalies one poll sends.
    var batch = 200

    /// One SSE frame.
    static func frame(event: String?, id: String?, data: String) -> String {
        var out = ""
        if let id { out += "id: \(id)\n" }
        if let event { out += "event: \(event)\n" }
        // A data line ends at a line break; the rows are rendered on one line, but be sure.
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            out += "data: \(line.replacingOccurrences(of: "\r", with: ""))\n"
        }
        return out + "\n"
    }

    /// Streams from `since` until one of the ends above.
    func run(token: String, since start: Date, write: (String) async throws -> Void) async throws {
        var cursor = start
        var sent: [UUID: Date] = [:]
        var lastWrite = ContinuousClock.now
        try await write("retry: 3000\n\n")
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let items = try await store.consoleFeed(
                    token: token, since: cursor, overlap: overlap, limit: batch, skipping: Array(sent.keys))
                for item in items where sent[item.id] == nil {
                    let row = ConsoleTemplates.render("feedRow", try ConsoleViews.anomaly(item.json))
                    try await write(
                        Self.frame(
                            event: "anomaly", id: ConsoleFormat.rfc3339(max(item.detectedAt, cursor)),
                            data: row.replacingOccurrences(of: "\n", with: "")))
                    lastWrite = .now
                    sent[item.id] = item.detectedAt
                    cursor = max(cursor, item.detectedAt)
                }
                let keepFrom = cursor.addingTimeInterval(-overlap - 1)
                sent = sent.filter { $0.value >= keepFrom }
            } catch let failure as APIFailure where failure.kind == .unauthenticated || failure.kind == .forbidden {
                try await write(Self.frame(event: "end", id: nil, data: "stopped: \(failure.message)"))
                return
            } catch let failure as APIFailure {
                logger.warning("console feed poll failed: \(failure.message)")  // the database will be back
            }
            if ContinuousClock.now - lastWrite >= heartbeat {
                try await write(": heartbeat\n\n")
                lastWrite = .now
            }
            try await Task.sleep(for: interval)
        }
    }
}
