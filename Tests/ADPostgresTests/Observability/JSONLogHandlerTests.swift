import ADCore
import ADPostgres
import Foundation
import Logging
import Synchronization
import Testing

/// AD_LOG_FORMAT=json: every line is one JSON object with the documented fields, metadata as fields of their own.
struct JSONLogLines {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ s: String) { lines.withLock { $0.append(s) } }
        var all: [String] { lines.withLock { $0 } }
    }

    @Test func aLineIsOneObjectWithTheVocabularyInOrder() throws {
        let out = Lines()
        var logger = Logger(label: "adworker") { JSONLogHandler(label: $0, worker: "w1", write: out.append) }
        logger.logLevel = .debug
        logger[metadataKey: "source"] = "src-a"
        logger.warning(
            "delivery to \"hook\"\nfailed", metadata: ["attempt": "3", "message": "clash", "ids": ["a", "b"]])
        logger.trace("below the level: not written")
        let lines = out.all
        try #require(lines.count == 1)
        let line = lines[0]
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1, "one line: \(line)")
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        // The fields in their order (JSONValue's decoder keeps no order, so read the positions in the line).
        let order = [
            "time", "level", "worker", "logger", "message", "attempt", "ids", "meta_message", "source", "module",
            "file", "line",
        ]
        let positions = order.map { line.range(of: "\"\($0)\":")?.lowerBound }
        #expect(
            positions.allSatisfy { $0 != nil } && positions.map { $0! } == positions.map { $0! }.sorted(), "\(line)")
        #expect(line.components(separatedBy: "\":").count == order.count + 1, "no other fields: \(line)")
        #expect(json["level"] == .string("warning"))
        #expect(json["worker"] == .string("w1"))
        #expect(json["logger"] == .string("adworker"))
        #expect(json["message"] == .string("delivery to \"hook\"\nfailed"))
        #expect(json["meta_message"] == .string("clash"))
        #expect(json["source"] == .string("src-a"))
        #expect(json["ids"] == .array([.string("a"), .string("b")]))
        #expect(json["module"] == .string("ADPostgresTests"))
        if case .number(let n)? = json["line"] { #expect(n > 0) } else { Issue.record("no line number") }
        guard case .string(let time)? = json["time"] else { Issue.record("no time"); return }
        #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(time)")
    }

    @Test func theTimeIsUTCWithMilliseconds() {
        let line = JSONLogHandler.line(
            time: Date(timeIntervalSince1970: 1_767_225_600.25), level: .info, worker: "w", label: "l", message: "m",
            metadata: [:], module: "M", file: "f.swift", line: 7)
        #expect(
            line
                == #"{"time":"2026-01-01T00:00:00.250Z","level":"info","worker":"w","logger":"l","message":"m","module":"M","file":"f.swift","line":7}"#
        )
    }
}
