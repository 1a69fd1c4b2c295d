import ADCore
import Synchronization

/// Something that scores a corpus as the product would: `adworker evaluate --engine NAME`.
public protocol EvaluationEngine: Sendable {
    /// The name `--engine` takes and the report shows.
    var name: String { get }

    /// Scores every row of every series, each series as one source configured with `config`.
    /// - Returns: per series (same order), one score in [0, 1] per row (same order).
    func score(_ series: [EvaluationSeries], config: SourceConfig) async throws -> [[Double]]
}

/// One step of an evaluation and how long it took, for the report (where the time went).
public struct EvaluationPhase: Sendable, Equatable {
    public var name: String
    public var seconds: Double
    /// Anything worth knowing about it (rows copied, batches), free text.
    public var detail: String?

    public init(name: String, seconds: Double, detail: String? = nil) {
        self.name = name
        self.seconds = seconds
        self.detail = detail
    }
}

/// Phases recorded by the evaluation and its engine, which run in different places.
public final class EvaluationPhases: Sendable {
    private let phases = Mutex<[EvaluationPhase]>([])

    public init() {}

    public func record(_ phase: EvaluationPhase) { phases.withLock { $0.append(phase) } }

    /// Times `body` as a phase named `name`.
    public func measure<T>(_ name: String, detail: String? = nil, _ body: () async throws -> T) async rethrows -> T {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await body()
        record(EvaluationPhase(name: name, seconds: (clock.now - start).seconds, detail: detail))
        return result
    }

    public var all: [EvaluationPhase] { phases.withLock { $0 } }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
