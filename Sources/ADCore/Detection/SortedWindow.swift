/// A window of values kept sorted as it slides (the newest inserted, the one leaving removed, each a binary search
/// and a move of the values after it), so its median and MAD take a few comparisons rather than a selection over
/// the whole window at every point. The worker keeps one per series for the window's values and one for its
/// steps; they give exactly the figures `Stats.robustCentreAndScale` gives for the same values.
public struct SortedWindow: Sendable, Equatable {
    public private(set) var sorted: [Double]

    /// The values, in any order; none may be NaN.
    public init(_ values: some Sequence<Double>) {
        sorted = values.sorted()
        precondition(sorted.allSatisfy { !$0.isNaN }, "a sorted window holds no NaN")
    }

    public var count: Int { sorted.count }

    /// Index of the first value not below `x`.
    private func lowerBound(_ x: Double) -> Int { firstIndex { !($0 < x) } }

    public mutating func insert(_ x: Double) {
        precondition(!x.isNaN, "a sorted window holds no NaN")
        sorted.insert(x, at: lowerBound(x))
    }

    /// Removes one copy of `x`; false (and nothing removed) when the window does not hold it.
    @discardableResult
    public mutating func remove(_ x: Double) -> Bool {
        let i = lowerBound(x)
        guard i < sorted.count && sorted[i] == x else { return false }
        sorted.remove(at: i)
        return true
    }

    /// The number of values before the first for which `p` holds, for a `p` that holds from some value upwards.
    public func firstIndex(where p: (Double) -> Bool) -> Int {
        var lo = 0, hi = sorted.count
        sorted.withUnsafeBufferPointer { b in
            while lo < hi {
                let mid = (lo + hi) / 2
                if p(b[mid]) { hi = mid } else { lo = mid + 1 }
            }
        }
        return lo
    }

    /// The entries at ⌊0.75·n⌋ and ⌊0.25·n⌋ apart, as `Stats.interquartileRange` selects them; 0 when empty.
    public var interquartileRange: Double {
        let n = sorted.count
        guard n > 0 else { return 0 }
        return sorted[min(n - 1, Int(Double(n) * 0.75))] - sorted[Int(Double(n) * 0.25)]
    }

    /// The median (the mean of the two middle values for an even count); nil when empty.
    public var median: Double? {
        let n = sorted.count
        guard n > 0 else { return nil }
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// The median of |v − centre| over the values. The deviations below and above `centre` form two sorted runs,
    /// so their k-th smallest is a binary search over how many come from each.
    public func medianDeviation(from centre: Double) -> Double? {
        let n = sorted.count
        guard n > 0 else { return nil }
        let split = lowerBound(centre)
        return sorted.withUnsafeBufferPointer { p in
            // Below: centre − p[split−1−i], ascending in i. Above: p[split+j] − centre, ascending in j. Each is what
            // abs(v − centre) gives, since rounding is symmetric and monotonic.
            let nL = split, nR = n - split
            @inline(__always) func below(_ i: Int) -> Double { centre - p[split - 1 - i] }
            @inline(__always) func above(_ j: Int) -> Double { p[split + j] - centre }
            /// The k-th smallest (0-based) deviation.
            func kth(_ k: Int) -> Double {
                let take = k + 1
                var lo = max(0, take - nR), hi = min(take, nL)
                while lo < hi {  // the fewest taken from below such that the next below is not under the last above
                    let i = (lo + hi) / 2
                    if below(i) < above(take - i - 1) { lo = i + 1 } else { hi = i }
                }
                let i = lo, j = take - lo
                return max(i > 0 ? below(i - 1) : -.infinity, j > 0 ? above(j - 1) : -.infinity)
            }
            return n % 2 == 1 ? kth(n / 2) : (kth(n / 2 - 1) + kth(n / 2)) / 2
        }
    }
}

extension Stats {
    /// What `robustCentreAndScale(values, count:, scratch:)` gives, from the same values kept sorted in `window`:
    /// the fallback for a zero MAD still sums over `values` in their order, so the result is identical to the bit.
    public static func robustCentreAndScale(
        _ values: some Sequence<Double>, sorted window: SortedWindow
    )
        -> (centre: Double, scale: Double)?
    {
        guard let med = window.median, let mad = window.medianDeviation(from: med) else { return nil }
        if mad > 0 { return (med, 1.4826 * mad) }
        var sum = 0.0
        for v in values { sum += abs(v - med) }
        return (med, 1.2533 * sum / Double(window.count))
    }
}
