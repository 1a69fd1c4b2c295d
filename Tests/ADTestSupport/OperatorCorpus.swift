import ADCore
import Foundation

/// The operator-facing corpus: small generated series (deterministic, seeded), one a point a minute, each with
/// the fault an operator would name, where it lies, and the severity it deserves there. `OperatorCorpusTests` holds
/// the scorer to it; `Tests/ADPostgresTests/Scoring/SustainedFaultTests.swift` holds the worker's alerts to the
/// drift. It lives in test support so both can generate it.
public struct OperatorCase: Sendable {
    /// What an operator would call it.
    public var name: String
    /// One value a minute.
    public var values: [Double]
    /// The points of the fault (empty: none; nothing may fire).
    public var fault: Range<Int>
    /// The severity the fault deserves: the worst an operator should see while it lasts (an anomaly's, or an open
    /// alert's as the fault goes on). Nil: nothing should fire anywhere.
    public var deserves: Severity?
    /// The worst severity any single point outside the fault may get (nil: none may fire there).
    public var elsewhere: Severity?
    /// The severity the fault's first anomaly may have: what an operator is told first.
    public var onset: ClosedRange<Severity>?
    /// Points from the fault's start through which it must stay visible: no more than `gap` points in a row
    /// without an anomaly or a point still off (`PointScore.off`), so its open alert goes on.
    public var visibleFor: Int = 0
    public static let gap = 60  // the default group_window, an hour, at a point a minute

    public init(
        name: String, values: [Double], fault: Range<Int>, deserves: Severity?, elsewhere: Severity?,
        onset: ClosedRange<Severity>? = nil, visibleFor: Int = 0
    ) {
        self.name = name; self.values = values; self.fault = fault; self.deserves = deserves
        self.elsewhere = elsewhere; self.onset = onset; self.visibleFor = visibleFor
    }

    public static let minute = 60.0
    public static let day = 1440

    /// Uniform noise on [0, 1), seeded (a linear congruential generator, as `Noise` in the scorer's tests).
    public struct Generator {
        public var state: UInt64
        public init(state: UInt64) { self.state = state }
        public mutating func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        public mutating func gaussian() -> Double {
            let u = max(uniform(), 1e-12), v = uniform()
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
    }

    /// The demo's queue depth (`scripts/demo-data.sql`): 50 ± 5 uniform, rounded, drifting up to 200 above normal
    /// and back over twelve hours (a half sine), 28 hours into a two-day series. Its first anomaly is a small step
    /// up (a new highest value, a few units above the old one): surprising, not far, `low`, never `critical`.
    /// Then 200 above normal: critical, and visible at least until the peak, six hours in.
    public static let queueDrift: OperatorCase = {
        var g = Generator(state: 2201)
        let start = 28 * 60, length = 12 * 60
        let values = (0..<(2 * day)).map { i -> Double in
            let drift =
                (start..<(start + length)).contains(i) ? 200 * sin(Double.pi * Double(i - start) / Double(length)) : 0
            return max(0, (50 + 10 * (g.uniform() - 0.5) + drift).rounded())
        }
        return OperatorCase(
            name: "queue drift (demo)", values: values, fault: start..<(start + length), deserves: .critical,
            elsewhere: .low, onset: .low ... .low, visibleFor: length / 2)
    }()

    /// A quiet series: 50 ± 5 uniform, rounded, two days. Nothing may fire.
    public static let quiet: OperatorCase = {
        var g = Generator(state: 2202)
        let values = (0..<(2 * day)).map { _ in (50 + 10 * (g.uniform() - 0.5)).rounded() }
        return OperatorCase(name: "quiet", values: values, fault: 0..<0, deserves: nil, elsewhere: nil)
    }()

    /// A new series of gaussian noise (50, sd 2): its first four hours, while every new extreme is "the highest
    /// seen". At most `low` anywhere.
    public static let earlyNoise: OperatorCase = {
        var g = Generator(state: 2203)
        let values = (0..<240).map { _ in 50 + 2 * g.gaussian() }
        return OperatorCase(name: "early-series noise", values: values, fault: 0..<0, deserves: nil, elsewhere: .low)
    }()

    /// A day of gaussian noise (50, sd 2), one point 40 above (20 sd), then normal again. Critical.
    public static let spike: OperatorCase = {
        var g = Generator(state: 2204)
        var values = (0..<(day + 240)).map { _ in 50 + 2 * g.gaussian() }
        values[day] += 40
        return OperatorCase(
            name: "spike", values: values, fault: day..<(day + 1), deserves: .critical, elsewhere: .low,
            onset: .critical ... .critical, visibleFor: 1)
    }()

