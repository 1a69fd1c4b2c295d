import ADCore
import Foundation

/// True/false positive/negative row counts of a detector over the scored (non-probationary) rows. A row inside a
/// labelled window is a positive; a row is detected when its anomaly score is at or above the threshold.
public struct NABCounts: Sendable, Hashable {
    /// Detected rows inside windows.
    public var tp: Int
    /// Detected rows outside windows.
    public var fp: Int
    /// Undetected rows inside windows.
    public var fn: Int
    /// Undetected rows outside windows.
    public var tn: Int

    /// Counts from their parts.
    public init(tp: Int = 0, fp: Int = 0, fn: Int = 0, tn: Int = 0) {
        self.tp = tp
        self.fp = fp
        self.fn = fn
        self.tn = tn
    }

    /// All rows counted.
    public var total: Int { tp + fp + fn + tn }

    /// Counts one row: whether it was detected, and whether it is a positive.
    public mutating func add(detected: Bool, positive: Bool) {
        switch (detected, positive) {
        case (true, true): tp += 1
        case (true, false): fp += 1
        case (false, true): fn += 1
        case (false, false): tn += 1
        }
    }

    /// `tp / (tp + fp)`; nil without detections.
    public var precision: Double? { tp + fp == 0 ? nil : Double(tp) / Double(tp + fp) }
    /// `tp / (tp + fn)`; nil without positives.
    public var recall: Double? { tp + fn == 0 ? nil : Double(tp) / Double(tp + fn) }
    /// Harmonic mean of precision and recall; nil when either is undefined, 0 when both are 0.
    public var f1: Double? {
        guard let p = precision, let r = recall else { return nil }
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }
    /// False alarm rate `fp / (fp + tn)`: the share of normal rows flagged; nil without normal rows.
    public var falseAlarmRate: Double? { fp + tn == 0 ? nil : Double(fp) / Double(fp + tn) }
    /// Missed alarm rate `fn / (fn + tp)` = 1 − recall: the share of anomalous rows not flagged; nil without
    /// positives. (SKAB's leaderboard reports FAR and MAR beside F1, in percent.)
    public var missedAlarmRate: Double? { tp + fn == 0 ? nil : Double(fn) / Double(tp + fn) }

    static func + (a: NABCounts, b: NABCounts) -> NABCounts {
        NABCounts(tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn, tn: a.tn + b.tn)
    }
}

/// The corpus score at one candidate threshold (a row of NAB's `calcScoreByThreshold`): the score when every row
/// with an anomaly score `>= threshold` is a detection.
public struct NABThresholdScore: Sendable, Hashable {
    /// The threshold; the first entry is a sentinel above every score (1.1 for scores in [0, 1]): no detections.
    public var threshold: Double
    /// The raw (unnormalised) NAB score.
    public var score: Double
    /// The row counts at this threshold.
    public var counts: NABCounts
}

/// One file scored at a profile's threshold.
public struct NABFileResult: Sendable, Hashable {
    /// The file's relative path, e.g. `realKnownCause/nyc_taxi.csv`.
    public var name: String
    /// The file's category (data subfolder).
    public var category: String
    /// The raw NAB score of the file.
    public var rawScore: Double
    /// Row counts of the file.
    public var counts: NABCounts
}

/// A category (data subfolder) scored at a profile's corpus-wide threshold.
public struct NABCategoryResult: Sendable, Hashable {
    /// The category's name, e.g. `realKnownCause`.
    public var name: String
    /// How many files it has.
    public var fileCount: Int
    /// How many labelled windows its files have.
    public var windowCount: Int
    /// Sum of its files' raw scores.
    public var rawScore: Double
    /// The null detector's raw score on these files.
    public var nullScore: Double
    /// The perfect detector's raw score on these files (`windowCount · tpWeight`).
    public var perfectScore: Double
    /// `100 · (raw - null) / (perfect - null)`; nil when perfect equals null (a category without windows).
    public var normalizedScore: Double?
    /// Row counts over its files.
    public var counts: NABCounts
}

