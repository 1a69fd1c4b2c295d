import ADCore
import ADTestSupport
import Foundation
import Testing

@testable import ADEvaluation

private func parse(_ text: String, _ options: EvaluationCSVOptions = .init(timeColumn: "t")) throws -> EvaluationSeries
{
    try EvaluationCSV.parse(Data(text.utf8), path: "dir/f.csv", file: "/in/dir/f.csv", options: options)
}

/// The error `text` is refused with, or nil when it is accepted.
private func refusal(_ text: String, _ options: EvaluationCSVOptions = .init(timeColumn: "t")) -> EvaluationInputError?
{
    do {
        _ = try parse(text, options)
        return nil
    } catch let e as EvaluationInputError {
        return e
    } catch {
        Issue.record("unexpected \(error)")
        return nil
    }
}

@Suite struct EvaluationTimesParse {
    @Test(
        arguments: [
            ("1970-01-01 00:00:00", 0),
            ("1970-01-01T00:00:01", 1_000_000),
            ("2020-02-29 12:00:00", 1_582_977_600_000_000),
            ("2020-02-29 12:00:00Z", 1_582_977_600_000_000),
            ("2020-02-29 14:30:00+02:30", 1_582_977_600_000_000),
            ("2020-02-29 07:00:00-05:00", 1_582_977_600_000_000),
            ("2020-02-29 12:00:00.5", 1_582_977_600_500_000),
            ("2020-02-29 12:00:00.1234569", 1_582_977_600_123_456),
            ("1582977600", 1_582_977_600_000_000),
            ("1582977600.25", 1_582_977_600_250_000),
            ("-1.5", -1_500_000),
            ("0", 0),
        ] as [(String, Int64)])
    func accepted(text: String, micros: Int64) {
        #expect(EvaluationTime.parse(text) == micros)
    }

    @Test(arguments: [
        "", "2021-02-29 00:00:00", "2020-13-01 00:00:00", "2020-01-01 24:00:00", "2020-01-01 00:00:60",
        "2020-01-01 00:00", "2020-01-01 00:00:00 UTC", "2020-01-01 00:00:00+0200", "2020-01-01 00:00:00.",
        "12:00:00", "1e9", ".", "-", "1582977600x", "99999999999999", "01/02/2020 00:00:00",
    ])
    func refused(text: String) {
        #expect(EvaluationTime.parse(text) == nil)
    }
}

@Suite struct EvaluationCSVReads {
    @Test func multivariateWithGapsQuotesLabelsAndUntidyLines() throws {
        let text =
            "\u{FEFF}\"t\", cpu ,\"mem, MB\",label\r\n"
            + "2020-01-01 00:00:00,1.5,,0\r\n"
            + "\r\n"
            + "2020-01-01 00:01:00,,7,1\r\n"
            + "2020-01-01 00:02:00,2e1,\"8\",0\r\n"
        let s = try parse(text, .init(timeColumn: "t", labelColumn: "label"))
        #expect(s.path == "dir/f.csv")
        #expect(s.category == "dir")
        #expect(s.timeColumn == "t")
        #expect(s.metrics == ["cpu", "mem, MB"])
        #expect(s.count == 3)
        #expect(s.lines == [2, 4, 5])
        #expect(s.timeText == ["2020-01-01 00:00:00", "2020-01-01 00:01:00", "2020-01-01 00:02:00"])
        #expect(s.values[0] == [1.5, nil, 20])
        #expect(s.values[1] == [nil, 7, 8])
        #expect(s.valueText[0] == ["1.5", "", "2e1"])
        #expect(s.labels == [false, true, false])
        #expect(s.storageMicros == s.micros)
        #expect(s.shiftedRows == 0)
        // An absent metric is left out of the point's values.
        #expect(s.valuesJSON(row: 0) == #"{"cpu":1.5}"#)
        #expect(s.valuesJSON(row: 1) == #"{"mem, MB":7}"#)
        #expect(s.valuesJSON(row: 2) == #"{"cpu":20,"mem, MB":8}"#)
    }

    @Test func otherSeparatorsAndCaseInsensitiveColumns() throws {
        let s = try parse(
            "Time\tx\n1\t2\n", .init(timeColumn: "time", separator: EvaluationCSVOptions.separator("tab")!))
        #expect(s.values == [[2]])
        #expect(s.micros == [1_000_000])
        #expect(EvaluationCSVOptions.separator(";") == 59)
        #expect(EvaluationCSVOptions.separator("\\t") == 9)
        #expect(EvaluationCSVOptions.separator("\"") == nil)
        #expect(EvaluationCSVOptions.separator(";;") == nil)
    }

