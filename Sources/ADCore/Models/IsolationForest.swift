import Foundation

/// Isolation Forest (Liu, Ting and Zhou 2008) as scikit-learn's `IsolationForest` grows and scores it: each tree
/// is grown on `sample_size` rows drawn without replacement (at most all of them), every node picks a feature at
/// random among those not constant in it (scikit-learn's random splitter with max_features 1, skipping features
/// whose range is below 1e-7) and a threshold uniform in [min, max); rows ≤ threshold go left; a node of fewer than
/// two rows or at depth ceil(log2(sample_size)) is a leaf. A point's path length in a tree is its leaf's depth plus
/// c(rows in the leaf), the expected depth of an unbuilt subtree; its raw score is 2^(−E[h(x)] / c(sample_size)),
/// minus scikit-learn's `score_samples` (higher = more anomalous).
///
/// Calibrated on the shared scale, a forest ranks well but seldom reaches `low` (surprise 8.2, a held-out tail
/// probability near 6e-9): its score is bounded (below 2^(−1/c(256)) ≈ 0.93) and saturates for points beyond the
/// training range, which land in the leaves of the most extreme training rows, so a far outlier scores about as
/// the most extreme normal rows do. Any monotone transform of the score (−log(1 − s), the path-length deficit
/// c(n) − E[h]) keeps that ratio of the outlier's excess to the normal tail's spread, and so the surprise. For
/// alerting at the source's thresholds use pca or autoencoder; a forest's scores still order points (ROC AUC).
///
/// The trees are one flat array of 16-byte nodes (feature, left child, threshold or leaf path length; the right
/// child is left + 1), so scoring a point walks plain memory without allocating.
struct IsolationForest: Sendable, Equatable {
    struct Node: Sendable, Equatable {
        /// The split feature, or −1 for a leaf.
        var feature: Int32
        /// The left child's index (the right child follows it); unused in a leaf.
        var left: Int32
        /// The split threshold, or in a leaf its depth plus c(rows in it).
        var value: Double
    }

    var nodes: [Node]
    var roots: [Int32]
    /// c(sample_size): the mean path length the scores are normalised by.
    var normalizer: Double

    /// The walk's form of `nodes`, derived from them: a leaf becomes a split that always stays on itself (feature 0,
    /// threshold +∞, left child itself), so every walk takes exactly `depth` steps with no branch on the leaf test,
    /// and several rows can walk one tree side by side.
    struct Step: Sendable, Equatable {
        var threshold: Double
        var feature: Int32
        var left: Int32
    }
    private(set) var steps: [Step] = []
    private(set) var leafValue: [Double] = []
    /// The deepest leaf's depth.
    private(set) var depth = 0

    mutating func derive() throws(ModelError) {
        steps = nodes.enumerated().map { i, n in
            n.feature < 0
                ? Step(threshold: .infinity, feature: 0, left: Int32(i))
                : Step(threshold: n.value, feature: n.feature, left: n.left)
        }
        leafValue = nodes.map { $0.feature < 0 ? $0.value : 0 }
        // Every path from a root must reach a leaf within 12 levels (ceil(log2(4096)), the largest sample_size).
        var deepest = 0
        var stack: [(Int, Int)] = []
        for root in roots {
            stack.append((Int(root), 0))
            while let (i, level) = stack.popLast() {
                if nodes[i].feature < 0 {
                    deepest = max(deepest, level)
                    continue
                }
                guard level < 12 else {
                    throw ModelError(field: "artifact", message: "isolation forest tree deeper than 12 levels")
                }
                stack.append((Int(nodes[i].left), level + 1))
                stack.append((Int(nodes[i].left) + 1, level + 1))
            }
        }
        depth = deepest
    }

