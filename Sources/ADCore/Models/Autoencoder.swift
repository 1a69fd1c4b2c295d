import Foundation

/// A small dense autoencoder, inputs → hidden → code → hidden → inputs: tanh on the three inner layers, a linear
/// output, Glorot-uniform initial weights and zero biases from the seeded generator, trained by Adam on the mean
/// squared reconstruction error of standardised rows in shuffled mini-batches, with L2 weight decay. Everything
/// runs in order on one thread in Double, so the same seed and rows give the same weights bit for bit.
///
/// Raw score: the mean squared reconstruction error over the inputs; a metric's contribution: its squared error.
struct Autoencoder: Sendable, Equatable {
    /// Layer widths, inputs first: [d, hidden, code, hidden, d].
    var widths: [Int]
    /// Every layer's weights (out × in, row-major) then its biases, layer after layer.
    var parameters: [Double]

    static func parameterCount(_ widths: [Int]) -> Int {
        var n = 0
        for l in 0..<(widths.count - 1) { n += widths[l + 1] * widths[l] + widths[l + 1] }
        return n
    }

    init(widths: [Int], parameters: [Double]) {
        self.widths = widths
        self.parameters = parameters
    }

    struct Settings {
        var epochs: Int, batchSize: Int, learningRate: Double, l2: Double, maxRows: Int
    }

    init(rows x: [Double], count n: Int, widths: [Int], settings s: Settings, rng: inout SeededGenerator) {
        self.widths = widths
        let d = widths[0]
        var p = [Double]()
        p.reserveCapacity(Self.parameterCount(widths))
        for l in 0..<(widths.count - 1) {
            let fanIn = widths[l]
            let fanOut = widths[l + 1]
            let a = (6 / Double(fanIn + fanOut)).squareRoot()
            for _ in 0..<(fanIn * fanOut) { p.append((2 * rng.nextDouble() - 1) * a) }
            for _ in 0..<fanOut { p.append(0) }
        }
        parameters = p
        var rows = n > s.maxRows ? rng.sample(s.maxRows, of: n) : Array(0..<n)
        var grad = [Double](repeating: 0, count: p.count)
        var m1 = grad
        var m2 = grad
        var step = 0
        var work = Workspace(widths: widths)
        let isWeight = Self.weightMask(widths)
        for _ in 0..<s.epochs {
            rng.shuffle(&rows)
            var start = 0
            while start < rows.count {
                let end = min(start + s.batchSize, rows.count)
                for k in grad.indices { grad[k] = 0 }
                for r in rows[start..<end] {
                    x.withUnsafeBufferPointer { xb in
                        accumulateGradient(input: xb.baseAddress! + r * d, into: &grad, work: &work)
                    }
                }
                step += 1
                let scale = 1 / Double(end - start)
                let b1 = 0.9
                let b2 = 0.999
                let c1 = 1 - pow(b1, Double(step))
                let c2 = 1 - pow(b2, Double(step))
                for k in parameters.indices {
                    var g = grad[k] * scale
                    if isWeight[k] { g += s.l2 * parameters[k] }
                    m1[k] = b1 * m1[k] + (1 - b1) * g
                    m2[k] = b2 * m2[k] + (1 - b2) * g * g
                    parameters[k] -= s.learningRate * (m1[k] / c1) / ((m2[k] / c2).squareRoot() + 1e-8)
                }
                start = end
            }
        }
    }

    static func weightMask(_ widths: [Int]) -> [Bool] {
        var mask = [Bool]()
        for l in 0..<(widths.count - 1) {
            mask += [Bool](repeating: true, count: widths[l + 1] * widths[l])
            mask += [Bool](repeating: false, count: widths[l + 1])
        }
        return mask
    }

    /// Activations of every layer, reused between rows.
    struct Workspace {
        var activations: [[Double]]
        var deltas: [[Double]]
        init(widths: [Int]) {
            activations = widths.map { [Double](repeating: 0, count: $0) }
            deltas = widths.map { [Double](repeating: 0, count: $0) }
        }
    }

    /// Forward pass; the output is `work.activations.last`.
    func forward(_ input: UnsafePointer<Double>, work: inout Workspace) {
        for i in 0..<widths[0] { work.activations[0][i] = input[i] }
        var offset = 0
        let layers = widths.count - 1
        parameters.withUnsafeBufferPointer { p in
            for l in 0..<layers {
                let nIn = widths[l]
                let nOut = widths[l + 1]
                let biases = offset + nOut * nIn
                for o in 0..<nOut {
                    var sum = p[biases + o]
                    let row = offset + o * nIn
                    for i in 0..<nIn { sum += p[row + i] * work.activations[l][i] }
                    work.activations[l + 1][o] = l < layers - 1 ? tanh(sum) : sum
                }
                offset = biases + nOut
            }
        }
    }

    /// Adds the gradient of this row's mean squared error (over the inputs) to `grad`.
    func accumulateGradient(input: UnsafePointer<Double>, into grad: inout [Double], work: inout Workspace) {
        forward(input, work: &work)
        let layers = widths.count - 1
        let d = widths[0]
        for i in 0..<d { work.deltas[layers][i] = 2 * (work.activations[layers][i] - input[i]) / Double(d) }
        var offsets = [Int]()
        var offset = 0
        for l in 0..<layers {
            offsets.append(offset)
            offset += widths[l + 1] * widths[l] + widths[l + 1]
        }
        for l in stride(from: layers - 1, through: 0, by: -1) {
            let nIn = widths[l]
            let nOut = widths[l + 1]
            let base = offsets[l]
            let biases = base + nOut * nIn
            for i in 0..<nIn { work.deltas[l][i] = 0 }
            for o in 0..<nOut {
                let delta = work.deltas[l + 1][o]
                grad[biases + o] += delta
                let row = base + o * nIn
                for i in 0..<nIn {
                    grad[row + i] += delta * work.activations[l][i]
                    work.deltas[l][i] += delta * parameters[row + i]
                }
            }
            if l > 0 {
                // Through the tanh of layer l: 1 − a².
                for i in 0..<nIn {
                    let a = work.activations[l][i]
                    work.deltas[l][i] *= 1 - a * a
                }
            }
        }
    }

    /// Mean squared reconstruction error; `amounts[j]` receives input j's squared error.
    func raw(_ z: UnsafePointer<Double>, amounts: UnsafeMutablePointer<Double>, work: inout Workspace) -> Double {
        forward(z, work: &work)
        let d = widths[0]
        var total = 0.0
        for j in 0..<d {
            let e = work.activations[widths.count - 1][j] - z[j]
            amounts[j] = e * e
            total += e * e
        }
        return total / Double(d)
    }

    func write(_ w: inout ArtifactWriter) {
        w.int(parameters.count)
        w.doubles(parameters)
    }

    init(reading r: inout ArtifactReader, widths: [Int]) throws(ModelError) {
        let expected = Self.parameterCount(widths)
        let n = try r.count("autoencoder parameters", min: expected, max: expected, elementSize: 8)
        self.widths = widths
        parameters = try r.doubles(n, "autoencoder parameter")
    }
}
