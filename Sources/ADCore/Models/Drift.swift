import Foundation

/// Drift statistics between a reference sample (the training window) and a recent one.
public enum Drift {
    /// The population stability index, Σ (q − p) ln(q / p) over bins, p the reference's share of a bin and q the
    /// recent sample's. Bin edges are the reference's k/bins quantiles (the ⌈k·n/bins⌉-th smallest value, repeated
    /// edges merged), a value equal to an edge falls in the bin below it, and an empty bin counts as a share of
    /// 0.0001 so the logarithm stays finite. 0 when either sample is empty; non-finite values are ignored. Common
    /// reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one.
    public static func populationStabilityIndex(reference: [Double], recent: [Double], bins: Int = 10) -> Double {
        let ref = reference.filter(\.isFinite).sorted()
        let new = recent.filter(\.isFinite)
        guard !ref.isEmpty, !new.isEmpty else { return 0 }
        let bins = max(1, bins)
        var edges = [Double]()
        for k in 1..<max(bins, 1) {
            let rank = Int((Double(k) * Double(ref.count) / Double(bins)).rounded(.up))
            let e = ref[min(max(rank, 1), ref.count) - 1]
            if edges.last != e { edges.append(e) }
        }
        func shares(_ values: [Double]) -> [Double] {
            var counts = [Double](repeating: 0, count: edges.count + 1)
            for v in values {
                // The first edge ≥ v, by bisection.
                var lo = 0
                var hi = edges.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if edges[mid] >= v { hi = mid } else { lo = mid + 1 }
                }
                counts[lo] += 1
            }
            return counts.map { max($0 / Double(values.count), 0.0001) }
        }
        let p = shares(ref)
        let q = shares(new)
        var psi = 0.0
        for i in p.indices { psi += (q[i] - p[i]) * log(q[i] / p[i]) }
        return psi
    }

    /// The two-sample Kolmogorov–Smirnov statistic D = sup |F_ref − F_recent| and its asymptotic p-value
    /// Q_KS(√(n·m/(n+m))·D), as SciPy's `ks_2samp(method="asymp")` computes it (Kolmogorov's limiting distribution,
    /// no small-sample correction). (0, 1) when either sample is empty; non-finite values are ignored.
    public static func kolmogorovSmirnov(reference: [Double], recent: [Double]) -> (statistic: Double, pValue: Double) {
        let a = reference.filter(\.isFinite).sorted()
        let b = recent.filter(\.isFinite).sorted()
        guard !a.isEmpty, !b.isEmpty else { return (0, 1) }
        var i = 0
        var j = 0
        var d = 0.0
        let n = Double(a.count)
        let m = Double(b.count)
        while i < a.count && j < b.count {
            let v = min(a[i], b[j])
            while i < a.count && a[i] == v { i += 1 }
            while j < b.count && b[j] == v { j += 1 }
            d = max(d, abs(Double(i) / n - Double(j) / m))
        }
        let en = (n * m / (n + m)).squareRoot()
        return (d, kolmogorovSurvival(en * d))
    }

    /// Q_KS(λ) = 2 Σ_{k≥1} (−1)^(k−1) exp(−2k²λ²), the limiting distribution's survival function; for small λ the
    /// equivalent Jacobi form 1 − (√(2π)/λ) Σ exp(−(2k−1)²π²/(8λ²)), which converges fast there.
    static func kolmogorovSurvival(_ lambda: Double) -> Double {
        if lambda <= 0 { return 1 }
        if lambda < 1.18 {
            let y = -Double.pi * Double.pi / (8 * lambda * lambda)
            var sum = 0.0
            for k in 1...20 {
                let odd = Double(2 * k - 1)
                sum += exp(odd * odd * y)
            }
            return min(1, max(0, 1 - (2 * Double.pi).squareRoot() / lambda * sum))
        }
        var sum = 0.0
        for k in 1...100 {
            let kk = Double(k)
            let term = exp(-2 * kk * kk * lambda * lambda)
            sum += k % 2 == 1 ? term : -term
            if term < 1e-300 { break }
        }
        return min(1, max(0, 2 * sum))
    }
}