    /// c(n), the average path length of an unsuccessful search in a binary search tree of n keys, as scikit-learn
    /// computes it (0 for n ≤ 1, 1 for n = 2).
    static func averagePathLength(_ n: Int) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        let m = Double(n - 1)
        return 2 * (log(m) + 0.5772156649015329) - 2 * m / Double(n)
    }

    /// Grows the forest on `rows` (n × d, row-major).
    init(rows x: [Double], count n: Int, dimensions d: Int, trees: Int, sampleSize: Int, rng: inout SeededGenerator) {
        let psi = min(sampleSize, n)
        let maxDepth = Int(ceil(log2(Double(max(psi, 2)))))
        normalizer = Self.averagePathLength(psi)
        nodes = []
        roots = []
        nodes.reserveCapacity(trees * (2 * psi - 1))
        var features = Array(0..<d)
        for _ in 0..<trees {
            var idx = rng.sample(psi, of: n)
            let root = nodes.count
            roots.append(Int32(root))
            nodes.append(Node(feature: -1, left: 0, value: 0))
            // (node, lo, hi, depth): the node's rows are idx[lo..<hi].
            var stack: [(Int, Int, Int, Int)] = [(root, 0, psi, 0)]
            while let (node, lo, hi, depth) = stack.popLast() {
                let size = hi - lo
                var split: (feature: Int, threshold: Double)?
                if depth < maxDepth && size >= 2 {
                    // Features in random order; the first that is not constant here splits (scikit-learn draws
                    // without replacement and does not count constant features against max_features).
                    var remaining = d
                    while remaining > 0 {
                        let pick = rng.nextInt(below: remaining)
                        features.swapAt(pick, remaining - 1)
                        let f = features[remaining - 1]
                        remaining -= 1
                        var lowest = Double.infinity
                        var highest = -Double.infinity
                        for i in lo..<hi {
                            let v = x[idx[i] * d + f]
                            lowest = min(lowest, v)
                            highest = max(highest, v)
                        }
                        if highest <= lowest + 1e-7 { continue }
                        var t = lowest + rng.nextDouble() * (highest - lowest)
                        if t >= highest { t = lowest }
                        split = (f, t)
                        break
                    }
                }
                guard let (f, t) = split else {
                    nodes[node].value = Double(depth) + Self.averagePathLength(size)
                    continue
                }
                // Partition idx[lo..<hi] into ≤ t then > t.
                var i = lo
                var j = hi - 1
                while i <= j {
                    if x[idx[i] * d + f] <= t {
                        i += 1
                    } else {
                        idx.swapAt(i, j)
                        j -= 1
                    }
                }
                let left = nodes.count
                nodes.append(Node(feature: -1, left: 0, value: 0))
                nodes.append(Node(feature: -1, left: 0, value: 0))
                nodes[node] = Node(feature: Int32(f), left: Int32(left), value: t)
                stack.append((left + 1, i, hi, depth + 1))
                stack.append((left, lo, i, depth + 1))
            }
        }
        try! derive()  // grown trees are at most ceil(log2(4096)) = 12 deep
    }

    /// 2^(−mean path length / c(sample_size)) for `count` standardised rows (row-major, `d` wide) into `out`.
    /// Tree by tree, sixteen rows walk side by side (independent chains of loads the processor overlaps, over one
    /// tree that stays in cache); each row's path lengths are summed in tree order, so a row's score does not
    /// depend on which rows share its block.
    func raw(rows z: UnsafePointer<Double>, count: Int, dimensions d: Int, into out: UnsafeMutablePointer<Double>) {
        for r in 0..<count { out[r] = 0 }
        let depth = self.depth
        steps.withUnsafeBufferPointer { steps in
            leafValue.withUnsafeBufferPointer { leafValue in
                for root in roots {
                    let root = Int(root)
                    var r = 0
                    // Sixteen rows side by side: independent chains of loads the processor overlaps.
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { at in
                        while r + 16 <= count {
                            let zr = z + r * d
                            for k in 0..<16 { at[k] = root }
                            for _ in 0..<depth {
                                for k in 0..<16 {
                                    let s = steps[at[k]]
                                    at[k] = Int(s.left) &+ (zr[k &* d &+ Int(s.feature)] > s.threshold ? 1 : 0)
                                }
                            }
                            for k in 0..<16 { out[r + k] += leafValue[at[k]] }
                            r += 16
                        }
                    }
                    while r < count {
                        let zr = z + r * d
                        var a = root
                        for _ in 0..<depth {
                            let sa = steps[a]
                            a = Int(sa.left) &+ (zr[Int(sa.feature)] > sa.threshold ? 1 : 0)
                        }
                        out[r] += leafValue[a]
                        r += 1
                    }
                }
            }
        }
        let trees = Double(roots.count)
        for r in 0..<count { out[r] = exp2(-(out[r] / trees) / normalizer) }
    }

    func write(_ w: inout ArtifactWriter) {
        w.f64(normalizer)
        w.int(roots.count)
        w.int32s(roots)
        w.int(nodes.count)
        for n in nodes {
            w.u32(UInt32(bitPattern: n.feature))
            w.u32(UInt32(bitPattern: n.left))
            w.f64(n.value)
        }
    }

    /// Reads and checks a forest: every index in range and every child after its parent (so a walk ends).
    init(reading r: inout ArtifactReader, dimensions d: Int, trees: Int, sampleSize: Int) throws(ModelError) {
        normalizer = try r.f64("isolation forest normalizer")
        let treeCount = try r.count("isolation forest trees", min: trees, max: trees, elementSize: 4)
        roots = try r.int32s(treeCount, "isolation forest root")
        let maxNodes = trees * (2 * sampleSize - 1)
        let n = try r.count("isolation forest nodes", min: 1, max: maxNodes, elementSize: 16)
        var nodes = [Node]()
        nodes.reserveCapacity(n)
        for i in 0..<n {
            let feature = Int32(bitPattern: try r.u32("node feature"))
            let left = Int32(bitPattern: try r.u32("node child"))
            let value = try r.f64("node value")
            if feature >= 0 {
                guard Int(feature) < d, Int(left) > i, Int(left) + 1 < n else {
                    throw ModelError(field: "artifact", message: "isolation forest node \(i) points out of range")
                }
            } else {
                guard feature == -1, value >= 0 else {
                    throw ModelError(field: "artifact", message: "isolation forest leaf \(i) is malformed")
                }
            }
            nodes.append(Node(feature: feature, left: left, value: value))
        }
        for root in roots where root < 0 || Int(root) >= n {
            throw ModelError(field: "artifact", message: "isolation forest root \(root) is out of range")
        }
        guard normalizer > 0 else { throw ModelError(field: "artifact", message: "isolation forest normalizer ≤ 0") }
        self.nodes = nodes
        try derive()
    }
}
