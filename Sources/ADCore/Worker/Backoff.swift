/// Exponential backoff with full jitter, over an injected random source so it is testable.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double

    public init(base: Double = 0.1, cap: Double = 10) {
        self.base = base; self.cap = cap
    }

    /// Seconds to wait before attempt `attempt` (1 = first retry): uniform in [0, min(cap, base·2^(attempt-1))].
    public func delay(attempt: Int, random unit: Double) -> Double {
        let ceiling = min(cap, base * Double(1 << min(max(attempt - 1, 0), 30)))
        return ceiling * max(0, min(1, unit))
    }
}

/// The poll interval with ±`fraction` jitter, so several workers do not poll in step.
public func jittered(_ seconds: Double, fraction: Double = 0.2, random unit: Double) -> Double {
    seconds * (1 - fraction + 2 * fraction * max(0, min(1, unit)))
}
