import Foundation
import Testing

@testable import ADCore

@Suite struct PointValuesAreReadLikePostgreSQLPrintsThem {
    @Test func membersInOrderWithEscapesResolved() throws {
        let v = try #require(
            MetricValues.parse(
                #"{"cpu": 0.93, "mem": 512, "a\"b\\c": -1.5e-3, "\u00e9t\u00E9": 7, "😀\ud83d\ude00": 0}"#))
        #expect(v.map(\.metric) == ["cpu", "mem", "a\"b\\c", "été", "😀😀"])
        #expect(v.map(\.value) == [0.93, 512, -0.0015, 7, 0])
        #expect(try #require(MetricValues.parse("{}")).isEmpty)
        #expect(try #require(MetricValues.parse(" {\"x\":1} ")).map(\.value) == [1])
    }

    @Test(arguments: [
        #"{"x": "1"}"#, #"{"x": {"y": 1}}"#, #"{"x": [1]}"#, #"{"x": null}"#, #"{"x": 1"#, #"{"x": 1,}"#,
        #"{"x": 1} 2"#, #"["x"]"#, #"{"x\ud83d": 1}"#, #"{"x\q": 1}"#, #"{"x": inf}"#, #"{x: 1}"#, "",
    ])
    func anythingElseIsRefused(text: String) {
        #expect(MetricValues.parse(text) == nil)
    }
}
