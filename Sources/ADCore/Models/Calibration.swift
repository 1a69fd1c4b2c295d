import Foundation

/// Turns a raw score into a surprise, -log10 of its tail probability among the held-out normal rows' raw scores.
///
/// Body: the empirical survival function of the held-out scores, P(X ≥ s_(i)) = (m − i) / (m + 1) at the i-th
/// smallest of m scores, linear between them, kept as at most `maxKnots` knots (evenly spaced ranks, so the artifact
/// stays small whatever the number of rows). Tail: above u, the held-out score at the top `tail_fraction` (at least
/// `minimumTail` scores), the survival is S(u)·exp(−(r − u)/β) with β the mean excess of the top scores over u (the
/// maximum-likelihood exponential, peaks over threshold with a zero shape). Surprise is therefore continuous,
/// non-decreasing in the raw score, 0 below every held-out score, about 1 at the body's top, finite for every finite
/// raw score, and grows linearly (in log10 units, 1/(β ln 10) per raw unit) past the largest held-out score.
struct Calibration: Sendable, Equatable {
    static let maxKnots = 512
    static let minimumTail = 10
    static let minimumRows = 20

    /// Raw scores of the body's knots, non-decreasing; the last is the tail's start u.
    var knots: [Double]
    /// The survival at each knot, non-increasing, in (0, 1).
    var survival: [Double]
    /// β, the exponential tail's scale (> 0).
    var tailScale: Double

    init(knots: [Double], survival: [Double], tailScale: Double) {
        self.knots = knots
        self.survival = survival
        self.tailScale = tailScale
    }

    /// From the held-out raw scores (at least `minimumRows`, all finite).
    init(heldOut: [Double], tailFraction: Double) {
        let s = heldOut.sorted()
        let m = s.count
        let k = min(m - 1, max(Self.minimumTail, Int((tailFraction * Double(m)).rounded(.up))))
        let top = m - k  // index of u
        let u = s[top]
        var excess = 0.0
        for i in (top + 1)..<m { excess += s[i] - u }
        var beta = excess / Double(k - 1)
        if !(beta > 0) || !beta.isFinite {
            // The top scores are all equal: any excess is beyond everything seen; a scale one thousandth of the
            // body's spread (or of u) keeps surprise finite and steep there.
            beta = max(1e-12, 1e-3 * max(u - s[0], abs(u)))
        }
        let stride = max(1, Int((Double(top) / Double(Self.maxKnots - 1)).rounded(.up)))
        var ranks = Array(Swift.stride(from: 0, to: top, by: stride))
        ranks.append(top)
        knots = ranks.map { s[$0] }
        survival = ranks.map { Double(m - $0) / Double(m + 1) }
        tailScale = beta
    }

    /// -log10 of the tail probability of `raw` (≥ 0, finite for a finite raw).
    func surprise(_ raw: Double) -> Double {
        let u = knots[knots.count - 1]
        if raw >= u {
            let s = -log10(survival[survival.count - 1]) + (raw - u) / (tailScale * M_LN10)
            return max(0, s)
        }
        if raw < knots[0] { return max(0, -log10(survival[0])) }
        // The largest i with knots[i] <= raw (so knots[i + 1] > raw: i + 1 exists since raw < u).
        var lo = 0
        var hi = knots.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if knots[mid] <= raw { lo = mid } else { hi = mid }
        }
        let x0 = knots[lo]
        let x1 = knots[lo + 1]
        let t = x1 > x0 ? (raw - x0) / (x1 - x0) : 1
        let p = survival[lo] + t * (survival[lo + 1] - survival[lo])
        return max(0, -log10(p))
    }

    func write(_ w: inout ArtifactWriter) {
        w.int(knots.count)
        w.doubles(knots)
        w.doubles(survival)
        w.f64(tailScale)
    }

    init(reading r: inout ArtifactReader) throws(ModelError) {
        let n = try r.count("calibration knots", min: 1, max: Self.maxKnots, elementSize: 16)
        knots = try r.doubles(n, "calibration knot")
        survival = try r.doubles(n, "calibration survival")
        tailScale = try r.f64("calibration tail scale")
        for i in 0..<n {
            guard survival[i] > 0, survival[i] <= 1,
                i == 0 || (knots[i] >= knots[i - 1] && survival[i] <= survival[i - 1])
            else { throw ModelError(field: "artifact", message: "calibration knots are not monotone at \(i)") }
        }
        guard tailScale > 0 else {
            throw ModelError(field: "artifact", message: "calibration tail scale \(tailScale) must be positive")
        }
    }
}