    /// A day of gaussian noise (50, sd 2), then the level 20 higher (10 sd) for six hours, then back. High: ten
    /// standard deviations, held. Visible for four hours: by then a quarter of the 1000-point window is the shift,
    /// its robust scale has grown, and 20 reads as fewer robust scales than `low` asks (the alert stays open).
    public static let levelShift: OperatorCase = {
        var g = Generator(state: 2205)
        let fault = day..<(day + 360)
        let values = (0..<(day + 600)).map { i in 50 + 2 * g.gaussian() + (fault.contains(i) ? 20 : 0) }
        return OperatorCase(
            name: "level shift", values: values, fault: fault, deserves: .high, elsewhere: .low,
            onset: .medium ... .high, visibleFor: 240)
    }()

    /// A day of gaussian noise (50, sd 2), then the sensor dies and reads 0 for two hours, then recovers. Critical: 25
    /// standard deviations, held.
    public static let stuckAtZero: OperatorCase = {
        var g = Generator(state: 2206)
        let fault = day..<(day + 120)
        let values = (0..<(day + 360)).map { i in fault.contains(i) ? 0 : 50 + 2 * g.gaussian() }
        return OperatorCase(
            name: "stuck sensor (reads 0)", values: values, fault: fault, deserves: .critical, elsewhere: .low,
            onset: .critical ... .critical, visibleFor: fault.count)
    }()

    /// A daily cycle (40 ± 25, gaussian noise sd 1) for three days; on the fourth the afternoon peak does not come:
    /// six hours around it stay at the base level. Critical: 25 standard deviations below the daily shape, for hours;
    /// the first point, still near the curve, medium or high.
    public static let missingSeason: OperatorCase = {
        var g = Generator(state: 2207)
        let peak = 3 * day + 360  // sin peaks at a quarter day
        let fault = (peak - 180)..<(peak + 180)
        let values = (0..<(3 * day + 900)).map { i -> Double in
            let cycle = fault.contains(i) ? 0 : 25 * sin(2 * Double.pi * Double(i) / Double(day))
            return 40 + cycle + g.gaussian()
        }
        return OperatorCase(
            name: "missing seasonality", values: values, fault: fault, deserves: .critical, elsewhere: .low,
            onset: .medium ... .high, visibleFor: 240)
    }()

    /// Two days of a heavy-tailed series: latency-like, lognormal (median 100, σ 0.8 in logs), so a value 5 or 10
    /// times the median comes now and then. Nothing is wrong: no point may be still off (noise must not keep an
    /// alert open), and no anomaly above `low`.
    public static let heavyTailed: OperatorCase = {
        var g = Generator(state: 2208)
        let values = (0..<(2 * day)).map { _ in 100 * exp(0.8 * g.gaussian()) }
        return OperatorCase(name: "heavy-tailed noise", values: values, fault: 0..<0, deserves: nil, elsewhere: .low)
    }()

    /// Two days of an error counter that is mostly 0: one minute in ten counts 1 to 6 errors. Its MAD is 0, so any
    /// count is "100 robust scales" from the median: no point may be still off, no anomaly above `low`.
    public static let mostlyZero: OperatorCase = {
        var g = Generator(state: 2209)
        let values = (0..<(2 * day)).map { _ -> Double in
            g.uniform() < 0.1 ? (1 + 6 * g.uniform()).rounded(.down) : 0
        }
        return OperatorCase(
            name: "mostly-zero counter", values: values, fault: 0..<0, deserves: nil, elsewhere: .low)
    }()

    public static let all: [OperatorCase] = [
        quiet, earlyNoise, spike, levelShift, queueDrift, stuckAtZero, missingSeason,
    ]

    /// Noise that a size alone would mistake for a fault going on (`TheOperatorCorpusGetsTheSeveritiesItNames`'s
    /// noise test).
    public static let noise: [OperatorCase] = [heavyTailed, mostlyZero]

    /// Scores the series as the worker feeds `PointScorer`: one metric `depth`, the last `window` values, each
    /// history value's difference from its value a day earlier, the delta and spacing, the value a day before
    /// with the score it got, and the state the previous point left.
    public func replay(config: SourceConfig = .defaults) -> [PointScore] {
        let scorer = PointScorer(config: config)
        var state: DetectorState?
        var out: [PointScore] = []
        out.reserveCapacity(values.count)
        let dd = values.indices.map { i in i >= Self.day ? values[i] - values[i - Self.day] : .nan }
        for i in values.indices {
            let from = max(0, i - config.window)
            var o = MetricObservation(
                metric: "depth", x: values[i], history: Array(values[from..<i]),
                dailyDiffs: Array(dd[from..<i]),
                delta: i > 0 ? values[i] - values[i - 1] : nil, secondsSincePrevious: i > 0 ? Self.minute : nil,
                lagDaily: i >= Self.day ? SeasonalLag(value: values[i - Self.day], score: out[i - Self.day].score) : nil
            )
            o.state = state
            let s = scorer.score([o])
            state = s.states["depth"]
            out.append(s)
        }
        return out
    }
}