/// The corpus scored under one profile, at the threshold that maximises the corpus score.
public struct NABProfileResult: Sendable, Hashable {
    /// The profile.
    public var profile: NABProfile
    /// The optimised threshold: rows with an anomaly score at or above it are detections.
    public var threshold: Double
    /// The raw score: the sum of the files' scores at `threshold` (NAB's `Totals` row).
    public var rawScore: Double
    /// The null detector's raw score (a constant 0.5 score, optimised the same way).
    public var nullScore: Double
    /// The perfect detector's raw score: number of windows · `tpWeight`.
    public var perfectScore: Double
    /// The published NAB score, `100 · (raw - null) / (perfect - null)`; nil when the files have no windows.
    public var normalizedScore: Double?
    /// Row counts at `threshold` over the scored rows.
    public var counts: NABCounts
    /// Per category, sorted by name.
    public var categories: [NABCategoryResult]
    /// Per file, in input order.
    public var files: [NABFileResult]

    /// Point-wise precision at `threshold` (rows inside windows are positives, probationary rows excluded).
    public var precision: Double? { counts.precision }
    /// Point-wise recall at `threshold`.
    public var recall: Double? { counts.recall }
    /// Point-wise F1 at `threshold`.
    public var f1: Double? { counts.f1 }
}

/// The outcome of scoring a corpus under several profiles.
public struct NABReport: Sendable, Hashable {
    /// One result per profile, in the scorer's order.
    public var profiles: [NABProfileResult]
    /// Point-wise ROC AUC of the anomaly scores against window membership (scored rows only); nil when the rows
    /// are all positive or all negative.
    public var rocAUC: Double?
    /// Number of files scored.
    public var fileCount: Int
    /// Number of rows in the files (NAB's `Total_Count`).
    public var rowCount: Int
    /// Number of rows scored (after the probationary periods).
    public var scoredRowCount: Int
    /// Number of labelled windows.
    public var windowCount: Int
    /// The corpus in two fixed halves, each scored on its own (`NABHalves`); set by the evaluation.
    public var halves: NABHalves? = nil

    /// The result of the profile with this name.
    public subscript(profile name: String) -> NABProfileResult? { profiles.first { $0.profile.name == name } }
}

/// The NAB scorer, a port of numenta/NAB's `Sweeper`, optimiser, scorer and normaliser.
///
/// For every row after the probationary period NAB computes a weighted "sweep score":
/// * inside a window `[L, R]` (width `W = R - L + 1`) at row `i`: `σ(-(R - i + 1) / W) · tpWeight / σ(-1)`, where σ is
///   the scaled sigmoid `2 / (1 + e^{5x}) - 1` (and -1 past x = 3); so the window's first row scores `tpWeight`;
/// * outside windows, after the most recent window `[L', R']`: `σ(|R' - i| / (W' - 1)) · fpWeight`, a small cost
///   just after the window growing to `-fpWeight` (reached 3 window widths later); before any window: `-fpWeight`.
///
/// At a threshold every row scoring at or above it is a detection; a window contributes its best detection's sweep
/// score (so only the earliest counts) or `-fnWeight` when it has none; false positives add up. The optimiser sorts all
/// scored rows of the corpus by anomaly score, descending, and accumulates incrementally, evaluating the score at each
/// distinct anomaly score; the highest-scoring threshold wins (the highest such threshold on ties). Scores are then
/// normalised against the null detector (constant 0.5) and the perfect detector (every window caught at its start).
public struct NABSweeper: Sendable {
    /// NAB's probationary share of each file: 15%.
    public static let defaultProbationaryPercent = 0.15

    /// The profiles to score, in report order.
    public var profiles: [NABProfile]
    /// Share of each file's first rows that is not scored (capped at `probationaryPercent · 5000` rows).
    public var probationaryPercent: Double

    /// A scorer for these profiles (NAB's three by default).
    public init(
        profiles: [NABProfile] = NABProfile.nabProfiles, probationaryPercent: Double = defaultProbationaryPercent
    ) {
        self.profiles = profiles
        self.probationaryPercent = probationaryPercent
    }