    @Test(
        arguments: [
            // (input, code, line, message)
            ("", EvaluationInputError.Code.emptyFile, nil, "is empty: expected a header line naming the columns"),
            ("t,x\n", .emptyFile, nil, "has a header but no data rows"),
            (
                "t;x\n1;2\n", .badHeader, 1,
                "the header \"t;x\" has one column with separator \",\"; it contains a semicolon: pass --separator ';'"
            ),
            (
                "t\n1\n", .badHeader, 1,
                "the header \"t\" has one column with separator \",\"; a time column and at least one metric column are needed"
            ),
            ("t,x,x\n", .badHeader, 1, "column \"x\" appears twice in the header"),
            ("t,,x\n", .badHeader, 1, "column 2 of the header has no name"),
            ("time,x\n1,2\n", .missingColumn, 1, "no time column \"t\" in the header (columns: \"time\", \"x\")"),
            ("t,x\n1,2,3\n", .badRow, 2, "3 fields with separator \",\", but the header has 2"),
            (
                "t,x\n1,\"2\n", .badRow, 2,
                "a quoted field is not closed on this line (line breaks inside fields are not supported)"
            ),
            ("t,x\n1,\"2\"3\n", .badRow, 2, "text after the closing quote of field 2"),
            (
                "t,x\n1,2\n2020-02-30 00:00:00,3\n", .badTime, 3,
                "column \"t\": \"2020-02-30 00:00:00\" is not a time; expected \(EvaluationTime.formats)"
            ),
            ("t,x\n,2\n", .badTime, 2, "column \"t\": an empty time; expected \(EvaluationTime.formats)"),
            ("t,x\n1,2\n2,abc\n", .badValue, 3, "column \"x\": \"abc\" is not a finite number"),
            ("t,x\n1,nan\n", .badValue, 2, "column \"x\": \"nan\" is not a finite number"),
            ("t,x\n1,1e999\n", .badValue, 2, "column \"x\": \"1e999\" is not a finite number"),
            (
                "t,x,y\n1,,\n", .badValue, 2,
                "no metric has a value (every metric cell is empty); remove the row or fill a cell"
            ),
            ("t,x\n1,2\n\n1,3\n", .repeatedTime, 4, "time \"1\" repeats the time of line 2"),
            ("t,x\n5,2\n4,3\n", .repeatedTime, 3, "time \"4\" is earlier than line 2 (5); rows must be in time order"),
        ] as [(String, EvaluationInputError.Code, Int?, String)])
    func refusesNamingFileAndLine(text: String, code: EvaluationInputError.Code, line: Int?, message: String) {
        let e = refusal(text)
        #expect(e == EvaluationInputError(code, file: "/in/dir/f.csv", line: line, message), "\(String(describing: e))")
    }

