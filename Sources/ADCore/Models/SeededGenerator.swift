import Foundation

/// xoshiro256** seeded through SplitMix64 (Blackman and Vigna). Written here because training must give the same
/// model, bit for bit, for the same seed on every platform and Swift version: the standard library's
/// `SystemRandomNumberGenerator` cannot be seeded, and its `random(in:using:)` helpers do not promise a stable
/// algorithm across releases, so the few draws training needs (uniform doubles, bounded integers, shuffles) are
/// written below too. No package in our list offers a seeded generator.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = Self.rotl(s.3, 45)
        return result
    }

    /// Uniform in [0, 1), 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in 0..<n (n > 0), by Lemire's multiply-and-reject, so unbiased and stable.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// A standard normal draw (Box–Muller; the second value is dropped to keep the state simple).
    public mutating func nextGaussian() -> Double {
        var u = nextDouble()
        while u <= 0 { u = nextDouble() }
        let v = nextDouble()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Fisher–Yates, the same permutation for the same state everywhere.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, nextInt(below: i + 1)) }
    }

    /// `k` distinct indices of 0..<n, in the order drawn (a partial Fisher–Yates).
    public mutating func sample(_ k: Int, of n: Int) -> [Int] {
        var idx = Array(0..<n)
        let k = min(k, n)
        for i in 0..<k { idx.swapAt(i, i + nextInt(below: n - i)) }
        return Array(idx[0..<k])
    }
}