    /// NAB's `scaledSigmoid`: `2·sigmoid(-5x) - 1`, and -1 beyond x = 3.
    public static func scaledSigmoid(_ relativePosition: Double) -> Double {
        relativePosition > 3 ? -1 : 2 / (1 + exp(5 * relativePosition)) - 1
    }

    /// Scores the corpus under every profile: optimises a threshold per profile over all files together, then scores
    /// each file, category and the whole corpus at it, and normalises.
    public func score(files: [NABFile]) -> NABReport {
        let corpus = Corpus(files: files, probationaryPercent: probationaryPercent)
        let null = corpus.withConstantScore(0.5)
        let results = profiles.map { profile -> NABProfileResult in
            let best = Self.optimum(Self.sweep(corpus, profile))
            let nullBest = Self.optimum(Self.sweep(null, profile))
            return Self.result(
                corpus, null: null, nullThreshold: nullBest.threshold, profile: profile,
                threshold: best.threshold)
        }
        return NABReport(
            profiles: results, rocAUC: corpus.rocAUC(), fileCount: files.count,
            rowCount: files.reduce(0) { $0 + $1.rows.count }, scoredRowCount: corpus.scores.count,
            windowCount: corpus.windowFile.count)
    }

    /// Scores the corpus under one profile at a given threshold (no optimisation), normalised as NAB does.
    public func score(files: [NABFile], profile: NABProfile, threshold: Double) -> NABProfileResult {
        let corpus = Corpus(files: files, probationaryPercent: probationaryPercent)
        let null = corpus.withConstantScore(0.5)
        let nullBest = Self.optimum(Self.sweep(null, profile))
        return Self.result(
            corpus, null: null, nullThreshold: nullBest.threshold, profile: profile, threshold: threshold)
    }

    /// The corpus score at every distinct anomaly score, from the no-detection sentinel down to the lowest score
    /// (NAB's `calcScoreByThreshold` over the concatenated files).
    public func thresholdScores(files: [NABFile], profile: NABProfile) -> [NABThresholdScore] {
        Self.sweep(Corpus(files: files, probationaryPercent: probationaryPercent), profile)
    }

    /// The weighted sweep score of every row of a file, probationary rows included (NAB's `S(t)_<profile>` column).
    public func sweepScores(file: NABFile, profile: NABProfile) -> [Double] {
        let maxTP = Self.scaledSigmoid(-1)
        let inWindow = file.inWindowFlags()
        return Self.unweightedSweepScores(file).enumerated().map { i, u in
            inWindow[i] ? u * profile.tpWeight / maxTP : u * profile.fpWeight
        }
    }

    // MARK: - Internals

    /// The unweighted sweep score of every row of a file (`calcSweepScore` before the weights).
    static func unweightedSweepScores(_ file: NABFile) -> [Double] {
        let ranges = file.windowRanges
        var out = [Double](repeating: -1, count: file.rows.count)
        var next = 0
        var current: ClosedRange<Int>?
        var previous: ClosedRange<Int>?
        for i in out.indices {
            if current == nil, next < ranges.count, ranges[next].lowerBound == i {
                current = ranges[next]
                next += 1
            }
            if let window = current {
                out[i] = scaledSigmoid(-Double(window.upperBound - i + 1) / Double(window.count))
                if i == window.upperBound {
                    previous = window
                    current = nil
                }
            } else if let window = previous {
                // NAB divides by (width - 1), which fails for a one-row window; use 1 there.
                let denominator = Double(max(window.count - 1, 1))
                out[i] = scaledSigmoid(Double(abs(window.upperBound - i)) / denominator)
            }
        }
        return out
    }

