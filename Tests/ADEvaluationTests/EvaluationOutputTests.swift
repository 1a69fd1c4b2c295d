import ADCore
import Foundation
import Testing

@testable import ADEvaluation

#if canImport(FoundationXML)
    import FoundationXML
#endif

private func series(
    _ times: [String], _ values: [[Double?]], metrics: [String] = ["value"], labels: [Bool]? = nil
) -> EvaluationSeries {
    EvaluationSeries(
        path: "cat/f.csv", timeColumn: "timestamp", timeText: times,
        micros: times.map { EvaluationTime.parse($0)! }, metrics: metrics, values: values,
        labelColumn: labels == nil ? nil : "label", labels: labels)
}

/// Whether `text` is well-formed XML (FoundationXML's parser), with the parser's complaint otherwise.
private func wellFormed(_ text: String) -> (Bool, String) {
    let parser = XMLParser(data: Data(text.utf8))
    let ok = parser.parse()
    return (ok, String(describing: parser.parserError))
}

@Suite struct EvaluationResultsFiles {
    @Test func nabLayoutPrintsTimeAndValueAsGiven() {
        var s = series(["2014-04-10 07:15:00", "2014-04-10 07:20:00"], [[1, 2.5]])
        s.valueText = [["1.000", "2.5"]]
        let text = EvaluationResults.nabCSV(s, scores: [0, 0.75], inWindow: [false, true])
        #expect(
            text
                == "timestamp,value,anomaly_score,label\n2014-04-10 07:15:00,1.000,0.0,0\n2014-04-10 07:20:00,2.5,0.75,1\n"
        )
    }

    @Test func genericLayoutQuotesWhereNeededAndKeepsGaps() {
        var s = series(["1", "2"], [[1, nil], [nil, 3]], metrics: ["cpu", "mem, \"MB\""], labels: [false, true])
        s.timeColumn = "time"
        let text = EvaluationResults.csv(s, scores: [0.5, 1])
        #expect(text == "time,cpu,\"mem, \"\"MB\"\"\",anomaly_score,label\n1,1.0,,0.5,0\n2,,3.0,1.0,1\n")
    }

    @Test func scoresReadBackExactly() {
        for x in [0.0, 1, 0.999_999_999_712, 1e-300, 0.1 + 0.2] { #expect(Double(EvaluationResults.score(x)) == x) }
    }
}

@Suite struct EvaluationPlots {
    func plot(
        title: String = "cat/f.csv", rows: Int = 100, windows: [ClosedRange<Int>] = [40...50], threshold: Double? = 0.9
    ) -> EvaluationPlot {
        let micros = (0..<rows).map { Int64($0) * 300_000_000 + 1_577_836_800_000_000 }
        var values: [Double?] = (0..<rows).map { sin(Double($0) / 5) }
        values[3] = nil
        let scores = (0..<rows).map { $0 == 45 ? 0.99 : 0.1 }
        return EvaluationPlot(
            title: title, micros: micros, lines: [.init(name: "value", values: values)], scores: scores,
            windows: windows, threshold: threshold, thresholdLabel: "threshold 0.9", probation: 15,
            probationLabel: "probationary period")
    }

    @Test func isWellFormedWithWindowsThresholdAndFlags() {
        let svg = plot(windows: [10...12, 40...50]).svg()
        let (ok, problem) = wellFormed(svg)
        #expect(ok, "\(problem)")
        #expect(svg.components(separatedBy: "class=\"window\"").count - 1 == 4)  // two windows, two panels each
        #expect(svg.components(separatedBy: "class=\"probation\"").count - 1 == 2)
        #expect(svg.contains("class=\"threshold\""))
        #expect(svg.contains("stroke-dasharray"))
        #expect(svg.components(separatedBy: "class=\"flag\"").count - 1 == 2)  // row 45, on both panels
        #expect(svg.contains(">2020-01-01 00:00<") || svg.contains(">01-01 00:00<"))
    }

    @Test func escapesNames() {
        let svg = plot(title: "a<b>&\"c\"'.csv").svg()
        #expect(wellFormed(svg).0)
        #expect(svg.contains("a&lt;b&gt;&amp;&quot;c&quot;&apos;.csv"))
        #expect(!svg.contains("a<b>"))
        #expect(EvaluationPlot.escape("x\u{1}y") == "x?y")
    }

    @Test func noThresholdLineAboveOne() {
        let svg = plot(threshold: 1.1).svg()
        #expect(wellFormed(svg).0)
        #expect(!svg.contains("class=\"threshold\""))
        #expect(!svg.contains("class=\"flag\""))
    }

