import ADCore
import Foundation
import Logging
import PostgresNIO

/// What the worker knows about the sources: name, status, parsed config and its scorer, refreshed every few
/// seconds. What every batch needs from all sources is derived once per load, not per batch.
public struct SourceCatalog: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var status: String
        /// Shared by every source with the same config text: an entry stays a few dozen bytes.
        let parsed: Parsed
        public var config: Result<SourceConfig, SourceConfig.Problem> { parsed.config }
        /// The scorer for a usable config.
        public var scorer: PointScorer? { parsed.scorer }
    }
    /// One distinct config, parsed, and its scorer when usable.
    final class Parsed: Sendable {
        let config: Result<SourceConfig, SourceConfig.Problem>
        let scorer: PointScorer?

        init(text: String) {
            do {
                let json = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
                config = Result { () throws(SourceConfig.Problem) in try SourceConfig.parse(json) }
            } catch {
                config = .failure(SourceConfig.Problem(field: "", message: "is not valid JSON"))
            }
            scorer = (try? config.get()).map { PointScorer(config: $0) }
        }
    }
    public private(set) var entries: [UUID: Entry] = [:]
    public private(set) var loadedAt: ContinuousClock.Instant?
    /// The largest window any usable config asks for: the SQL fetches this much context.
    public private(set) var maxWindow = SourceConfig.defaults.window
    /// Whether any source wants seasonal lags (otherwise the lag lookups are skipped).
    public private(set) var wantsSeasonal = false
    /// Sources whose config cannot be used: their points stay unscored, and are not claimed.
    public private(set) var unusable: [UUID] = []
    /// Sources whose points are not claimed: not active (paused, disabled) or unusable.
    public private(set) var skipped: [UUID] = []
    /// What operator feedback taught: per series, the kinds of deviation that are normal (ad.scoring_adjustments).
    public private(set) var learned = LearnedPatterns()
    /// Each source's production model (`ad.promote_model`), scoring beside the streaming scorer; by source id.
    public private(set) var models: [UUID: LiveModel] = [:]

    public init() {}

    /// Reads every source. Each distinct config text is parsed once, and sources with the same config share one
    /// parsed value and scorer: parsing each source's config at every refresh nearly doubled the worker's peak RSS with
    /// 100,000 sources (docs/performance.md).
    /// `reuse`: the production models a previous load decoded (kept while still in production).
    public static func load(
        _ connection: PostgresConnection, logger: Logger, reuse: [UUID: LiveModel] = [:]
    ) async throws -> SourceCatalog {
        // When the load began: what it read is at least this old.
        let started = ContinuousClock.now
        var catalog = SourceCatalog()
        var parsed: [String: Parsed] = [:]
        var windows: Set<Int> = []
        for try await (id, name, status, configText) in try await connection.query(
            PostgresQuery(unsafeSQL: ScoringQueries.sources), logger: logger
        ).decode((UUID, String, String, String).self) {
            let known = parsed[configText] ?? Parsed(text: configText)
            parsed[configText] = known
            if let c = known.scorer?.config {
                windows.insert(c.window)
                if c.detectors.contains(.seasonal) && !c.seasonality.isEmpty { catalog.wantsSeasonal = true }
            } else {
                catalog.unusable.append(id)
            }
            catalog.entries[id] = Entry(name: name, status: status, parsed: known)
            if status != "active" || known.scorer == nil { catalog.skipped.append(id) }
        }
        catalog.maxWindow = windows.max() ?? SourceConfig.defaults.window
        catalog.learned = try await FeedbackProcessor.learned(connection, logger: logger)
        catalog.models = try await TrainingStore.productionModels(connection, reuse: reuse, logger: logger)
        // A model's points need this many values of each metric: the SQL fetches at least that much context.
        catalog.maxWindow = max(catalog.maxWindow, (catalog.models.values.map(\.model.rowsNeeded).max() ?? 0))
        catalog.loadedAt = started
        return catalog
    }
}
