import ADCore
import ADTestSupport
import Foundation
import Testing

@testable import ADEvaluation

// MARK: - Helpers

/// A file of `scores.count` rows one minute apart from 2020-01-01 00:00:00, with windows given as row-index ranges.
private func nabFile(
    _ name: String = "cat/file.csv", scores: [Double], windows: [ClosedRange<Int>] = []
) throws -> NABFile {
    let base = NABTimestamp(microseconds: 1_577_836_800_000_000)
    func at(_ i: Int) -> NABTimestamp { NABTimestamp(microseconds: base.microseconds + Int64(i) * 60_000_000) }
    let rows = scores.enumerated().map { NABRow(timestamp: at($0.offset), score: $0.element) }
    return try NABFile(
        name: name, rows: rows, windows: windows.map { NABWindow(start: at($0.lowerBound), end: at($0.upperBound)) })
}

/// 40 rows (probation: the first 6), one window on rows 20...24 (width 5), and a score of 1 on the given rows.
/// Long enough before the window that the null detector's best is to detect nothing (a score of -fnWeight).
private func fortyRows(detectingAt hits: [Int], name: String = "cat/file.csv") throws -> NABFile {
    var scores = [Double](repeating: 0, count: 40)
    for h in hits { scores[h] = 1 }
    return try nabFile(name, scores: scores, windows: [20...24])
}

/// The scaled sigmoid in closed form: 2·sigmoid(-5x) - 1 = tanh(-2.5x).
private func sigma(_ x: Double) -> Double { tanh(-2.5 * x) }

private func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}

// MARK: - Rules on hand-computed cases

@Suite struct NABScoringRules {
    let scorer = NABSweeper(profiles: [.standard])

    @Test func scaledSigmoidMatchesNAB() {
        #expect(close(NABSweeper.scaledSigmoid(-1), 0.98661429815, 1e-10))
        #expect(close(NABSweeper.scaledSigmoid(-0.5), 0.84828363995, 1e-10))
        #expect(NABSweeper.scaledSigmoid(0) == 0)
        #expect(close(NABSweeper.scaledSigmoid(1), -0.98661429815, 1e-10))
        #expect(NABSweeper.scaledSigmoid(3.01) == -1)
    }

    @Test func probationaryLengthIsFifteenPercentCappedAt750() throws {
        #expect(try nabFile(scores: Array(repeating: 0, count: 20)).probationaryLength() == 3)
        #expect(try nabFile(scores: Array(repeating: 0, count: 4999)).probationaryLength() == 749)
        #expect(try nabFile(scores: Array(repeating: 0, count: 5001)).probationaryLength() == 750)
        #expect(try nabFile(scores: Array(repeating: 0, count: 22_695)).probationaryLength() == 750)
    }

    @Test func detectionAtWindowStartScoresTheFullTPWeight() throws {
        let r = try #require(scorer.score(files: [fortyRows(detectingAt: [20])]).profiles.first)
        #expect(r.threshold == 1)
        #expect(close(r.rawScore, 1))
        #expect(r.nullScore == -1)
        #expect(r.perfectScore == 1)
        #expect(close(r.normalizedScore, 100))
        // 34 scored rows: 5 in the window, one of them detected.
        #expect(r.counts == NABCounts(tp: 1, fp: 0, fn: 4, tn: 29))
    }

    @Test func detectionAtWindowEndScoresLess() throws {
        // Last row of a width-5 window: relative position -(24 - 24 + 1) / 5 = -0.2.
        let r = try #require(scorer.score(files: [fortyRows(detectingAt: [24])]).profiles.first)
        let expected = sigma(-0.2) / sigma(-1)  // 0.46839
        #expect(close(r.rawScore, expected))
        #expect(close(r.normalizedScore, 100 * (expected + 1) / 2))  // 73.42
    }

    @Test func onlyTheFirstDetectionInAWindowCounts() throws {
        let r = try #require(scorer.score(files: [fortyRows(detectingAt: [20, 22, 24])]).profiles.first)
        #expect(close(r.rawScore, 1))
        #expect(r.counts.tp == 3)
    }

