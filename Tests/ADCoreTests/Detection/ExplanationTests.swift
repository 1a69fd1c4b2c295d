import Foundation
import Testing

@testable import ADCore

/// The explanation is one typed, versioned document: what the scorer writes is what every reader decodes, rows
/// written before the version field still read, and its sentence says why whichever stream decided.
@Suite struct ExplanationIsOneTypedDocument {
    let scorer = PointScorer(config: .defaults)

    func spike() -> PointScore {
        var noise = Noise(state: 7)
        let history = (0..<60).map { _ in 50 + noise.gaussian() }
        return scorer.score([observation(95, metric: "cpu", history: history)])
    }

    @Test func aScoredExplanationRoundTripsThroughItsStoredTextAndThroughCodable() throws {
        let e = spike().explanation
        #expect(e.version == Explanation.currentVersion)
        #expect(e.detector == "robust" && e.decidedBy != nil && e.reason != nil && !e.topContributions.isEmpty)
        let fromText = try JSONDecoder().decode(Explanation.self, from: Data(e.render().utf8))
        #expect(fromText == e, "\(e.render())")
        let fromEncoder = try JSONDecoder().decode(Explanation.self, from: JSONEncoder().encode(e))
        #expect(fromEncoder == e)
        #expect(try Explanation(json: e.json) == e)
        // The keys of 0.1.0's rows keep their spelling (the views and feedback read them in SQL).
        let keys: [String] = if case .object(let pairs) = e.json { pairs.map(\.0) } else { [] }
        for key in [
            "detector", "metric", "actual", "expected", "expected_range", "score", "surprise", "top_contributions",
            "metrics_off", "pattern", "version", "decided_by", "reason", "summary", "severity_basis",
        ] {
            #expect(keys.contains(key), "\(key) missing from \(e.render())")
        }
        // How the severity came about: a 45-scale spike on a calm series is critical by the score and the size.
        #expect(
            e.severityBasis == .init(byScore: .critical, bySize: .critical, size: e.severityBasis?.size, history: 60))
        #expect(e.json["severity_basis"]?["by_size"] == .string("critical"))
        #expect(e.summary?.hasPrefix("95 is ") == true && e.summary?.contains("robust scales above the median") == true)
        let first = try #require(
            e.json["top_contributions"].flatMap { if case .array(let a) = $0 { a.first } else { nil } })
        #expect(
            first["metric"] == .string("cpu") && first["feature"] != nil && first["value"] != nil
                && first["surprise"] != nil)
    }

    @Test func aRowWrittenBeforeTheVersionFieldStillReads() throws {
        // As 0.1.0 stored them: a scored anomaly, a warm-up, and the bare rows tests and hand-written SQL insert.
        let old = #"""
            {"detector": "robust", "metric": "cpu", "actual": 95, "expected": 50.0123, "expected_range": [45.5, 54.5],
             "score": 0.81234567, "surprise": 43.1234, "metrics_off": 1,
             "top_contributions": [{"metric": "cpu", "feature": "robust_z", "value": 45.1, "surprise": 43.1234},
                                   {"metric": "cpu", "feature": "novelty_z", "value": 40.2, "surprise": 12.5}],
             "pattern": {"measure": "value", "direction": "above", "deviation": 45.1},
             "resting": "within 24 points of an anomaly"}
            """#
        let e = try JSONDecoder().decode(Explanation.self, from: Data(old.utf8))
        #expect(e.version == 0)
        #expect(e.decidedBy == nil && e.reason == nil)
        #expect(e.detector == "robust" && e.metric == "cpu" && e.actual == 95 && e.expected == 50.0123)
        #expect(e.expectedRange == .init(low: 45.5, high: 54.5))
        #expect(e.score == 0.81234567 && e.surprise == 43.1234 && e.metricsOff == 1)
        #expect(
            e.topContributions == [
                .init(metric: "cpu", feature: "robust_z", value: 45.1, surprise: 43.1234),
                .init(metric: "cpu", feature: "novelty_z", value: 40.2, surprise: 12.5),
            ])
        #expect(e.pattern == Pattern(measure: "value", direction: .above, deviation: 45.1))
        #expect(e.resting == "within 24 points of an anomaly")

        let warm = try JSONDecoder().decode(
            Explanation.self,
            from: Data(#"{"detector": "none", "reason": "warming up: fewer than 24 earlier points"}"#.utf8))
        #expect(
            warm.version == 0 && warm.detector == "none" && warm.reason == "warming up: fewer than 24 earlier points")
        let bare = try JSONDecoder().decode(
            Explanation.self, from: Data(#"{"actual": 500, "expected": 52, "expected_range": [40, 64]}"#.utf8))
        #expect(bare.actual == 500 && bare.detector == nil && bare.topContributions.isEmpty)
        #expect(
            try JSONDecoder().decode(Explanation.self, from: Data("{}".utf8)) == Explanation(version: 0, detector: nil))
        // A newer writer's extra keys are ignored; a key of the wrong type is an error, not a silent nil.
        #expect(
            try JSONDecoder().decode(Explanation.self, from: Data(#"{"version": 9, "actual": 1, "new_key": [1]}"#.utf8))
                .version == 9)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Explanation.self, from: Data(#"{"actual": "high"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Explanation.self, from: Data(#"{"expected_range": [1]}"#.utf8))
        }
    }

    @Test(arguments: DetectorState.Stream.allCases)
    func everyStreamsReasonNamesIt(_ stream: DetectorState.Stream) {
        let why: Explanation.Why =
            switch stream {
            case .value: .value(z: 12.5, median: 50, window: 60)
            case .step: .step(previous: 48, typicalChange: 0.1, deviation: 9.5)
            case .novelty: .novelty(distance: 3.2, low: 45, high: 60, window: 60)
            case .burst: .burst(count: 7, span: 24, z: 4, median: 51, expected: 0.4)
            case .shift: .shift(count: 30, span: 48, above: true, z: 2, median: 51, expected: 2.1)
            case .daily: .seasonal(daily: true, lag: 50, typicalDifference: 0.3, deviation: 8.2)
            case .weekly: .seasonal(daily: false, lag: 50, typicalDifference: 0.3, deviation: 8.2)
            }
        #expect(why.stream == stream)
        let reason = Explanation.reason(why, metric: "cpu", actual: 95, expectedRange: .init(low: 40, high: 60))
        #expect(reason.contains("the \(stream.name) stream of cpu"), "\(reason)")
        #expect(reason.hasSuffix(".") && !reason.contains("inside the expected range"), "\(reason)")
        let specific =
            switch stream {
            case .value: "12.5 robust scales above the median (50)"
            case .step: "the change from the previous value (48 to 95, +47)"
            case .novelty: "outside the range of the last 60 points ([45, 60]) by 3.2 robust scales"
            case .burst: "7 of the last 24 points lay beyond 4 robust scales"
            case .shift: "30 of the last 48 points lay above the median"
            case .daily: "differs from its value a day earlier (50) by +45"
            case .weekly: "differs from its value a week earlier (50) by +45"
            }
        #expect(reason.contains(specific), "\(reason)")
    }

    @Test func theScorerNamesTheStreamThatDecidedAndWarmUpSaysSo() {
        let s = spike()
        #expect(s.explanation.decidedBy == "value" || s.explanation.decidedBy == "novelty", "\(s.explanation.render())")
        #expect(s.explanation.reason?.contains("the \(s.explanation.decidedBy ?? "?") stream of cpu") == true)
        let warm = scorer.score([observation(1000, history: [1, 2, 3])]).explanation
        #expect(warm.detector == "none" && warm.decidedBy == nil)
        #expect(warm.reason?.hasPrefix("Warming up") == true)
        // A level shift: the run decides, and the sentence says so.
        var noise = Noise(state: 13)
        let values = (0..<600).map { _ in noise.gaussian() } + (0..<48).map { _ in 3 + noise.gaussian() }
        let shifted = TheLikelihoodAndTheRestPeriod.replay(values)[600...].first { $0.severity != nil }?.explanation
        let by = shifted?.decidedBy ?? "nothing"
        #expect(["shift", "burst"].contains(by), "\(shifted?.render() ?? "no anomaly")")
        #expect(shifted?.reason?.contains("the \(by) stream of x") == true)
        #expect(
            shifted?.reason?.contains(by == "shift" ? "lay above the median" : "lay beyond 4 robust scales") == true)
    }

    /// The demo's puzzle: a critical point whose value lies inside the expected range it shows. The burst stream
    /// decided, and the explanation must say that the value itself is not what is unusual.
    @Test func aBurstDecidedPointInsideItsExpectedRangeSaysSo() throws {
        var config = SourceConfig.defaults
        config.restPeriod = 0
        var noise = Noise(state: 5)
        var values = (0..<400).map { _ in 50 + noise.gaussian() }
        for i in 0..<24 { values.append(i % 3 == 0 ? 50 + 12 * (i % 2 == 0 ? 1 : -1) : 50 + noise.gaussian()) }
        let scores = TheLikelihoodAndTheRestPeriod.replay(values, config: config)
        let inside = scores[400...].map(\.explanation).filter { (e: Explanation) -> Bool in
            guard e.decidedBy == "burst", let actual = e.actual, let range = e.expectedRange else { return false }
            return range.contains(actual)
        }
        let e = try #require(inside.first, "no burst-decided point inside its range")
        let reason = try #require(e.reason)
        #expect(reason.contains("the burst stream of x"), "\(reason)")
        #expect(reason.contains("lies inside the expected range"), "\(reason)")
        #expect(reason.contains("how many recent points lay far out"), "\(reason)")
    }
}

@Suite struct AlertTextListsEveryContribution {
    @Test func theMessageCarriesTheReasonAndEveryContributionWithItsValueAndSurprise() {
        let e = Explanation(
            detector: "robust", decidedBy: "burst", metric: "cpu", actual: 45, expected: 51,
            expectedRange: .init(low: 37.3, high: 64.7), score: 0.91, surprise: 10.4,
            topContributions: [
                .init(metric: "cpu", feature: "burst", value: 6.125, surprise: 10.4),
                .init(metric: "cpu", feature: "robust_z", value: 0.8, surprise: 0.25),
                .init(metric: "mem", feature: "level_shift", value: 2.5, surprise: 0.125),
                .init(metric: "mem", feature: "robust_z", value: 1.5, surprise: 0.0625),
            ],
            metricsOff: 1, reason: "Decided by the burst stream of cpu: it was bursty.")
        let m = AlertText.message(
            rule: "r", source: "web-1", metric: "cpu", severity: .critical, score: 0.91,
            detector: "robust", time: Date(timeIntervalSince1970: 0), explanation: e)
        #expect(m.contains("actual 45, expected 51, expected range [37.3, 64.7]."), "\(m)")
        #expect(m.contains("Why: Decided by the burst stream of cpu: it was bursty."), "\(m)")
        for c in e.topContributions {
            let item =
                "\(c.metric)/\(c.feature) \(AlertText.format(c.value!)) (surprise \(AlertText.format(c.surprise!)))"
            #expect(m.contains(item), "\(item) not in \(m)")
        }
        #expect(
            AlertText.title(rule: "r", source: "web-1", metric: "cpu", severity: .critical, explanation: e)
                == "[CRITICAL] cpu on web-1: 45 (expected 51) - rule r")
        // Without an explanation, the facts alone.
        let bare = AlertText.message(
            rule: "r", source: "web-1", metric: "cpu", severity: .critical, score: 0.91,
            detector: "robust", time: Date(timeIntervalSince1970: 0), explanation: nil)
        #expect(
            bare
                == "Anomaly on web-1, metric cpu, at 1970-01-01T00:00:00Z.\nSeverity critical, score 0.910000, detector robust, rule r."
        )
    }
}
