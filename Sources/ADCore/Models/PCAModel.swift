import Foundation

/// Principal component analysis of the standardised training rows with Hotelling's T² (the distance inside the
/// kept components, each in units of its variance) and the residual Q statistic (squared prediction error: the
/// squared distance from the kept subspace). Raw score = T² / q_T + Q / q_Q, with q_T and q_Q the `quantile` of
/// each statistic on the training rows, so both count in units of their own normal extreme (a part whose quantile
/// is 0, such as Q when every component is kept, is left out). A metric's contribution: its term of T²'s complete
/// decomposition y_j·(P Λ⁻¹ Pᵀ y)_j (negative terms count 0), over q_T, plus its squared residual, over q_Q.
struct PCAModel: Sendable, Equatable {
    var mean: [Double]
    /// d × k, row-major: column i is the i-th component.
    var components: [Double]
    var eigenvalues: [Double]
    var t2Weight: Double
    var qWeight: Double

    var dimensions: Int { mean.count }
    var kept: Int { eigenvalues.count }

    init(mean: [Double], components: [Double], eigenvalues: [Double], t2Weight: Double, qWeight: Double) {
        self.mean = mean
        self.components = components
        self.eigenvalues = eigenvalues
        self.t2Weight = t2Weight
        self.qWeight = qWeight
    }

    init(
        rows x: [Double], count n: Int, dimensions d: Int, variance: Double, components wanted: Int, quantile q: Double
    ) {
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
        let trace = values.reduce(0) { $0 + max($1, 0) }
        var k = wanted > 0 ? min(wanted, d) : d
        if wanted == 0 {
            var sum = 0.0
            for i in 0..<d {
                sum += max(values[i], 0)
                if sum >= variance * trace - 1e-12 * trace {
                    k = i + 1
                    break
                }
            }
        }
        // A component with (almost) no variance would make T² explode on noise: floor the variances.
        let floor = max(1e-9 * trace, 1e-300)
        mean = mu
        eigenvalues = (0..<k).map { max(values[$0], floor) }
        var p = [Double](repeating: 0, count: d * k)
        for j in 0..<d { for i in 0..<k { p[j * k + i] = vectors[j * d + i] } }
        components = p
        t2Weight = 1
        qWeight = 1
        var t2s = [Double]()
        var qs = [Double]()
        var amounts = [Double](repeating: 0, count: d)
        var work = [Double](repeating: 0, count: d + k)
        for r in 0..<n {
            let (t2, qv) = x.withUnsafeBufferPointer { xb in
                statistics(xb.baseAddress! + r * d, amounts: &amounts, work: &work)
            }
            t2s.append(t2)
            qs.append(qv)
        }
        let qt = quantile(t2s, q)
        let qq = quantile(qs, q)
        t2Weight = qt > 1e-12 ? 1 / qt : 0
        qWeight = qq > 1e-12 * max(qt, 1) ? 1 / qq : 0
        if t2Weight == 0 && qWeight == 0 { t2Weight = 1 }
    }

    /// T² and Q of one standardised row; `amounts` gets each input's weighted share (weights as set).
    func statistics(_ z: UnsafePointer<Double>, amounts: inout [Double], work: inout [Double]) -> (Double, Double) {
        let d = dimensions
        let k = kept
        // work[0..<d]: y = z − mean; work[d..<d+k]: t = Pᵀy.
        for j in 0..<d { work[j] = z[j] - mean[j] }
        var t2 = 0.0
        for i in 0..<k {
            var t = 0.0
            for j in 0..<d { t += components[j * k + i] * work[j] }
            work[d + i] = t
            t2 += t * t / eigenvalues[i]
        }
        var q = 0.0
        for j in 0..<d {
            var reconstructed = 0.0
            var g = 0.0
            for i in 0..<k {
                reconstructed += components[j * k + i] * work[d + i]
                g += components[j * k + i] * work[d + i] / eigenvalues[i]
            }
            let e = work[j] - reconstructed
            q += e * e
            amounts[j] = t2Weight * max(0, work[j] * g) + qWeight * e * e
        }
        return (t2, q)
    }

    func raw(_ z: UnsafePointer<Double>, amounts: inout [Double], work: inout [Double]) -> Double {
        let (t2, q) = statistics(z, amounts: &amounts, work: &work)
        return t2Weight * t2 + qWeight * q
    }

    func write(_ w: inout ArtifactWriter) {
        w.int(kept)
        w.doubles(mean)
        w.doubles(components)
        w.doubles(eigenvalues)
        w.f64(t2Weight)
        w.f64(qWeight)
    }

    init(reading r: inout ArtifactReader, dimensions d: Int) throws(ModelError) {
        let k = try r.count("pca components", min: 1, max: d, elementSize: 8 * (d + 1))
        mean = try r.doubles(d, "pca mean")
        components = try r.doubles(d * k, "pca component")
        eigenvalues = try r.doubles(k, "pca eigenvalue")
        t2Weight = try r.f64("pca T2 weight")
        qWeight = try r.f64("pca Q weight")
        guard eigenvalues.allSatisfy({ $0 > 0 }), t2Weight >= 0, qWeight >= 0 else {
            throw ModelError(field: "artifact", message: "pca eigenvalues must be positive and weights non-negative")
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