    @Test func downsamplingKeepsASpikeAndTheLimit() {
        var values = [Double](repeating: 0, count: 100_000)
        values[54_321] = 1000
        let kept = EvaluationPlot.downsample(count: values.count, maxPoints: 2000) { values[$0] }
        #expect(kept.count <= 2000)
        #expect(kept.contains(54_321))
        #expect(kept == kept.sorted())
        #expect(EvaluationPlot.downsample(count: 5, maxPoints: 2000) { $0 == 2 ? nil : Double($0) } == [0, 1, 3, 4])
    }

    @Test func labelRunsBecomeBands() {
        #expect(Evaluation.runs([false, true, true, false, true]) == [1...2, 4...4])
        #expect(Evaluation.runs([]) == [])
    }
}

@Suite struct EvaluationSummaries {
    func nabSummary() throws -> EvaluationSummary {
        var scores = [Double](repeating: 0.1, count: 40)
        scores[20] = 0.95
        let base = NABTimestamp("2020-01-01 00:00:00")!.microseconds
        let rows = scores.enumerated().map {
            NABRow(timestamp: NABTimestamp(microseconds: base + Int64($0.offset) * 60_000_000), score: $0.element)
        }
        let file = try NABFile(
            name: "cat/f.csv", rows: rows, windows: [NABWindow(start: rows[20].timestamp, end: rows[24].timestamp)])
        let report = NABSweeper().score(files: [file])
        return EvaluationSummary(
            layout: "nab", input: "/nab", output: "/out", engine: "db", engineSettings: [("batch_size", .number(5000))],
            configGiven: .object([]), config: .defaults,
            files: [.init(path: "cat/f.csv", rows: 40, shiftedRows: 0, flagged: 0)], rowCount: 40, wallSeconds: 1.5,
            phases: [EvaluationPhase(name: "COPY", seconds: 0.25, detail: "40 points")], nab: report, labelColumn: nil,
            overall: nil, plots: ["plots/cat__f.svg"])
    }

    @Test func jsonCarriesProfilesScoreboardConfigAndTimes() throws {
        let json = try nabSummary().json
        #expect(json["layout"] == .string("nab"))
        #expect(json["engine"] == .string("db"))
        #expect(json["config"] == SourceConfig.defaults.json)
        #expect(json["rows"] == .number(40))
        guard case .array(let profiles)? = json["nab"]?["profiles"] else { Issue.record("no profiles"); return }
        #expect(profiles.map { $0["name"] } == NABProfile.nabProfiles.map { .string($0.name) })
        #expect(profiles[0]["normalized_score"] == .number(100))
        #expect(profiles[0]["threshold"] == .number(0.95))
        #expect(profiles[0]["tp"] == .number(1))
        guard case .array(let published)? = json["nab"]?["published"] else { Issue.record("no scoreboard"); return }
        #expect(published.count == NABScoreboard.published.count)
        guard case .array(let phases)? = json["phases"] else { Issue.record("no phases"); return }
        #expect(phases.first?["seconds"] == .number(0.25))
        // It is JSON.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(json.render().utf8)) != .null)
    }

    @Test func reportRanksOursAmongThePublishedAndLinksPlots() throws {
        let s = try nabSummary()
        let md = s.markdown
        #expect(md.contains("| **adworker (db)** | 100.00 | 100.00 | 100.00 |"))
        #expect(md.contains("| ARTime | 74.90 | 65.10 | 80.40 |"))
        #expect(md.range(of: "adworker (db)")!.lowerBound < md.range(of: "ARTime")!.lowerBound)
        #expect(md.contains("- [plots/cat__f.svg](plots/cat__f.svg)"))
        #expect(md.contains("| COPY | 0.25 | 40 points |"))
        #expect(s.terminal.contains("standard"))
        #expect(s.terminal.contains("ARTime 74.90"))
        #expect(EvaluationSummary.link("plots/a b(1).svg") == "plots/a%20b%281%29.svg")
    }

    @Test func thePublishedScoreboardIsNABs() {
        #expect(
            NABScoreboard.published.map(\.detector) == [
                "ARTime", "Numenta HTM", "CAD OSE", "Random Cut Forest",
                "Twitter ADVec", "windowedGaussian",
            ])
        #expect(NABScoreboard.published.last?.score(profile: "reward_low_FP_rate") == 20.87)
        #expect(NABScoreboard.published.first?.score(profile: "nonesuch") == nil)
    }
}

