import Foundation

/// Centres each input and divides it by its scale, both from the fitted rows: by default the mean and the sample
/// standard deviation (n − 1); with `robust` the median and the median absolute deviation times 1.4826 (a standard
/// deviation for normal data), falling back to the standard deviation when more than half the values are equal
/// (MAD 0). An input constant on the fitted rows has no scale: training throws, naming it.
struct Standardizer: Sendable, Equatable {
    var center: [Double]
    var scale: [Double]

    init(center: [Double], scale: [Double]) {
        self.center = center
        self.scale = scale
    }

    /// `rows` are complete feature rows (at least 2); `names` name each column for the error.
    init(fitting rows: [[Double]], names: [String], robust: Bool) throws(ModelError) {
        let d = names.count
        center = []
        scale = []
        for j in 0..<d {
            let column = rows.map { $0[j] }
            let n = Double(column.count)
            let mean = column.reduce(0, +) / n
            let sd = (column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(n - 1, 1)).squareRoot()
            var c = mean
            var s = sd
            if robust {
                c = Self.median(column)
                let mad = 1.4826 * Self.median(column.map { abs($0 - c) })
                if mad > 0 && mad.isFinite { s = mad }
            }
            guard s > 0, s.isFinite else {
                throw ModelError(
                    field: "data",
                    message:
                        "metric \(names[j]) is constant (\(column.first ?? 0)) over the \(column.count) rows the"
                        + " model is fitted on: a model cannot learn its normal range; leave it out of the source's"
                        + " metrics or train on a window where it varies")
            }
            center.append(c)
            scale.append(s)
        }
    }

    static func median(_ a: [Double]) -> Double {
        let s = a.sorted()
        let n = s.count
        if n == 0 { return 0 }
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

/// `q`-quantile of `values` by linear interpolation between order statistics (NumPy's default); 0 when empty.
func quantile(_ values: [Double], _ q: Double) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return 0 }
    let h = q * Double(s.count - 1)
    let lo = Int(h.rounded(.down))
    let hi = min(lo + 1, s.count - 1)
    return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
}