    @Test func labelsMustBeZeroOrOne() {
        let options = EvaluationCSVOptions(timeColumn: "t", labelColumn: "y")
        #expect(
            refusal("t,x,y\n1,2,1\n2,3,yes\n", options)
                == EvaluationInputError(
                    .badLabel, file: "/in/dir/f.csv", line: 3,
                    "column \"y\": the label must be 0 or 1 (also accepted: 0.0/1.0, false/true), got \"yes\""))
        #expect(refusal("t,x,y\n1,2,\n", options)?.code == .badLabel)
        for bad in ["0.5", "2", "-1", "1.00", "0.", ".0", "1e0", "t", "f", "yes", "no", "on", "truth", "\"\"", "nan"] {
            let e = refusal("t,x,y\n1,2,0\n2,3,\(bad)\n", options)
            #expect(e?.code == .badLabel, "\(bad)")
            #expect(e?.line == 3, "\(bad)")
        }
        #expect(
            refusal("t,x\n1,2\n", options)
                == EvaluationInputError(
                    .missingColumn, file: "/in/dir/f.csv", line: 1,
                    "no label column \"y\" in the header (columns: \"t\", \"x\")"))
        #expect(refusal("t,y\n1,1\n", options)?.message == "no metric column besides the time and label columns")
        #expect(refusal("t,x\n1,2\n", .init(timeColumn: "t", labelColumn: "t"))?.code == .badHeader)
    }

    /// SKAB writes its `anomaly` column as 0.0/1.0; other corpora write true/false. Refused before issue 19.
    @Test func labelsWrittenAsFloatsOrBooleansAreRead() throws {
        let options = EvaluationCSVOptions(timeColumn: "t", labelColumn: "anomaly")
        let s = try parse(
            "t,x,anomaly\n1,2,0.0\n2,3,1.0\n3,4,true\n4,5,FALSE\n5,6,True\n6,7,0\n7,8,1\n8,9,\"1.0\"\n", options)
        #expect(s.labels == [false, true, true, false, true, false, true, true])
        #expect(s.metrics == ["x"])
        for (cell, label) in [
            ("0", false), ("0.0", false), ("false", false), ("1", true), ("1.0", true), ("TRUE", true),
        ] {
            #expect(EvaluationCSV.label(cell) == label, "\(cell)")
        }
    }

    @Test func ignoredColumnsAreNeitherMetricsNorRead() throws {
        // SKAB's layout: datetime;metrics...;anomaly;changepoint.
        let options = EvaluationCSVOptions(
            timeColumn: "datetime", labelColumn: "anomaly", ignoredColumns: ["changepoint"], separator: 59)
        let s = try parse(
            "datetime;A1;Current;anomaly;changepoint\n"
                + "2020-03-09 10:14:33;0.0265878;1.3302;0.0;0.0\n"
                + "2020-03-09 10:14:34;0.0261697;1.35399;1.0;not a number\n", options)
        #expect(s.metrics == ["A1", "Current"])
        #expect(s.values == [[0.0265878, 0.0261697], [1.3302, 1.35399]])
        #expect(s.labels == [false, true])
        #expect(s.valuesJSON(row: 0) == #"{"A1":0.0265878,"Current":1.3302}"#)
        // Matched like the time column: exactly, else case-insensitively; repeated names are harmless.
        let folded = try parse(
            "t,x,Note,y\n1,2,a,3\n", .init(timeColumn: "t", ignoredColumns: ["note", "note", "y"]))
        #expect(folded.metrics == ["x"])
    }

    @Test func ignoredColumnsMustExistAndLeaveAMetric() {
        #expect(
            refusal("t,x\n1,2\n", .init(timeColumn: "t", ignoredColumns: ["changepoint"]))
                == EvaluationInputError(
                    .missingColumn, file: "/in/dir/f.csv", line: 1,
                    "no column \"changepoint\" to ignore in the header (columns: \"t\", \"x\")"))
        #expect(
            refusal("t,x\n1,2\n", .init(timeColumn: "t", ignoredColumns: ["T"]))
                == EvaluationInputError(
                    .badHeader, file: "/in/dir/f.csv", line: 1, "the ignored column \"t\" is the time column"))
        #expect(
            refusal("t,x,y\n1,2,0\n", .init(timeColumn: "t", labelColumn: "y", ignoredColumns: ["y"]))?.message
                == "the ignored column \"y\" is the label column")
        #expect(
            refusal("t,x,y,c\n1,2,0,0\n", .init(timeColumn: "t", labelColumn: "y", ignoredColumns: ["x", "c"]))?
                .message == "no metric column besides the time, label and ignored columns")
        #expect(
            refusal("t,x\n1,2\n", .init(timeColumn: "t", ignoredColumns: ["x"]))?.message
                == "no metric column besides the time and ignored columns")
        #expect(refusal("t,x\n1,2\n")?.message == nil)
        #expect(refusal("t\n1\n")?.code == .badHeader)
    }

    @Test func theErrorReadsAsFileLineMessage() {
        #expect(
            EvaluationInputError(.badValue, file: "a/b.csv", line: 7, "column \"x\": \"abc\" is not a finite number")
                .description
                == "a/b.csv:7: column \"x\": \"abc\" is not a finite number")
        #expect(
            EvaluationInputError(.emptyFile, file: "a/b.csv", "has a header but no data rows").description
                == "a/b.csv: has a header but no data rows")
    }

    @Test func repeatedTimesAreShiftedInFileOrderWhenAllowed() throws {
        let options = EvaluationCSVOptions(timeColumn: "t", repeatedTimestamps: .shift)
        let s = try parse("t,x\n10,1\n10,2\n10,3\n5,4\n20,5\n", options)
        #expect(s.micros == [10_000_000, 10_000_000, 10_000_000, 5_000_000, 20_000_000])
        #expect(s.storageMicros == [10_000_000, 10_000_001, 10_000_002, 10_000_003, 20_000_000])
        #expect(s.shiftedRows == 3)
        #expect(s.timeText == ["10", "10", "10", "5", "20"])
    }
}

