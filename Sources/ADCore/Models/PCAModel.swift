import Foundation

/// Principal component analysis of the standardised training rows (SKAB recipe, /work/h19-skab-recipe.md, steps
/// 3–5, ported exactly): C is the sample covariance of the fitted rows' standardised inputs z (a correlation matrix
/// with the default scaling), λ_1 ≥ … ≥ λ_d its eigenvalues (floored at 1e-12) and v_i its eigenvectors; the model
/// keeps the fewest k whose eigenvalues sum to `variance` of the total (or exactly `components`). For a row, with
/// t = Vᵀz:
///
///     raw = Σ_{i≤k} t_i² / λ_i  +  Σ_{i>k} t_i² / mean(λ_{k+1} … λ_d)
///
/// Hotelling's T² inside the kept components plus the residual Q statistic (SPE, ‖z − V_k V_kᵀ z‖²) in units of
/// the mean residual variance, so each part counts deviations in its own normal units (no Q when k = d). A
/// metric's contribution: its term of T²'s complete decomposition z_j·(V_k Λ_k⁻¹ t_k)_j (negative terms count 0)
/// plus its squared residual over the same residual scale.
struct PCAModel: Sendable, Equatable {
    /// d × d, row-major: column i is the i-th eigenvector.
    var vectors: [Double]
    /// All d eigenvalues, descending, floored at 1e-12.
    var eigenvalues: [Double]
    var kept: Int
    /// mean(λ_{k+1} … λ_d), or 0 when every component is kept.
    var residualScale: Double

    var dimensions: Int { eigenvalues.count }

    init(vectors: [Double], eigenvalues: [Double], kept: Int, residualScale: Double) {
        self.vectors = vectors
        self.eigenvalues = eigenvalues
        self.kept = kept
        self.residualScale = residualScale
    }

    init(rows x: [Double], count n: Int, dimensions d: Int, variance: Double, components wanted: Int) {
        var mu = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mu[j] += x[r * d + j] } }
        for j in 0..<d { mu[j] /= Double(n) }
        var cov = [Double](repeating: 0, count: d * d)
        var y = [Double](repeating: 0, count: d)
        for r in 0..<n {
            for j in 0..<d { y[j] = x[r * d + j] - mu[j] }
            for a in 0..<d { for b in a..<d { cov[a * d + b] += y[a] * y[b] } }
        }
        for a in 0..<d {
            for b in a..<d {
                cov[a * d + b] /= Double(max(n - 1, 1))
                cov[b * d + a] = cov[a * d + b]
            }
        }
        let (values, vectors) = symmetricEigen(cov, d)
        let lambda = values.map { max($0, 1e-12) }
        let total = lambda.reduce(0, +)
        var k = d
        if wanted > 0 {
            k = min(wanted, d)
        } else {
            var sum = 0.0
            for i in 0..<d {
                sum += lambda[i]
                if sum / total >= variance - 1e-12 {
                    k = i + 1
                    break
                }
            }
        }
        self.vectors = vectors
        eigenvalues = lambda
        kept = k
        residualScale = k < d ? lambda[k...].reduce(0, +) / Double(d - k) : 0
    }

    /// The raw statistic of one standardised row; `amounts[j]` gets input j's contribution; `work` holds d values.
    func raw(_ z: UnsafePointer<Double>, amounts: inout [Double], work t: inout [Double]) -> Double {
        let d = dimensions
        let k = kept
        var t2 = 0.0
        var q = 0.0
        for i in 0..<d {
            var ti = 0.0
            for j in 0..<d { ti += z[j] * vectors[j * d + i] }
            t[i] = ti
            if i < k { t2 += ti * ti / eigenvalues[i] } else { q += ti * ti }
        }
        let qWeight = k < d ? 1 / residualScale : 0
        for j in 0..<d {
            var g = 0.0
            var reconstructed = 0.0
            for i in 0..<k {
                g += vectors[j * d + i] * t[i] / eigenvalues[i]
                reconstructed += vectors[j * d + i] * t[i]
            }
            let e = z[j] - reconstructed
            amounts[j] = max(0, z[j] * g) + qWeight * e * e
        }
        return k < d ? t2 + q / residualScale : t2
    }

    func write(_ w: inout ArtifactWriter) {
        w.int(kept)
        w.doubles(eigenvalues)
        w.doubles(vectors)
        w.f64(residualScale)
    }

    init(reading r: inout ArtifactReader, dimensions d: Int) throws(ModelError) {
        // The eigenvalues and vectors that follow are d + d² doubles whatever `kept` is (`doubles` checks they are there).
        kept = try r.count("pca components", min: 1, max: d, elementSize: 0)
        eigenvalues = try r.doubles(d, "pca eigenvalue")
        vectors = try r.doubles(d * d, "pca eigenvector")
        residualScale = try r.f64("pca residual scale")
        guard eigenvalues.allSatisfy({ $0 > 0 }), kept == d || residualScale > 0 else {
            throw ModelError(field: "artifact", message: "pca eigenvalues and residual scale must be positive")
        }
    }
}

/// Eigenvalues (descending) and eigenvectors (column i of the row-major d × d result) of a symmetric matrix, by
/// cyclic Jacobi rotations. Written by hand: there is no LAPACK among our packages, and for the few hundred inputs
/// at most a model takes (d ≤ 256) Jacobi is accurate (it converges to full precision) and fast enough (O(d³) per
/// sweep, a handful of sweeps).
func symmetricEigen(_ matrix: [Double], _ d: Int) -> (values: [Double], vectors: [Double]) {
    var a = matrix
    var v = [Double](repeating: 0, count: d * d)
    for i in 0..<d { v[i * d + i] = 1 }
    for _ in 0..<100 {
        var off = 0.0
        var diag = 0.0
        for p in 0..<d {
            diag += a[p * d + p] * a[p * d + p]
            for q in (p + 1)..<max(d, p + 1) { off += a[p * d + q] * a[p * d + q] }
        }
        if off <= 1e-30 * max(diag, 1e-300) { break }
        for p in 0..<d {
            for q in (p + 1)..<max(d, p + 1) {
                let apq = a[p * d + q]
                if apq == 0 { continue }
                let theta = (a[q * d + q] - a[p * d + p]) / (2 * apq)
                let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot()
                let s = t * c
                for k in 0..<d {
                    let akp = a[k * d + p]
                    let akq = a[k * d + q]
                    a[k * d + p] = c * akp - s * akq
                    a[k * d + q] = s * akp + c * akq
                }
                for k in 0..<d {
                    let apk = a[p * d + k]
                    let aqk = a[q * d + k]
                    a[p * d + k] = c * apk - s * aqk
                    a[q * d + k] = s * apk + c * aqk
                }
                for k in 0..<d {
                    let vkp = v[k * d + p]
                    let vkq = v[k * d + q]
                    v[k * d + p] = c * vkp - s * vkq
                    v[k * d + q] = s * vkp + c * vkq
                }
            }
        }
    }
    let order = (0..<d).sorted { a[$0 * d + $0] > a[$1 * d + $1] || (a[$0 * d + $0] == a[$1 * d + $1] && $0 < $1) }
    let values = order.map { a[$0 * d + $0] }
    var vectors = [Double](repeating: 0, count: d * d)
    for (newIndex, old) in order.enumerated() { for k in 0..<d { vectors[k * d + newIndex] = v[k * d + old] } }
    return (values, vectors)
}