    @Test func falsePositiveRightAfterAWindow() throws {
        // One row past a width-5 window: position |24 - 25| / (5 - 1) = 0.25, weighted by fpWeight.
        let file = try fortyRows(detectingAt: [25])
        let fp = 0.11 * sigma(0.25)  // -0.0610
        #expect(close(scorer.sweepScores(file: file, profile: .standard)[25], fp))
        let fixed = scorer.score(files: [file], profile: .standard, threshold: 1)
        #expect(close(fixed.rawScore, -1 + fp))
        #expect(fixed.counts == NABCounts(tp: 0, fp: 1, fn: 5, tn: 28))
        // The optimiser prefers no detections at all: the sentinel threshold, a score of exactly the null score.
        let best = try #require(scorer.score(files: [file]).profiles.first)
        #expect(best.threshold == 1.1)
        #expect(best.rawScore == -1)
        #expect(best.normalizedScore == 0)
    }

    @Test func falsePositivesBeforeAnyWindowAndFarAfterCostTheFullFPWeight() throws {
        let file = try fortyRows(detectingAt: [])
        let s = scorer.sweepScores(file: file, profile: .standard)
        #expect(s[5] == -0.11)
        #expect(close(s[29], 0.11 * sigma(5.0 / 4)))
        let far = try nabFile(scores: Array(repeating: 0, count: 40), windows: [10...14])
        #expect(scorer.sweepScores(file: far, profile: .standard)[30] == -0.11)  // position 16/4 > 3
    }

    @Test func probationaryRowsAreNotScored() throws {
        // A hit on row 1 (probation) would be a false positive if it were scored.
        let r = try #require(scorer.score(files: [fortyRows(detectingAt: [1, 20])]).profiles.first)
        #expect(close(r.rawScore, 1))
        #expect(r.counts.fp == 0)
        #expect(r.counts.total == 34)
        // A window entirely inside the probation is not charged as a miss, but still counts towards perfect.
        let early = try nabFile(scores: Array(repeating: 0, count: 40), windows: [0...1, 20...24])
        let e = try #require(scorer.score(files: [early]).profiles.first)
        #expect(e.nullScore == -1)
        #expect(e.perfectScore == 2)
    }

    @Test func theNullBaselineIsTheOptimisedConstantDetector() throws {
        // On a short file, flagging every row (constant 0.5 at threshold 0.5) beats missing the window:
        // 1 (window caught at its start) + 7 × -0.11 (before the window) + the rows after it.
        let short = try nabFile(scores: Array(repeating: 0, count: 20), windows: [10...14])
        let after = (15...19).reduce(0.0) { $0 + 0.11 * sigma(Double($1 - 14) / 4) }
        let r = try #require(scorer.score(files: [short]).profiles.first)
        #expect(close(r.nullScore, 1 - 7 * 0.11 + after))
        #expect(r.nullScore > -1)
    }

    @Test func tiedScoresPickTheHighestThreshold() throws {
        // Rows 10 and 11 are both in the window; detecting 11 as well adds nothing, so 0.9 and 0.8 score the same.
        var scores = [Double](repeating: 0, count: 20)
        scores[10] = 0.9
        scores[11] = 0.8
        let file = try nabFile(scores: scores, windows: [10...14])
        let curve = scorer.thresholdScores(files: [file], profile: .standard)
        #expect(curve.map(\.threshold) == [1.1, 0.9, 0.8, 0])
        #expect(curve[1].score == curve[2].score)
        let r = try #require(scorer.score(files: [file]).profiles.first)
        #expect(r.threshold == 0.9)
        // A detection is a score at or above the threshold.
        #expect(close(scorer.score(files: [file], profile: .standard, threshold: 0.85).rawScore, 1))
        #expect(scorer.score(files: [file], profile: .standard, threshold: 0.95).rawScore == -1)
    }

    @Test func nullAndPerfectDetectorsScoreZeroAndHundred() throws {
        let windows: [(String, [ClosedRange<Int>])] = [
            ("a/one.csv", [30...39, 70...79]), ("a/two.csv", [50...54]), ("b/three.csv", [20...29]), ("c/none.csv", []),
        ]
        let null = try windows.map { try nabFile($0.0, scores: Array(repeating: 0.5, count: 100), windows: $0.1) }
        let perfect = try windows.map { name, ranges in
            var scores = [Double](repeating: 0, count: 100)
            for r in ranges { scores[r.lowerBound] = 1 }
            return try nabFile(name, scores: scores, windows: ranges)
        }
        let all = NABSweeper()
        for r in all.score(files: null).profiles {
            #expect(close(r.normalizedScore, 0), "\(r.profile.name)")
            #expect(r.categories.map(\.name) == ["a", "b", "c"])
            #expect(r.categories[2].normalizedScore == nil)
        }
        let report = all.score(files: perfect)
        #expect(report.windowCount == 4)
        for r in report.profiles {
            #expect(close(r.normalizedScore, 100), "\(r.profile.name)")
            #expect(close(r.rawScore, 4 * r.profile.tpWeight))
            #expect(close(r.nullScore, -4 * r.profile.fnWeight))
            #expect(r.categories.prefix(2).allSatisfy { close($0.normalizedScore, 100) })
            #expect(r.files.map(\.name) == windows.map(\.0))
        }
    }

