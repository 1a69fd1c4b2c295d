import Foundation

/// Small, allocation-light statistics for the detectors.
public enum Stats {
    /// Median of `values` (which it reorders). nil when empty.
    public static func median(_ values: inout [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        values.sort()
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }

    /// Median and a robust scale (standard-deviation units) of `values`: 1.4826·MAD, falling back to
    /// 1.2533·mean absolute deviation when more than half the values are equal (MAD = 0), so a mostly-flat
    /// series still has a usable scale; 0 only when every value is the same.
    public static func robustCentreAndScale(_ values: [Double]) -> (centre: Double, scale: Double)? {
        var v = values
        guard let med = median(&v) else { return nil }
        var dev = values.map { abs($0 - med) }
        let mad = median(&dev)!
        if mad > 0 { return (med, 1.4826 * mad) }
        let meanAbs = dev.reduce(0, +) / Double(dev.count)
        return (med, 1.2533 * meanAbs)
    }

    /// Two-sided tail probability of a standard normal beyond |z|.
    public static func twoSidedP(_ z: Double) -> Double {
        guard z.isFinite else { return 0 }
        return erfc(abs(z) / 2.0.squareRoot())
    }

    /// |z| whose two-sided tail probability is `p` (inverse of `twoSidedP`), by bisection; for ranges.
    public static func zForTwoSidedP(_ p: Double) -> Double {
        var lo = 0.0, hi = 40.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if twoSidedP(mid) > p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// Fisher's method: the probability that k independent uniform p-values give a statistic
    /// -2 Σ ln p at least this large (chi-square with 2k degrees of freedom, closed form).
    public static func fisher(_ ps: [Double]) -> Double {
        guard !ps.isEmpty else { return 1 }
        let half = ps.reduce(0.0) { $0 - log(max($1, 1e-300)) }  // X / 2
        guard half > 0 else { return 1 }
        // P = exp(-h) Σ_{k<n} h^k / k!, summed in log space so large statistics neither overflow nor underflow.
        let logTerms = (0..<ps.count).map { k in Double(k) * log(half) - lgamma(Double(k) + 1) }
        let top = logTerms.max()!
        let logSum = top + log(logTerms.reduce(0.0) { $0 + exp($1 - top) })
        return min(1, exp(-half + logSum))
    }
}