/// An engine that gives each row a score computed from its series (no database): the figures' arithmetic alone.
private struct FixedEngine: EvaluationEngine {
    var name: String { "fixed" }
    var score: @Sendable (EvaluationSeries) -> [Double]
    func score(_ series: [EvaluationSeries], config: SourceConfig) async throws -> [[Double]] { series.map(score) }
}

@Suite struct EvaluationPointwiseFigures {
    static let a = series(
        ["1", "2", "3", "4", "5", "6"], [[1, 2, 3, 4, 5, 6]], labels: [true, true, false, true, true, false])
    static let aScores = [0.9, 0.9, 0.1, 0.5, 0.9, 0.2]
    static let b = series(["1", "2", "3", "4", "5"], [[1, 2, 3, 4, 5]], labels: [false, false, false, true, false])
    static let bScores = [0.0, 0.0, 0.6, 0.3, 0.7]

    @Test func overAllFilesConcatenatedAfterTheTrainRows() throws {
        let (files, overall) = Evaluation.pointwise(
            [Self.a, Self.b], [Self.aScores, Self.bScores], threshold: 0.45, trainRows: 2)
        #expect(files.map(\.rows) == [6, 5])
        #expect(files.map(\.evaluatedRows) == [4, 3])
        #expect(files.map(\.flagged) == [2, 2])
        // The train rows (two true positives in the first file) count nowhere.
        #expect(files[0].counts == NABCounts(tp: 2, fp: 0, fn: 0, tn: 2))
        #expect(files[1].counts == NABCounts(tp: 0, fp: 2, fn: 1, tn: 0))
        #expect(files[0].rocAUC == 1)
        #expect(files[1].rocAUC == 0)
        let all = try #require(overall)
        let c = try #require(all.counts)
        #expect(c == NABCounts(tp: 2, fp: 2, fn: 1, tn: 2))
        #expect(all.rows == 11)
        #expect(all.evaluatedRows == 7)
        #expect(all.flagged == 4)
        #expect(c.precision == 0.5)
        #expect(abs(c.recall! - 2.0 / 3) < 1e-12)
        #expect(abs(c.f1! - 4.0 / 7) < 1e-12)  // 2 TP / (2 TP + FP + FN), as SKAB computes it
        #expect(c.falseAlarmRate == 0.5)
        #expect(abs(c.missedAlarmRate! - 1.0 / 3) < 1e-12)
        // Evaluated rows of both files ranked together: 8 of the 12 (positive, negative) pairs are ordered right.
        #expect(abs(all.rocAUC! - 8.0 / 12) < 1e-12)

        let (whole, wholeOverall) = Evaluation.pointwise(
            [Self.a, Self.b], [Self.aScores, Self.bScores], threshold: 0.45, trainRows: 0)
        #expect(whole[0].counts == NABCounts(tp: 4, fp: 0, fn: 0, tn: 2))
        #expect(wholeOverall?.evaluatedRows == 11)
    }

    @Test func ratesAreNilWithoutTheirDenominator() {
        #expect(NABCounts(tp: 3, fp: 0, fn: 1, tn: 0).falseAlarmRate == nil)
        #expect(NABCounts(tp: 0, fp: 1, fn: 0, tn: 3).missedAlarmRate == nil)
        #expect(NABCounts(tp: 0, fp: 1, fn: 0, tn: 3).falseAlarmRate == 0.25)
        #expect(NABCounts(tp: 1, fp: 0, fn: 3, tn: 0).missedAlarmRate == 0.75)
    }

    @Test func unlabelledFilesHaveNoOverallFigures() {
        var plain = Self.a
        plain.labels = nil
        let (files, overall) = Evaluation.pointwise([plain], [Self.aScores], threshold: 0.45, trainRows: 3)
        #expect(overall == nil)
        #expect(files[0].flagged == 2)
        #expect(files[0].counts == nil)
    }