    /// The scored rows of a corpus, flattened, with everything the sweep needs that does not depend on the profile.
    struct Corpus: Sendable {
        /// Anomaly score of each scored row.
        var scores: [Double]
        /// Unweighted sweep score of each scored row.
        var unweighted: [Double]
        /// Global window index of each scored row, -1 outside windows.
        var window: [Int32]
        /// File index of each scored row.
        var file: [Int32]
        /// Scored rows sorted by anomaly score, descending; ties keep corpus order (Python's stable sort).
        var order: [Int]
        /// File index of each global window.
        var windowFile: [Int]
        /// Whether each window has a scored row (NAB only charges a false negative for those).
        var windowScored: [Bool]
        /// Name and category of each file.
        var fileNames: [(name: String, category: String)]

        init(files: [NABFile], probationaryPercent: Double) {
            var scores: [Double] = [], unweighted: [Double] = [], window: [Int32] = [], file: [Int32] = []
            var windowFile: [Int] = [], windowScored: [Bool] = []
            let total = files.reduce(0) { $0 + $1.rows.count }
            scores.reserveCapacity(total); unweighted.reserveCapacity(total)
            window.reserveCapacity(total); file.reserveCapacity(total)
            for (f, data) in files.enumerated() {
                let sweep = NABSweeper.unweightedSweepScores(data)
                let probation = data.probationaryLength(percent: probationaryPercent)
                var windowOfRow = [Int32](repeating: -1, count: data.rows.count)
                for r in data.windowRanges {
                    let id = Int32(windowFile.count)
                    windowFile.append(f)
                    windowScored.append(r.upperBound >= probation)
                    for i in r { windowOfRow[i] = id }
                }
                for i in data.rows.indices where i >= probation {
                    scores.append(data.rows[i].score)
                    unweighted.append(sweep[i])
                    window.append(windowOfRow[i])
                    file.append(Int32(f))
                }
            }
            var order = Array(scores.indices)
            order.sort { a, b in scores[a] > scores[b] || (scores[a] == scores[b] && a < b) }
            self.scores = scores
            self.unweighted = unweighted
            self.window = window
            self.file = file
            self.order = order
            self.windowFile = windowFile
            self.windowScored = windowScored
            fileNames = files.map { ($0.name, $0.category) }
        }

        /// The same corpus as scored by a detector that always says `value` (NAB's null detector says 0.5).
        func withConstantScore(_ value: Double) -> Corpus {
            var copy = self
            copy.scores = [Double](repeating: value, count: scores.count)
            copy.order = Array(scores.indices)
            return copy
        }

        /// The sentinel threshold above every score: NAB's 1.1, or just above the maximum if some score exceeds it.
        var noDetectionThreshold: Double {
            let top = order.first.map { scores[$0] } ?? 0
            return top < 1.1 ? 1.1 : top.nextUp
        }

        /// Rank-based ROC AUC of the scores against window membership.
        func rocAUC() -> Double? {
            NABPointwise.rocAUC(scores: scores, positives: window.map { $0 >= 0 }, ascendingOrder: order.reversed())
        }
    }

    /// NAB's `calcScoreByThreshold`, incrementally: one entry per distinct anomaly score plus the leading sentinel.
    static func sweep(_ corpus: Corpus, _ profile: NABProfile) -> [NABThresholdScore] {
        let tpScale = profile.tpWeight / scaledSigmoid(-1)
        var best = corpus.windowScored.map { $0 ? -profile.fnWeight : 0 }
        var windowSum = best.reduce(0, +)
        var fpSum = 0.0
        var counts = NABCounts()
        for w in corpus.window { if w >= 0 { counts.fn += 1 } else { counts.tn += 1 } }
        var threshold = corpus.noDetectionThreshold
        var out: [NABThresholdScore] = []
        for i in corpus.order {
            let s = corpus.scores[i]
            if s != threshold {
                out.append(NABThresholdScore(threshold: threshold, score: fpSum + windowSum, counts: counts))
                threshold = s
            }
            let w = Int(corpus.window[i])
            if w >= 0 {
                counts.tp += 1
                counts.fn -= 1
                let value = corpus.unweighted[i] * tpScale
                if value > best[w] {
                    windowSum += value - best[w]
                    best[w] = value
                }
            } else {
                counts.fp += 1
                counts.tn -= 1
                fpSum += corpus.unweighted[i] * profile.fpWeight
            }
        }
        out.append(NABThresholdScore(threshold: threshold, score: fpSum + windowSum, counts: counts))
        return out
    }