    @Test func windowsMustMatchTimestampsAndNotOverlap() throws {
        #expect(throws: NABError.self) { try nabFile(scores: [0, 0, 0], windows: [1...5]) }
        #expect(throws: NABError.self) { try nabFile(scores: Array(repeating: 0, count: 10), windows: [1...5, 4...6]) }
        #expect(throws: NABError.self) { try nabFile(scores: [0, .nan, 0]) }
    }
}

// MARK: - Point-wise metrics

@Suite struct NABPointwiseMetrics {
    @Test func precisionRecallF1AtAThreshold() throws {
        // Scored rows 3...19: window rows 10...14. Detections on 10, 11 (TP) and 16 (FP).
        var scores = [Double](repeating: 0.1, count: 20)
        scores[10] = 0.9; scores[11] = 0.7; scores[16] = 0.8
        let file = try nabFile(scores: scores, windows: [10...14])
        let c = NABPointwise.counts(files: [file], threshold: 0.7)
        #expect(c == NABCounts(tp: 2, fp: 1, fn: 3, tn: 11))
        #expect(close(c.precision, 2.0 / 3))
        #expect(close(c.recall, 0.4))
        #expect(close(c.f1, 0.5))
        #expect(NABPointwise.counts(files: [file], threshold: 0.7, includeProbationary: true).total == 20)
    }

    @Test func labelColumnCanDefinePositives() throws {
        let t = { (i: Int64) in NABTimestamp(microseconds: i) }
        let file = try NABFile(
            name: "x.csv",
            rows: [
                NABRow(timestamp: t(0), score: 0.9, label: true), NABRow(timestamp: t(1), score: 0.9, label: false),
            ], windows: [])
        let c = NABPointwise.counts(files: [file], threshold: 0.5, positives: .labelColumn, includeProbationary: true)
        #expect(c == NABCounts(tp: 1, fp: 1, fn: 0, tn: 0))
    }

    @Test func rocAUCIsRankBasedWithTiesAveraged() {
        #expect(NABPointwise.rocAUC(scores: [0.1, 0.4, 0.35, 0.8], positives: [false, false, true, true]) == 0.75)
        #expect(NABPointwise.rocAUC(scores: [0.5, 0.5], positives: [true, false]) == 0.5)
        #expect(NABPointwise.rocAUC(scores: [0.2, 0.5, 0.5, 0.9], positives: [false, true, false, true]) == 0.875)
        #expect(NABPointwise.rocAUC(scores: [1, 2], positives: [true, true]) == nil)
    }
}

// MARK: - Loading

@Suite struct NABLoading {
    @Test func timestampsParseWithAndWithoutMicroseconds() throws {
        let a = try #require(NABTimestamp("2014-04-10 07:15:00.000000"))
        let b = try #require(NABTimestamp("2014-04-10 07:15:00"))
        #expect(a == b)
        #expect(NABTimestamp("1970-01-02 00:00:00")?.microseconds == 86_400_000_000)
        #expect(NABTimestamp("2016-02-29 23:59:59.5")?.description == "2016-02-29 23:59:59.500000")
        #expect(b.description == "2014-04-10 07:15:00")
        #expect(NABTimestamp("2014-13-10 07:15:00") == nil)
        #expect(NABTimestamp("2014-04-10 07:15") == nil)
        #expect(NABTimestamp("2014-04-10 07:15:00x") == nil)
    }

    @Test func profilesJSONDecodes() throws {
        let json =
            #"{"reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0}}, "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}}"#
        let profiles = try NABProfile.decodeProfiles(from: Data(json.utf8))
        #expect(profiles == [.standard, .rewardLowFNRate])
    }

