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