    @Test func summaryAndReportCarryFARMARAndTheTrainPart() throws {
        let (files, overall) = Evaluation.pointwise(
            [Self.a, Self.b], [Self.aScores, Self.bScores], threshold: 0.45, trainRows: 2)
        let s = EvaluationSummary(
            layout: "csv", input: "/in", output: "/out", engine: "fixed", engineSettings: [],
            configGiven: .object([]), config: .defaults, files: files, rowCount: 11, wallSeconds: 1,
            phases: [], nab: nil, labelColumn: "anomaly", overall: overall, plots: [], trainRows: 2)
        let json = s.json
        #expect(json["train_rows"] == .number(2))
        #expect(json["pointwise"]?["train_rows"] == .number(2))
        #expect(json["pointwise"]?["threshold"] == .number(SourceConfig.defaults.thresholds.low))
        let all = try #require(json["pointwise"]?["overall"])
        #expect(all["tp"] == .number(2))
        #expect(all["far"] == .number(0.5))
        #expect(all["mar"] == .rounded(1.0 / 3))
        #expect(all["f1"] == .rounded(4.0 / 7))
        #expect(all["evaluated_rows"] == .number(7))
        guard case .array(let perFile)? = json["file_results"] else { Issue.record("no file results"); return }
        #expect(perFile.map { $0["evaluated_rows"] } == [.number(4), .number(3)])
        #expect(perFile[1]["far"] == .number(1))
        #expect(perFile[1]["mar"] == .number(1))
        let md = s.markdown
        #expect(md.contains("The first 2 rows of each file (`--train-rows`) are its train part"))
        #expect(md.contains("| F1 | FAR % | MAR % | ROC AUC |"))
        #expect(
            md.contains(
                "| **all files** | 11 | 7 | 2 | 2 | 1 | 2 | 0.5000 | 0.6667 | 0.5714 | 50.00 | 33.33 | 0.6667 |"))
        #expect(
            md.contains("| cat/f.csv | 5 | 3 | 0 | 2 | 1 | 0 | 0.0000 | 0.0000 | 0.0000 | 100.00 | 100.00 | 0.0000 |"))
        #expect(s.terminal.contains("(after each file's first 2 rows)"))
        #expect(s.terminal.contains("F1 0.5714, FAR 50.00 %, MAR 33.33 %; ROC AUC 0.6667"))
        // Without --train-rows nothing is said about a train part.
        let plain = EvaluationSummary(
            layout: "csv", input: "/in", output: "/out", engine: "fixed", engineSettings: [],
            configGiven: .object([]), config: .defaults, files: files, rowCount: 11, wallSeconds: 1,
            phases: [], nab: nil, labelColumn: "anomaly", overall: overall, plots: [])
        #expect(plain.json["train_rows"] == .null)
        #expect(!plain.markdown.contains("train part"))
    }

    /// A SKAB-shaped tree (`;`, labels 0.0/1.0, a `changepoint` column to ignore) through `Evaluation.run`.
    @Test func aSKABShapedTreeEndToEndWithoutADatabase() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("skab-shaped-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("in/valve1")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        var text = "datetime;Accelerometer1RMS;Current;anomaly;changepoint\n"
        for i in 0..<10 {
            text += "2020-03-09 10:14:\(10 + i);0.02\(i);1.3\(i);\(i >= 6 ? "1.0" : "0.0");\(i == 6 ? "1.0" : "0.0")\n"
        }
        try Data(text.utf8).write(to: input.appendingPathComponent("0.csv"))
        let options = EvaluationCSVOptions(
            timeColumn: "datetime", labelColumn: "anomaly", ignoredColumns: ["changepoint"], separator: 59)
        let corpus = try EvaluationInput.loadCSV(directory: root.appendingPathComponent("in"), options: options)
        #expect(corpus.series[0].metrics == ["Accelerometer1RMS", "Current"])
        // Rows 0-3 train; the engine flags rows 5-9 (one false alarm at row 5, then every anomalous row).
        let engine = FixedEngine { s in s.lines.indices.map { $0 >= 5 ? 0.9 : 0.1 } }
        let out = root.appendingPathComponent("out")
        let summary = try await Evaluation(
            corpus: corpus, output: out, configGiven: .object([]), config: .defaults, trainRows: 4
        ).run(engine: engine, phases: EvaluationPhases(), started: .now)
        #expect(summary.overall?.counts == NABCounts(tp: 4, fp: 1, fn: 0, tn: 1))
        let json = try JSONDecoder().decode(
            JSONValue.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        #expect(json["pointwise"]?["overall"]?["far"] == .number(0.5))
        #expect(json["pointwise"]?["overall"]?["mar"] == .number(0))
        #expect(json["pointwise"]?["train_rows"] == .number(4))

        // A file without a row after its train part is refused before anything is scored or written.
        let short = Evaluation(
            corpus: corpus, output: root.appendingPathComponent("out2"), configGiven: .object([]), config: .defaults,
            trainRows: 10)
        #expect(
            throws: EvaluationInputError(
                .tooFewRows, file: root.appendingPathComponent("in/valve1/0.csv").path,
                "has 10 rows: --train-rows 10 leaves none to evaluate")
        ) {
            try short.checkTrainRows()
        }
        await #expect(throws: EvaluationInputError.self) {
            _ = try await short.run(engine: engine, phases: EvaluationPhases(), started: .now)
        }
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("out2").path))
    }
}