@Suite struct EvaluationInputRefusesBadBytes {
    @Test func notUTF8() {
        do {
            _ = try EvaluationCSV.parse(
                Data([0x74, 0x2C, 0x78, 0x0A, 0x31, 0x2C, 0xFF, 0x0A]), path: "f.csv", file: "/f.csv",
                options: .init(timeColumn: "t"))
            Issue.record("accepted")
        } catch let e as EvaluationInputError {
            #expect(e == EvaluationInputError(.unreadable, file: "/f.csv", "is not UTF-8 text"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct EvaluationCorporaLoad {
    @Test func nabTreeWithWindowsAndDefaultProfiles() throws {
        let root = EvaluationTrees.temporaryDirectory("nab")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeNAB(at: root)
        let corpus = try EvaluationInput.loadNAB(directory: root)
        #expect(corpus.series.map(\.path) == ["catA/spike.csv", "catB/flat.csv"])
        #expect(corpus.series.map(\.category) == ["catA", "catB"])
        #expect(corpus.series.map(\.metrics) == [["value"], ["value"]])
        #expect(corpus.rowCount == 700)
        guard case .nab(let windows, let profiles) = corpus.layout else { Issue.record("not NAB"); return }
        #expect(profiles == NABProfile.nabProfiles)
        let file = try EvaluationInput.nabFile(
            corpus.series[0], scores: Array(repeating: 0, count: 400), windows: windows["catA/spike.csv"]!)
        #expect(file.windowRanges == [EvaluationTrees.spikeWindow])
    }

    @Test func nabLabelsMustMatchTheData() throws {
        let root = EvaluationTrees.temporaryDirectory("nab-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeNAB(at: root)
        let labels = root.appendingPathComponent("labels/combined_windows.json")
        func refusal() -> EvaluationInputError? {
            do { _ = try EvaluationInput.loadNAB(directory: root); return nil } catch {
                return error as? EvaluationInputError
            }
        }
        try EvaluationTrees.write(
            #"{"catA/spike.csv": [["2020-01-01 00:02:00", "2020-01-01 01:00:00"]], "catB/flat.csv": []}"#, labels)
        #expect(
            refusal()
                == EvaluationInputError(
                    .badLabels, file: root.appendingPathComponent("data/catA/spike.csv").path,
                    "NAB: catA/spike.csv: window bound 2020-01-01 00:02:00 is not a timestamp of the file"))
        try EvaluationTrees.write(#"{"catA/spike.csv": []}"#, labels)
        #expect(refusal()?.message == "has no entry for catB/flat.csv (NAB lists every data file, with [] for none)")
        try EvaluationTrees.write(#"{"catA/spike.csv": [], "catB/flat.csv": [], "catC/gone.csv": []}"#, labels)
        #expect(refusal()?.message.hasPrefix("has windows for catC/gone.csv, but ") == true)
        try EvaluationTrees.write(#"{"catA/spike.csv": [["x"]]}"#, labels)
        #expect(refusal()?.code == .badLabels)
        try FileManager.default.removeItem(at: labels)
        #expect(refusal() == EvaluationInputError(.missingInput, file: labels.path, "does not exist"))
    }

    @Test func nabRepeatedTimestampsCanBeRefused() throws {
        let root = EvaluationTrees.temporaryDirectory("nab-rep")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeNAB(at: root)
        try EvaluationTrees.write(
            "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:00:00,2\n",
            root.appendingPathComponent("data/catB/flat.csv"))
        let shifted = try EvaluationInput.loadNAB(directory: root)
        #expect(shifted.series[1].shiftedRows == 1)
        #expect(
            throws: EvaluationInputError(
                .repeatedTime, file: root.appendingPathComponent("data/catB/flat.csv").path, line: 3,
                "time \"2020-01-01 00:00:00\" repeats the time of line 2")
        ) {
            try EvaluationInput.loadNAB(directory: root, repeatedTimestamps: .reject)
        }
    }

    @Test func csvTreeSkipsHiddenFilesAndSorts() throws {
        let root = EvaluationTrees.temporaryDirectory("csv")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeCSV(at: root)
        let corpus = try EvaluationInput.loadCSV(
            directory: root,
            options: .init(
                timeColumn: "time", labelColumn: "is_anomaly",
                separator: 59))
        #expect(corpus.series.map(\.path) == ["db.csv", "hosts/web-1.csv"])
        #expect(corpus.series[1].metrics == ["cpu", "lat \"ms\""])
        #expect(corpus.series[1].values[1][0] == nil)
        #expect(
            corpus.series[1].labels?.indices.filter { corpus.series[1].labels![$0] }
                == Array(EvaluationTrees.csvAnomalies))
        #expect(corpus.isLabelled)
        let empty = EvaluationTrees.temporaryDirectory("csv-empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: EvaluationInputError(.missingInput, file: empty.path, "holds no .csv file")) {
            try EvaluationInput.loadCSV(directory: empty, options: .init(timeColumn: "time"))
        }
    }
}
