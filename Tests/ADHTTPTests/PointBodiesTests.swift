import ADPostgres
import Testing

@testable import ADHTTP

/// The framing of ingest bodies; the points themselves are checked by the database (APIFlowTests).
@Suite struct PointBodiesTests {
    @Test func contentTypesNameTheirFormats() {
        #expect(PointBodies.format(contentType: nil) == .json)
        #expect(PointBodies.format(contentType: "application/json; charset=utf-8") == .json)
        #expect(PointBodies.format(contentType: "application/x-ndjson") == .ndjson)
        #expect(PointBodies.format(contentType: "TEXT/CSV") == .csv)
        #expect(PointBodies.format(contentType: "application/xml") == nil)
    }

    @Test func ndjsonSkipsBlankLinesAndKeepsLineNumbers() throws {
        guard
            case .lines(let lines, let numbers) = try PointBodies.batch(
                "{\"a\":1}\n\n  \n{\"b\":2}\r\n", format: .ndjson)
        else { Issue.record("not lines"); return }
        #expect(lines == ["{\"a\":1}", "{\"b\":2}"])
        #expect(numbers == [1, 4])
    }

    @Test func csvRowsBecomePointObjects() throws {
        let body = "timestamp,cpu,\"mem \"\"used\"\"\"\n2026-01-01T00:00:00Z,1.5,2e3\n2026-01-01T00:01:00Z,,x\n"
        guard case .lines(let lines, let numbers) = try PointBodies.batch(body, format: .csv)
        else { Issue.record("not lines"); return }
        #expect(
            lines == [
                #"{"timestamp":"2026-01-01T00:00:00Z","values":{"cpu":1.5,"mem \"used\"":2e3}}"#,
                #"{"timestamp":"2026-01-01T00:01:00Z","values":{"mem \"used\"":"x"}}"#,
            ])
        #expect(numbers == [2, 3])
    }

    @Test func csvWithoutTimestampOrWithRaggedRowsIsRefusedNamingIt() {
        #expect(throws: Problem.self) { try PointBodies.batch("time,cpu\n1,2\n", format: .csv) }
        do {
            _ = try PointBodies.batch("timestamp,cpu\n2026-01-01T00:00:00Z,1\n2026-01-01T00:01:00Z,1,2\n", format: .csv)
            Issue.record("a ragged row was taken")
        } catch {
            #expect(error.line == 3)
            #expect(error.detail.contains("3 fields; the header has 2"))
        }
    }

    @Test func jsonNumbersAreRecognisedByJSONsGrammar() {
        for ok in ["0", "-1", "1.5", "2e3", "1E-7", "-0.0"] { #expect(PointBodies.isJSONNumber(ok), "\(ok)") }
        for bad in ["01", "+1", "1.", ".5", "NaN", "Infinity", "0x10", "1e", " 1", ""] {
            #expect(!PointBodies.isJSONNumber(bad), "\(bad)")
        }
    }

    @Test func jsonStringsEscapeQuotesBackslashesAndControls() {
        #expect(PointBodies.jsonString("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
    }

    @Test func aCSVByteOrderMarkIsNotPartOfTheHeader() throws {
        guard
            case .lines(let lines, _) = try PointBodies.batch(
                "\u{FEFF}timestamp,x\n2026-01-01T00:00:00Z,1\n", format: .csv)
        else { Issue.record("not lines"); return }
        #expect(lines == [#"{"timestamp":"2026-01-01T00:00:00Z","values":{"x":1}}"#])
    }
}
