import Foundation

/// Why a scoring batch failed, as far as what to do next is concerned.
public enum BatchFailureKind: Sendable, Equatable {
    /// Not the rows' fault (a lost connection, a serialization failure, a deadlock, a lock timeout, the server
    /// shutting down, a schema or privilege problem): the same batch is retried after a backoff, as before.
    case transient
    /// The statement timeout cancelled it: the batch may simply be too large for this client and server.
    case timeout
    /// An error the rows themselves cause (a data exception such as an overflow, a constraint, a limit of the
    /// server such as an index row too large): some point in the batch is poison.
    case rows
}

extension BatchFailureKind {
    /// Classifies a failure by its SQLSTATE (nil when the server sent none: the connection broke, or the client
    /// failed) and the server's message (57014 is both a statement timeout and a cancel request; only the message
    /// tells them apart).
    ///
    /// Transient: connection exceptions (08), transaction rollbacks (40: serialization failure, deadlock),
    /// insufficient resources (53), lock_not_available (55P03, which lock_timeout raises), operator intervention
    /// other than the statement timeout (57: admin or crash shutdown, a cancel request), system errors (58), a
    /// read-only transaction (25006, a standby after failover), and the classes that say the schema, the role or
    /// the server is wrong rather than a row (0A, 28, 3D, 3F, 42, 0L, 0P): quarantining every point because a
    /// worker met a schema it does not expect would be far worse than waiting. Everything else (data exceptions 22,
    /// integrity 23, program limits 54, errors a trigger raises, internal errors) is tied to the rows.
    public static func classify(sqlState: String?, message: String) -> BatchFailureKind {
        guard let state = sqlState, state.count == 5 else { return .transient }
        if state == "57014" { return message.contains("statement timeout") ? .timeout : .transient }
        if state == "25006" || state == "55P03" { return .transient }
        switch state.prefix(2) {
        case "08", "40", "53", "57", "58", "0A", "28", "3D", "3F", "42", "0L", "0P": return .transient
        default: return .rows
        }
    }
}

/// A point of a scoring batch, by its primary key: its source and its time (microseconds, as the claim gives them).
public struct PointKey: Sendable, Hashable {
    public var source: UUID
    public var micros: Int64
    public init(source: UUID, micros: Int64) { self.source = source; self.micros = micros }
}

/// What a scoring loop does with its batches, so that no batch is retried unchanged forever (the poison batch): a
/// batch that fails for its rows is split in halves until the failing points stand alone, and those are
/// quarantined; a batch cancelled by the statement timeout is retried in halves too (down to one point, then
/// quarantined), and the loop claims smaller batches for a while; a transient failure retries the same batch after
/// the caller's backoff. No I/O: the loop asks `next`, runs it, and reports `succeeded` or `failed`.
///
/// Nothing here needs to survive a crash: the points stay unscored in the table (the queue), so another worker, or
/// this one restarted, claims them again, meets the same failure and splits again. Points are scored at least once
/// or quarantined, as before.
public struct BatchRecovery: Sendable {
    /// What to run next.
    public enum Next: Sendable, Equatable {
        /// A fresh claim of up to `limit` points.
        case claim(limit: Int)
        /// These points again (those still unscored, not quarantined, not locked by someone else), in this order.
        case retry([PointKey])
    }

    /// What the loop does about a failed batch.
    public enum Decision: Sendable, Equatable {
        /// Back off and run the same thing again (a transient failure, or nothing claimed to split).
        case backOff
        /// The batch was split; its halves are next.
        case split(into: [Int])
        /// This lone point is poison (or alone too slow): quarantine it, with the error, then go on.
        case quarantine(PointKey)
    }

    /// The loop's configured batch size, the most a fresh claim asks for.
    public let batchSize: Int
    /// What a fresh claim asks for now: halved by a statement timeout, doubled back after each full batch that
    /// succeeds.
    public private(set) var limit: Int
    /// Sub-batches still to run, the next first.
    public private(set) var pending: [[PointKey]] = []

    public init(batchSize: Int) {
        precondition(batchSize >= 1)
        self.batchSize = batchSize
        self.limit = batchSize
    }

    public var next: Next { pending.first.map { .retry($0) } ?? .claim(limit: limit) }

    /// Whether sub-batches are waiting (the loop goes on at once rather than waiting for a wake-up).
    public var hasPending: Bool { !pending.isEmpty }

    /// The batch `next` named committed, having claimed `claimed` points.
    public mutating func succeeded(claimed: Int) {
        if !pending.isEmpty {
            pending.removeFirst()
        } else if claimed >= limit {
            limit = min(batchSize, limit * 2)
        }
    }

    /// The batch `next` named failed of `kind`, having claimed `points` (empty when it failed before its claim
    /// returned).
    public mutating func failed(_ points: [PointKey], kind: BatchFailureKind) -> Decision {
        guard kind != .transient, !points.isEmpty else { return .backOff }
        if !pending.isEmpty { pending.removeFirst() }
        if points.count == 1 { return .quarantine(points[0]) }
        let half = points.count / 2
        pending.insert(contentsOf: [Array(points[..<half]), Array(points[half...])], at: 0)
        if kind == .timeout {
            // Too slow at this size: every batch waiting, and every fresh claim for a while, is cut to half of it.
            limit = max(1, min(limit, half))
            pending = pending.flatMap { p in
                stride(from: 0, to: p.count, by: limit).map { Array(p[$0..<min($0 + limit, p.count)]) }
            }
        }
        return .split(into: [half, points.count - half])
    }
}
