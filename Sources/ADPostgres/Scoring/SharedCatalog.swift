import Logging
import PostgresNIO

/// The source catalog a worker's scoring loops share: one copy in memory and one load per refresh. Each loop used to
/// load and hold its own: a query of every source per loop every `AD_CONFIG_REFRESH` seconds, and a dictionary per
/// loop (measured in docs/performance.md).
public actor SharedCatalog {
    /// A catalog and its generation (which publish it was: a loop holding an older one takes the newer).
    public struct Held: Sendable {
        public let catalog: SourceCatalog
        public let generation: Int
    }

    private var latest: (held: Held, at: ContinuousClock.Instant)?
    /// When `invalidate` last ran: a catalog whose load began before it is stale however new it is.
    private var invalidatedAt: ContinuousClock.Instant?
    private var loading = false
    /// Loads made through `current` (the tests read it).
    public private(set) var loads = 0

    public init() {}

    /// The catalog a loop should score with now. `held`: the one it has (nil: none yet). The shared one while it is
    /// younger than `maxAge`; the held one while another loop loads the next (a loop keeps scoring meanwhile);
    /// otherwise a new load through the caller's `connection`, published for the others.
    public func current(
        held: Held?, maxAge: Duration, connection: PostgresConnection, logger: Logger
    ) async throws -> Held {
        let now = ContinuousClock.now
        if let l = latest, now - l.at <= maxAge { return l.held }
        if loading, let held { return held }
        loading = true
        do {
            let catalog = try await SourceCatalog.load(
                connection, logger: logger, reuse: latest?.held.catalog.models ?? held?.catalog.models ?? [:])
            loading = false
            loads += 1
            return publish(catalog)
        } catch {
            loading = false
            throw error
        }
    }

    /// Makes the next `current` load afresh (a model was promoted: `ad_models`), so loops switch at once rather
    /// than after `AD_CONFIG_REFRESH`.
    public func invalidate() {
        invalidatedAt = .now
        latest = latest.map { ($0.held, Self.expired) }
    }

    private static var expired: ContinuousClock.Instant { ContinuousClock.now - .seconds(86_400 * 365) }

    /// Makes `catalog` the shared one (a loop that loaded it itself, on meeting a source it did not know).
    @discardableResult
    public func publish(_ catalog: SourceCatalog) -> Held {
        let held = Held(catalog: catalog, generation: (latest?.held.generation ?? 0) + 1)
        let loaded = catalog.loadedAt ?? .now
        // Loaded before a model switch (a load in flight when the notification came): use it, but load again next.
        latest = (held, invalidatedAt.map { loaded < $0 } == true ? Self.expired : loaded)
        return held
    }
}