    @Test func resultsLoadAndErrorsNameTheFileAndLine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nab-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("labels"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("data/cat"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("results/det/cat"), withIntermediateDirectories: true)
        try Data(#"{"cat/f.csv": [["2020-01-01 00:01:00.000000", "2020-01-01 00:02:00.000000"]]}"#.utf8)
            .write(to: root.appendingPathComponent("labels/combined_windows.json"))
        try Data("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:01:00,2\n2020-01-01 00:02:00,3\n".utf8)
            .write(to: root.appendingPathComponent("data/cat/f.csv"))
        let resultsFile = root.appendingPathComponent("results/det/cat/det_f.csv")
        try Data(
            "timestamp,value,anomaly_score,label\r\n2020-01-01 00:00:00,1,0.0,0\r\n2020-01-01 00:01:00,2,0.5,1\r\n2020-01-01 00:02:00,3,1.0,1\r\n"
                .utf8
        )
        .write(to: resultsFile)

        let corpus = try NABCorpus.load(nabDirectory: root)
        let files = try corpus.loadResults(directory: root.appendingPathComponent("results/det"))
        #expect(files.count == 1)
        #expect(files[0].name == "cat/f.csv")
        #expect(files[0].category == "cat")
        #expect(files[0].rows.map(\.score) == [0, 0.5, 1])
        #expect(files[0].rows.map(\.label) == [false, true, true])
        #expect(files[0].windowRanges == [1...2])

        try Data("timestamp,value,anomaly_score\n2020-01-01 00:00:00,1,0.0\n2020-01-01 00:01:00,2,abc\n".utf8).write(
            to: resultsFile)
        #expect(throws: NABError.malformedRow(file: resultsFile.path, line: 3, reason: "bad anomaly_score \"abc\"")) {
            try corpus.loadResults(directory: root.appendingPathComponent("results/det"))
        }
        try Data("timestamp,value\n2020-01-01 00:00:00,1\n".utf8).write(to: resultsFile)
        #expect(throws: NABError.missingColumn(file: resultsFile.path, column: "anomaly_score")) {
            try corpus.loadResults(directory: root.appendingPathComponent("results/det"))
        }
        try Data("timestamp,anomaly_score\n2020-01-01 00:00:00,0\n2020-01-01 00:01:30,0\n2020-01-01 00:02:00,0\n".utf8)
            .write(to: resultsFile)
        #expect(throws: NABError.self) { try corpus.loadResults(directory: root.appendingPathComponent("results/det")) }
        let missing = root.appendingPathComponent("results/other/cat/other_f.csv").path
        #expect(throws: NABError.missingFile(path: missing)) {
            try corpus.loadResults(directory: root.appendingPathComponent("results/other"))
        }
    }
}

// MARK: - Reproducing the published windowedGaussian scores

/// The NAB dataset: `$AD_NAB_DIR`, or `shared/datasets/nab` next to the repository checkout.
private enum NABDataset {
    static let directory: URL = {
        if let env = ProcessInfo.processInfo.environment["AD_NAB_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let repo = Repository.root()
        return repo.deletingLastPathComponent().appendingPathComponent("shared/datasets/nab")
    }()

    static var available: Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: directory.appendingPathComponent("labels/combined_windows.json").path)
            && fm.fileExists(atPath: directory.appendingPathComponent("reference/windowedGaussian").path)
    }
}

