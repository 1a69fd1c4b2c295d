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

    /// log10 of the upper tail probability of a standard normal beyond z, without underflow (an asymptotic series
    /// past z = 5, where erfc loses relative precision long before it reaches 0).
    public static func log10UpperTail(_ z: Double) -> Double {
        guard z.isFinite else { return z > 0 ? -.infinity : 0 }
        if z < 5 { return log10(max(0.5 * erfc(z / 2.0.squareRoot()), .leastNormalMagnitude)) }
        let z2 = z * z
        let ln = -z2 / 2 - log(z) - 0.5 * log(2 * Double.pi) + log(1 - 1 / z2 + 3 / (z2 * z2))
        return ln / log(10)
    }

    /// Median of `values[range]`, which it reorders (quickselect: linear on average, no allocation).
    public static func selectMedian(_ values: inout [Double], count n: Int) -> Double {
        precondition(n > 0 && n <= values.count)
        let k = n / 2
        let upper = select(&values, n, k)
        guard n % 2 == 0 else { return upper }
        // The lower middle is the largest of the elements left of k.
        let lower = values.withUnsafeBufferPointer { p in
            var lower = -Double.infinity
            for i in 0..<k where p[i] > lower { lower = p[i] }
            return lower
        }
        return (lower + upper) / 2
    }

    /// The k-th smallest (0-based) of values[0..<n]; afterwards values[0..<k] hold the smaller ones. Works on the
    /// array's buffer, without a bounds or uniqueness check per element.
    static func select(_ a: inout [Double], _ n: Int, _ k: Int) -> Double {
        precondition(n <= a.count && (0..<n).contains(k))
        return a.withUnsafeMutableBufferPointer { p in
            var lo = 0, hi = n - 1
            while lo < hi {
                let pivot = p[(lo + hi) / 2]
                var i = lo, j = hi
                while i <= j {
                    // The range guards cost nothing measurable and keep an unordered value (NaN) from walking out.
                    while i < hi && p[i] < pivot { i += 1 }
                    while j > lo && p[j] > pivot { j -= 1 }
                    if i <= j { p.swapAt(i, j); i += 1; j -= 1 }
                }
                if k <= j { hi = j } else if k >= i { lo = i } else { return p[k] }
            }
            return p[k]
        }
    }

    /// Median and robust scale of `values` like `robustCentreAndScale`, reusing `scratch` (no sorting).
    public static func robustCentreAndScale(
        _ values: some Collection<Double>, scratch: inout [Double]
    ) -> (centre: Double, scale: Double)? {
        robustCentreAndScale(values, count: values.count, scratch: &scratch)
    }

    /// The same for `n` values of a sequence that can be iterated twice.
    public static func robustCentreAndScale(
        _ values: some Sequence<Double>, count n: Int, scratch: inout [Double]
    ) -> (centre: Double, scale: Double)? {
        guard n > 0 else { return nil }
        if scratch.count < n { scratch = [Double](repeating: 0, count: n) }
        scratch.withUnsafeMutableBufferPointer { p in
            var i = 0
            for v in values { p[i] = v; i += 1 }
        }
        let med = selectMedian(&scratch, count: n)
        let sumAbs = scratch.withUnsafeMutableBufferPointer { p in
            var i = 0, sum = 0.0
            for v in values { let d = abs(v - med); p[i] = d; sum += d; i += 1 }
            return sum
        }
        let mad = selectMedian(&scratch, count: n)
        if mad > 0 { return (med, 1.4826 * mad) }
        return (med, 1.2533 * sumAbs / Double(n))
    }
}

extension Stats {
    /// The z whose upper normal tail has log10 probability `log10p` (inverse of `log10UpperTail`), by bisection.
    public static func zForUpperLog10Tail(_ log10p: Double) -> Double {
        var lo = -40.0, hi = 1e6
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if log10UpperTail(mid) > log10p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}

extension Stats {
    /// The interquartile range of `values`, as the sorted values' entries at ⌊0.75·n⌋ and ⌊0.25·n⌋ (reusing
    /// `scratch`, no sorting). 0 when empty.
    public static func interquartileRange(_ values: some Collection<Double>, scratch: inout [Double]) -> Double {
        let n = values.count
        guard n > 0 else { return 0 }
        if scratch.count < n { scratch = [Double](repeating: 0, count: n) }
        var i = 0
        for v in values { scratch[i] = v; i += 1 }
        let upper = select(&scratch, n, min(n - 1, Int(Double(n) * 0.75)))
        let lower = select(&scratch, n, Int(Double(n) * 0.25))
        return upper - lower
    }

    /// -log10 P(N ≥ k) for N Poisson with the given mean (k ≥ 1): how surprising k events are, in decimal digits.
    public static func poissonUpperTailDigits(_ k: Int, mean lambda: Double) -> Double {
        precondition(k >= 1 && lambda > 0)
        // P(N = k) in log space, then the tail summed from there (its terms fall fast once past the mean).
        let logTerm = -lambda + Double(k) * log(lambda) - lgamma(Double(k) + 1)
        var sum = 0.0, term = 1.0, j = k
        while term > 1e-17 * sum || sum == 0 {
            sum += term
            j += 1
            term *= lambda / Double(j)
            if j > k + 10_000 { break }
        }
        return max(0, -(logTerm + log(sum)) / log(10))
    }
}

extension Stats {
    /// Mean and sample standard deviation (n − 1) of at least two values, each sum taken in four interleaved parts
    /// so the additions need not wait on one another (a window of 1,000 values is read for every point).
    public static func meanAndStandardDeviation(_ values: ArraySlice<Double>) -> (mean: Double, sd: Double) {
        values.withUnsafeBufferPointer { p in
            let n = p.count
            precondition(n >= 2)
            func sum(_ term: (Double) -> Double) -> Double {
                var a = 0.0, b = 0.0, c = 0.0, d = 0.0, i = 0
                while i + 4 <= n {
                    a += term(p[i]); b += term(p[i + 1]); c += term(p[i + 2]); d += term(p[i + 3]); i += 4
                }
                while i < n { a += term(p[i]); i += 1 }
                return (a + b) + (c + d)
            }
            let mean = sum { $0 } / Double(n)
            return (mean, (sum { ($0 - mean) * ($0 - mean) } / Double(n - 1)).squareRoot())
        }
    }
}
