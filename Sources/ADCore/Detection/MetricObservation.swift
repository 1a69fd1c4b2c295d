import Foundation

/// The same metric a day (or week) earlier: its value, and the score it got (nil: not scored yet).
public struct SeasonalLag: Sendable, Equatable {
    public var value: Double
    public var score: Double?
    public init(value: Double, score: Double? = nil) {
        self.value = value; self.score = score
    }
}

/// One metric of one point, with the window features the SQL computed.
public struct MetricObservation: Sendable, Equatable {
    public var metric: String
    /// The observed value.
    public var x: Double
    /// Earlier values of this metric of this source, oldest first (strictly before this point). A slice, so the
    /// points of one series can share one array.
    public var history: ArraySlice<Double>
    /// For each value of `history` (aligned at the end), that value minus its own value a day (a week) earlier;
    /// NaN where it had none. Empty when unknown.
    public var dailyDiffs: ArraySlice<Double>
    public var weeklyDiffs: ArraySlice<Double>
    /// x minus the previous value, and seconds since the previous point (nil for the first point).
    public var delta: Double?
    public var secondsSincePrevious: Double?
    /// The same metric at the same time a day and a week earlier, where data exists.
    public var lagDaily: SeasonalLag?
    public var lagWeekly: SeasonalLag?
    /// The state the previous point of this series left (nil: none known, start afresh).
    public var state: DetectorState?
    /// Optionally, the last `window` values of `history` (the scorer's window) kept sorted, and their steps (each
    /// value minus the one before it): the worker slides them from point to point instead of having each point
    /// select its medians anew. Ignored unless their counts match the window's; the figures are the same either way.
    public var sortedHistory: SortedWindow?
    public var sortedSteps: SortedWindow?
    /// Optionally, the known (not NaN) values of `dailyDiffs` and `weeklyDiffs` within that window, sorted.
    public var sortedDailyDiffs: SortedWindow?
    public var sortedWeeklyDiffs: SortedWindow?

    public init(
        metric: String, x: Double, history: [Double], dailyDiffs: [Double] = [], weeklyDiffs: [Double] = [],
        delta: Double? = nil, secondsSincePrevious: Double? = nil,
        lagDaily: SeasonalLag? = nil, lagWeekly: SeasonalLag? = nil, state: DetectorState? = nil
    ) {
        self.metric = metric; self.x = x; self.history = history[...]; self.dailyDiffs = dailyDiffs[...];
        self.weeklyDiffs = weeklyDiffs[...]
        self.delta = delta; self.secondsSincePrevious = secondsSincePrevious; self.lagDaily = lagDaily;
        self.lagWeekly = lagWeekly
        self.state = state
    }
}
