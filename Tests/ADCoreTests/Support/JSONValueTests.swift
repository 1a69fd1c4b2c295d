import Foundation
import Testing

@testable import ADCore

@Suite struct JSONRendersStrictly {
    @Test func escapesAndOrders() {
        let v = JSONValue.object([
            ("b", .string("q\"\\\n\u{1}")), ("a", .array([.number(1), .number(0.5), .null, .bool(true)])),
        ])
        #expect(v.render() == #"{"b":"q\"\\\n\u0001","a":[1,0.5,null,true]}"#)
        #expect(JSONValue.number(.nan).render() == "null")
        #expect(JSONValue.rounded(3.14159265, 3) == .number(3.14))
    }
}

@Suite struct JSONRendering {
    @Test func escapesWhatJSONRequiresAndKeepsTheRest() throws {
        let v = JSONValue.object([
            (
                "a\"b\\c\n\t\r\u{1}\u{1f}é😀",
                .array([
                    .number(-12), .number(0), .number(-0.0), .number(1.5), .number(-0.25),
                    .number(1e20), .number(9_007_199_254_740_993), .bool(true), .bool(false), .null,
                ])
            ),
            ("", .string("")),
        ])
        let text = v.render()
        #expect(
            text
                == #"{"a\"b\\c\n\t\r\u0001\u001fé😀":[-12,0,0,1.5,-0.25,1e+20,9007199254740992.0,true,false,null],"":""}"#
        )
        // It parses back to what it says (the decoder does not keep key order, so one key at a time).
        guard case .object(let pairs) = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            Issue.record("not an object"); return
        }
        guard case .object(let original) = v else { Issue.record("not an object"); return }
        for (k, value) in original {
            #expect(pairs.first { $0.0 == k }?.1.render() == value.render(), "\(k)")
        }
    }

    /// The text the worker stores (`featuresText`, written slot by slot) says what `features` says: every key,
    /// number, note, null and the state, whatever the order.
    @Test func theStoredFeaturesTextIsTheFeaturesValue() throws {
        var noise = Noise(state: 3)
        let scorer = PointScorer(config: .defaults)
        var states: [String: DetectorState] = [:]
        var history: [Double] = []
        for i in 0..<60 {
            let x = 10 + noise.gaussian() + (i == 40 ? 30 : 0)
            let metrics = ["a", "q\"é"].map { name in
                MetricObservation(
                    metric: name, x: name == "a" ? x : -x / 7, history: history.map { name == "a" ? $0 : -$0 / 7 },
                    dailyDiffs: history.map { _ in noise.gaussian() },
                    delta: history.last.map { x - $0 }, secondsSincePrevious: i == 0 ? nil : 0,
                    lagDaily: i > 5 ? SeasonalLag(value: x + noise.gaussian(), score: i % 9 == 0 ? 0.9 : 0.1) : nil,
                    state: states[name])
            }
            let s = scorer.score(metrics, storingState: { _ in i % 3 == 0 })
            for name in ["a", "q\"é"] { states[name] = s.states[name] }
            history.append(x)
            let stored = try JSONDecoder().decode(JSONValue.self, from: Data(s.featuresText.utf8))
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(s.features.render().utf8))
            #expect(stored == value, "point \(i)")
        }
    }

    /// What the worker writes for a rounded feature: the decimal `.rounded` stands for, printed directly.
    static func direct(_ x: Double?, _ digits: Int) -> String {
        var out: [UInt8] = []
        JSONValue.writeRounded(x, digits: digits, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func roundedNumbersPrintAsTheDecimalTheyStandFor() {
        #expect(Self.direct(49.847631, 6) == "49.8476")
        #expect(Self.direct(-0.00005833333, 6) == "-0.0000583333")
        #expect(Self.direct(0.99999999, 6) == "1")
        #expect(Self.direct(-2.5, 6) == "-2.5")
        #expect(Self.direct(100.04999, 4) == "100")
        #expect(Self.direct(0.1 + 0.2, 6) == "0.3")
        // beyond the table: the long way
        #expect(Self.direct(1234567.8, 6) == JSONValue.rounded(1234567.8, 6).render())
        #expect(Self.direct(3e-15, 6) == JSONValue.rounded(3e-15, 6).render())
        #expect(Self.direct(nil, 6) == "null" && Self.direct(.infinity, 6) == "null" && Self.direct(.nan, 4) == "null")
        // Over magnitudes and precisions: the same number as rendering the rounded value, in at most `digits` digits.
        var noise = Noise(state: 7)
        for i in 0..<100_000 {
            let x = (noise.uniform() - 0.3) * pow(10, Double(i % 34 - 16)), digits = [4, 6, 8][i % 3]
            let text = Self.direct(x, digits), reference = JSONValue.rounded(x, digits).render()
            #expect(Double(text) == Double(reference), "\(x) to \(digits) digits: \(text), not \(reference)")
            let significant = text.filter(\.isNumber).drop { $0 == "0" }.reversed().drop { $0 == "0" }.count
            #expect(significant <= digits || text == reference, "\(x): \(text)")
        }
    }
}