// Needs the NAB corpus and the published windowedGaussian results; without them this is reported as skipped.
@Suite(.enabled(if: NABDataset.available, "needs the NAB dataset (set AD_NAB_DIR or provide ../shared/datasets/nab)"))
struct NABReproduction {
    @Test func windowedGaussianMatchesThePublishedScores() throws {
        let dir = NABDataset.directory
        let clock = ContinuousClock()
        let start = clock.now
        let profiles = try NABProfile.load(contentsOf: dir.appendingPathComponent("config/profiles.json"))
        let corpus = try NABCorpus.load(nabDirectory: dir)
        let files = try corpus.loadResults(directory: dir.appendingPathComponent("reference/windowedGaussian"))
        let loaded = clock.now
        let report = NABSweeper(profiles: profiles).score(files: files)
        let end = clock.now
        print(
            "NAB windowedGaussian: load \(loaded - start), score \(end - loaded);",
            report.profiles.map { "\($0.profile.name) \(String(format: "%.2f", $0.normalizedScore ?? .nan))" })

        #expect(report.fileCount == 58)
        #expect(report.windowCount == 116)
        #expect(report.rowCount == 365_558)  // NAB's Total_Count
        #expect(report.scoredRowCount == 332_842)
        // Cross-checked with an independent rank computation in Python over the same rows.
        #expect(abs((report.rocAUC ?? 0) - 0.563190305) < 1e-8)
        // NAB's published results: final_results.json and the Totals rows (score, TP, TN, FP, FN) of
        // results/windowedGaussian/*_scores.csv.
        let published: [String: (normalized: Double, raw: Double)] = [
            "standard": (39.65, -24.0131054891),
            "reward_low_FP_rate": (20.87, -67.5862728866),
            "reward_low_FN_rate": (47.41, -67.0131054891),
        ]
        #expect(Set(report.profiles.map(\.profile.name)) == Set(published.keys))
        for r in report.profiles {
            let expected = try #require(published[r.profile.name])
            let rounded = ((r.normalizedScore ?? .nan) * 100).rounded() / 100
            #expect(
                abs(rounded - expected.normalized) <= 0.01 + 1e-9, "\(r.profile.name): \(r.normalizedScore ?? .nan)")
            #expect(abs(r.rawScore - expected.raw) < 1e-6, "\(r.profile.name): raw \(r.rawScore)")
            #expect(r.threshold == 1.0)
            #expect(r.counts == NABCounts(tp: 521, fp: 409, fn: 32_974, tn: 298_938))
            #expect(r.categories.count == 7)
        }
    }
}

@Suite struct NABTwoHalves {
    @Test func filesAlternateWithinEachCategoryByName() throws {
        let names = ["b/z.csv", "a/3.csv", "a/1.csv", "b/y.csv", "a/2.csv", "c/only.csv"]
        let files = try names.map { try fortyRows(detectingAt: [20], name: $0) }
        let (a, b) = NABHalves.split(files)
        #expect(a.map(\.name) == ["a/1.csv", "a/3.csv", "b/y.csv", "c/only.csv"])
        #expect(b.map(\.name) == ["a/2.csv", "b/z.csv"])
    }

    @Test func eachHalfIsScoredAtItsOwnThresholdAndAtTheOthers() throws {
        // Half A (x1, x3) has its windows caught by scores of 0.9; half B (x2) only at 0.5, with a false alarm at 0.7
        // before its window. A's optimiser picks 0.9, which misses B's window; B's picks 0.5.
        var bScores = [Double](repeating: 0, count: 40)
        bScores[10] = 0.7; bScores[20] = 0.5
        let files = [
            try fortyRows(detectingAt: [], name: "cat/x1.csv").withScores(at: [20: 0.9]),
            try nabFile("cat/x2.csv", scores: bScores, windows: [20...24]),
            try fortyRows(detectingAt: [], name: "cat/x3.csv").withScores(at: [20: 0.9]),
        ]
        let sweeper = NABSweeper(profiles: [.standard])
        let halves = try #require(NABHalves(files: files, sweeper: sweeper))
        let (a, b) = (halves.halves[0].profiles[0], halves.halves[1].profiles[0])
        #expect(halves.halves.map(\.files) == [["cat/x1.csv", "cat/x3.csv"], ["cat/x2.csv"]])
        #expect(a.threshold == 0.9 && b.threshold == 0.5)
        #expect(a.normalizedScore.map { close($0, 100) } == true)
        // A at B's threshold (0.5) still catches both windows at their start: the same score.
        #expect(a.atOtherThreshold.map { close($0, 100) } == true)
        // B at A's threshold (0.9) catches nothing: its null-level score or below, well under its own.
        let own = try #require(b.normalizedScore), other = try #require(b.atOtherThreshold)
        #expect(other < own - 10)
        #expect(sweeper.score(files: [files[1]], profile: .standard, threshold: 0.9).normalizedScore == other)
    }

    @Test func oneFileHasNoHalves() throws {
        #expect(NABHalves(files: [try fortyRows(detectingAt: [20])], sweeper: NABSweeper()) == nil)
    }
}

extension NABFile {
    /// The same file with these rows' scores replaced.
    fileprivate func withScores(at scores: [Int: Double]) throws -> NABFile {
        let rows = self.rows.enumerated().map { i, r in NABRow(timestamp: r.timestamp, score: scores[i] ?? r.score) }
        return try NABFile(name: name, rows: rows, windows: windows)
    }
}