    /// The entry with the highest score; the first (highest threshold) on ties, as NAB's stable sort picks.
    static func optimum(_ scores: [NABThresholdScore]) -> NABThresholdScore {
        var best = scores[0]
        for s in scores.dropFirst() where s.score > best.score { best = s }
        return best
    }

    /// Per-file raw scores and counts at a threshold (NAB's `scoreDataSet` for each file).
    static func perFile(
        _ corpus: Corpus, _ profile: NABProfile, threshold: Double
    ) -> [(score: Double, counts: NABCounts)] {
        let tpScale = profile.tpWeight / scaledSigmoid(-1)
        var best = corpus.windowScored.map { $0 ? -profile.fnWeight : 0 }
        var fpSum = [Double](repeating: 0, count: corpus.fileNames.count)
        var counts = [NABCounts](repeating: NABCounts(), count: corpus.fileNames.count)
        for i in corpus.scores.indices {
            let f = Int(corpus.file[i]), w = Int(corpus.window[i])
            let detected = corpus.scores[i] >= threshold
            if w >= 0 {
                if detected {
                    counts[f].tp += 1
                    best[w] = max(best[w], corpus.unweighted[i] * tpScale)
                } else {
                    counts[f].fn += 1
                }
            } else if detected {
                counts[f].fp += 1
                fpSum[f] += corpus.unweighted[i] * profile.fpWeight
            } else {
                counts[f].tn += 1
            }
        }
        var totals = fpSum
        for (w, f) in corpus.windowFile.enumerated() { totals[f] += best[w] }
        return zip(totals, counts).map { ($0, $1) }
    }

    static func result(
        _ corpus: Corpus, null: Corpus, nullThreshold: Double, profile: NABProfile,
        threshold: Double
    ) -> NABProfileResult {
        let files = perFile(corpus, profile, threshold: threshold)
        let nullFiles = perFile(null, profile, threshold: nullThreshold)
        var windowsPerFile = [Int](repeating: 0, count: corpus.fileNames.count)
        for f in corpus.windowFile { windowsPerFile[f] += 1 }

        func normalize(_ raw: Double, null: Double, perfect: Double) -> Double? {
            perfect == null ? nil : 100 * (raw - null) / (perfect - null)
        }
        var fileResults: [NABFileResult] = []
        var byCategory: [String: NABCategoryResult] = [:]
        for (f, names) in corpus.fileNames.enumerated() {
            fileResults.append(
                NABFileResult(
                    name: names.name, category: names.category, rawScore: files[f].score,
                    counts: files[f].counts))
            var c =
                byCategory[names.category]
                ?? NABCategoryResult(
                    name: names.category, fileCount: 0, windowCount: 0, rawScore: 0, nullScore: 0, perfectScore: 0,
                    normalizedScore: nil, counts: NABCounts())
            c.fileCount += 1
            c.windowCount += windowsPerFile[f]
            c.rawScore += files[f].score
            c.nullScore += nullFiles[f].score
            c.counts = c.counts + files[f].counts
            byCategory[names.category] = c
        }
        let categories = byCategory.values.sorted { $0.name < $1.name }.map { c -> NABCategoryResult in
            var c = c
            c.perfectScore = Double(c.windowCount) * profile.tpWeight
            c.normalizedScore = normalize(c.rawScore, null: c.nullScore, perfect: c.perfectScore)
            return c
        }
        let raw = files.reduce(0) { $0 + $1.score }
        let nullRaw = nullFiles.reduce(0) { $0 + $1.score }
        let perfect = Double(corpus.windowFile.count) * profile.tpWeight
        return NABProfileResult(
            profile: profile, threshold: threshold, rawScore: raw, nullScore: nullRaw, perfectScore: perfect,
            normalizedScore: normalize(raw, null: nullRaw, perfect: perfect),
            counts: files.reduce(NABCounts()) { $0 + $1.counts }, categories: categories, files: fileResults)
    }
}
