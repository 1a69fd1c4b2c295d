import Synchronization

/// What a running worker knows about itself, for `/readyz` and the `ad_listener_connected` gauge: which of its
/// LISTEN connections are up and which scoring loops hold their connection (and so poll). The services set it as
/// they connect and lose their connections; nothing here does I/O.
public final class WorkerHealth: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// Whether this worker LISTENs at all (AD_LISTEN).
        public var listen: Bool
        /// Each LISTEN connection by its first channel, and whether it is up now.
        public var listeners: [String: Bool]
        /// The scoring loops this worker runs.
        public var scoringLoops: Int
        /// The scoring loops that hold their connection now (they poll, whatever the listeners do).
        public var scoringConnected: Int

        public init(listen: Bool, listeners: [String: Bool], scoringLoops: Int, scoringConnected: Int) {
            self.listen = listen; self.listeners = listeners
            self.scoringLoops = scoringLoops; self.scoringConnected = scoringConnected
        }

        /// Every LISTEN connection this worker opens is up (false before the first has connected).
        public var listenersConnected: Bool { listen && !listeners.isEmpty && listeners.values.allSatisfy { $0 } }
        /// Every scoring loop holds its connection, so the poll runs (the fallback when LISTEN is down or off).
        public var polling: Bool { scoringLoops > 0 && scoringConnected == scoringLoops }
    }

    private struct State {
        var listeners: [String: Bool] = [:]
        var scoring: Set<Int> = []
    }
    private let state = Mutex(State())
    public let listen: Bool
    public let scoringLoops: Int

    /// `channels`: the first channel of each LISTEN connection the worker will open (counted as down until it
    /// connects).
    public init(listen: Bool, channels: [String], scoringLoops: Int) {
        self.listen = listen
        self.scoringLoops = scoringLoops
        let initial = listen ? Dictionary(channels.map { ($0, false) }, uniquingKeysWith: { a, _ in a }) : [:]
        state.withLock { $0.listeners = initial }
    }

    /// A LISTEN connection came up or went down. Returns whether every LISTEN connection is now up.
    @discardableResult
    public func listener(_ channel: String, connected: Bool) -> Bool {
        state.withLock { $0.listeners[channel] = connected }
        return snapshot.listenersConnected
    }

    /// Scoring loop `k` got or lost its connection.
    public func scoringLoop(_ k: Int, connected: Bool) {
        state.withLock { s in
            if connected { s.scoring.insert(k) } else { s.scoring.remove(k) }
        }
    }

    public var snapshot: Snapshot {
        state.withLock { s in
            Snapshot(
                listen: listen, listeners: s.listeners, scoringLoops: scoringLoops, scoringConnected: s.scoring.count)
        }
    }
}

/// What the readiness check found in the database.
public enum DatabaseReadiness: Sendable, Equatable {
    /// Reachable, and the schema is the version this binary carries.
    case ok(version: String)
    /// Reachable, but the schema is missing or at another version.
    case schemaMismatch(installed: String?, expected: String)
    /// Not reachable (or the check failed): the reason.
    case unreachable(String)
}

/// The answer of `/readyz`: ready when the database is reachable, its schema is the version this binary carries,
/// and the worker is fed: its LISTEN connections are up, or its scoring loops are polling (the fallback).
public struct Readiness: Sendable, Equatable {
    public var ready: Bool
    /// Why it is not ready (empty when ready).
    public var reasons: [String]
    public var database: DatabaseReadiness
    public var health: WorkerHealth.Snapshot

    public static func judge(database: DatabaseReadiness, health: WorkerHealth.Snapshot) -> Readiness {
        var reasons: [String] = []
        switch database {
        case .ok: break
        case .unreachable(let why): reasons.append("database unreachable: \(why)")
        case .schemaMismatch(let installed, let expected):
            reasons.append(
                installed.map { "schema version \($0) is installed; this adworker needs \(expected)" }
                    ?? "the ad schema is not installed; this adworker needs \(expected)")
        }
        if !health.listenersConnected && !health.polling {
            reasons.append(
                "not fed: LISTEN \(health.listen ? "is not connected" : "is off") and "
                    + "\(health.scoringConnected) of \(health.scoringLoops) scoring loops hold a connection")
        }
        return Readiness(ready: reasons.isEmpty, reasons: reasons, database: database, health: health)
    }

    /// The body `/readyz` sends: one JSON object.
    public var json: String {
        let db: JSONValue
        switch database {
        case .ok(let v): db = .object([("reachable", .bool(true)), ("schema", .string(v)), ("schema_ok", .bool(true))])
        case .schemaMismatch(let installed, let expected):
            db = .object([
                ("reachable", .bool(true)), ("schema", installed.map(JSONValue.string) ?? .null),
                ("expected", .string(expected)), ("schema_ok", .bool(false)),
            ])
        case .unreachable(let why): db = .object([("reachable", .bool(false)), ("error", .string(why))])
        }
        let listeners = JSONValue.object(health.listeners.sorted { $0.key < $1.key }.map { ($0.key, .bool($0.value)) })
        return JSONValue.object([
            ("status", .string(ready ? "ready" : "not ready")),
            ("reasons", .array(reasons.map(JSONValue.string))),
            ("database", db),
            ("listen", .bool(health.listen)),
            ("listeners", listeners),
            ("listener_connected", .bool(health.listenersConnected)),
            ("scoring_loops", .number(Double(health.scoringLoops))),
            ("scoring_loops_polling", .number(Double(health.scoringConnected))),
        ]).render()
    }
}
