import Foundation

/// Turns a raw score into a surprise, −log10 of its tail probability among the held-out normal rows' raw scores
/// (SKAB recipe, /work/h19-skab-recipe.md, step 7, ported exactly).
///
/// With the n held-out scores sorted, c_0 ≤ … ≤ c_(n−1), and nt = max(2, ⌈tail_fraction · n⌉):
/// - the body, v ≤ u = c_(n−nt−1) (the (nt+1)-th largest): p(v) = (#{c_i ≥ v} + 1) / (n + 1), the empirical tail
///   probability (never 0);
/// - the tail, v > u: p(v) = nt/(n+1) · exp(−(v − u)/β), β the mean excess of the top nt scores over u (floored at
///   1e-12 · max(1, |u|)): the maximum-likelihood exponential, peaks over threshold with a zero shape.
/// surprise = −log10(max(p, 1e−300)): 0 … 300, finite, non-decreasing in the raw score, growing linearly (1/(β ln 10)
/// per raw unit) past the largest held-out score.
///
/// The body is kept as at most `maxKnots` (value, count at or above) pairs: every held-out score when there are few
/// enough (then p is exact), otherwise evenly spaced ranks (p then errs by at most one stride's share, towards
/// the larger surprise), so the artifact's size does not grow with the training rows.
struct Calibration: Sendable, Equatable {
    static let maxKnots = 1024
    static let minimumTail = 2
    static let minimumRows = 20

    /// n, the held-out scores.
    var count: Int
    /// nt, the scores in the fitted tail.
    var tailCount: Int
    /// Body values, non-decreasing; the last is u.
    var knots: [Double]
    /// #{c_i ≥ knot} for each knot, non-increasing.
    var atOrAbove: [Double]
    /// β (> 0).
    var tailScale: Double

    init(count: Int, tailCount: Int, knots: [Double], atOrAbove: [Double], tailScale: Double) {
        self.count = count
        self.tailCount = tailCount
        self.knots = knots
        self.atOrAbove = atOrAbove
        self.tailScale = tailScale
    }

    /// From the held-out raw scores (at least 3, all finite).
    init(heldOut: [Double], tailFraction: Double) {
        let c = heldOut.sorted()
        let n = c.count
        let nt = min(n - 1, max(Self.minimumTail, Int((tailFraction * Double(n)).rounded(.up))))
        let top = n - nt - 1
        let u = c[top]
        var excess = 0.0
        for i in (n - nt)..<n { excess += c[i] - u }
        tailScale = max(excess / Double(nt), 1e-12 * max(1, abs(u)))
        count = n
        tailCount = nt
        // The first index of each value, for #{c_i ≥ c_k} = n − first index of c_k.
        var firstIndex = [Int](repeating: 0, count: top + 1)
        for i in 0...top { firstIndex[i] = i > 0 && c[i] == c[i - 1] ? firstIndex[i - 1] : i }
        let stride = max(1, Int((Double(top + 1) / Double(Self.maxKnots - 1)).rounded(.up)))
        var ranks = Array(Swift.stride(from: 0, to: top, by: stride))
        ranks.append(top)
        knots = ranks.map { c[$0] }
        atOrAbove = ranks.map { Double(n - firstIndex[$0]) }
    }

    var tailStart: Double { knots[knots.count - 1] }

    /// −log10 of the tail probability of `raw`, in [0, 300] (NaN for NaN).
    func surprise(_ raw: Double) -> Double {
        let u = tailStart
        let n1 = Double(count + 1)
        if raw > u {
            let s = -log10(Double(tailCount) / n1) + (raw - u) / (tailScale * M_LN10)
            return min(s, 300)
        }
        // The first knot ≥ raw (the last knot, u, is ≥ raw).
        var lo = 0
        var hi = knots.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if knots[mid] >= raw { hi = mid } else { lo = mid + 1 }
        }
        return -log10((atOrAbove[lo] + 1) / n1)
    }

    func write(_ w: inout ArtifactWriter) {
        w.int(count)
        w.int(tailCount)
        w.int(knots.count)
        w.doubles(knots)
        w.doubles(atOrAbove)
        w.f64(tailScale)
    }

    init(reading r: inout ArtifactReader) throws(ModelError) {
        count = Int(try r.u32("calibration count"))
        tailCount = Int(try r.u32("calibration tail count"))
        let k = try r.count("calibration knots", min: 1, max: Self.maxKnots, elementSize: 16)
        knots = try r.doubles(k, "calibration knot")
        atOrAbove = try r.doubles(k, "calibration count at or above")
        tailScale = try r.f64("calibration tail scale")
        guard count >= 2, tailCount >= 1, tailCount < count, count < Int(Int32.max) else {
            throw ModelError(
                field: "artifact", message: "calibration counts \(count) and \(tailCount) are inconsistent")
        }
        for i in 0..<k {
            guard atOrAbove[i] >= 1, atOrAbove[i] <= Double(count),
                i == 0 || (knots[i] >= knots[i - 1] && atOrAbove[i] <= atOrAbove[i - 1])
            else { throw ModelError(field: "artifact", message: "calibration knots are not monotone at \(i)") }
        }
        guard tailScale > 0 else {
            throw ModelError(field: "artifact", message: "calibration tail scale \(tailScale) must be positive")
        }
    }
}
