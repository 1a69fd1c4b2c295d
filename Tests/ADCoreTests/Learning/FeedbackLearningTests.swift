import Foundation
import Testing

@testable import ADCore

@Suite struct FeedbackLearningIsBoundedAndReadable {
    let t = SourceConfig.Thresholds(low: 0.45, medium: 0.55, high: 0.65, critical: 0.8)

    func adjustment(_ o: FeedbackLearning.Outcome) -> Adjustment? {
        if case .adjust(let a) = o { return a }
        return nil
    }

    func bump(_ deviation: Double, _ measure: String = "value", _ direction: Pattern.Direction = .above) -> Pattern {
        Pattern(measure: measure, direction: direction, deviation: deviation)!
    }

    @Test func aFalsePositiveToleratesPointsLikeIt() throws {
        let a = try #require(
            adjustment(
                FeedbackLearning.learn(
                    .falsePositive, pattern: bump(4), score: 0.5, thresholds: t,
                    learned: .init(), who: "Alice")))
        #expect(a.kind == .tolerate && a.measure == "value" && a.direction == .above)
        #expect(abs(a.deviation - 7.4) < 1e-12, "4 + 10% + 3 scales of slack")
        #expect(a.effectiveBefore == nil && a.effectiveAfter == a.deviation)
        #expect(
            a.reason
                == "false positive at score 0.5000 by Alice, value 4.0000 above expected: points on this series whose "
                + "value is above expected by at most 7.4000 are not anomalies unless they score at least high (0.6500)"
        )
        let key = HistoryCache.Key(source: UUID(), metric: "x")
        let learned = LearnedPatterns([key: SeriesLearning().adding(a)])
        func tolerated(_ p: Pattern?, score: Double = 0.5, source: UUID = key.source, metric: String = "x") -> Bool {
            learned.tolerates(source: source, metric: metric, pattern: p, score: score, thresholds: t)
        }
        #expect(tolerated(bump(4)), "the same bump")
        #expect(tolerated(bump(7.3)), "a similar one")
        #expect(tolerated(bump(1)), "a smaller one")
        #expect(!tolerated(bump(7.5)), "a clearly larger one")
        #expect(!tolerated(bump(4, "value", .below)), "the other direction")
        #expect(!tolerated(bump(4, "level_shift")), "caught by another measure")
        #expect(!tolerated(bump(4), metric: "y"), "another metric")
        #expect(!tolerated(bump(4), source: UUID()), "another source")
        #expect(!tolerated(nil), "no pattern")
        #expect(!tolerated(bump(4), score: 0.65), "high always counts")
    }

    @Test func aBurstOfCarelessMarksNeverSilencesHighAnomalies() {
        var learned = SeriesLearning()
        for i in 0..<200 {
            let score = 0.45 + Double(i) * 0.00275  // up to critical: everything marked false positive
            guard
                let a = adjustment(
                    FeedbackLearning.learn(
                        .falsePositive, pattern: bump(Double(i)), score: score,
                        thresholds: t, learned: learned, who: ""))
            else {
                Issue.record("no adjustment"); return
            }
            learned = learned.adding(a)
        }
        #expect(
            learned.tolerates(bump(150), score: 0.6, high: t.high),
            "low and medium points like the marked ones are quiet")
        for score in [0.65, 0.7, 0.8, 0.99] {
            #expect(!learned.tolerates(bump(1), score: score, high: t.high), "score \(score) still alerts")
        }
        #expect(!learned.tolerates(bump(1, "step"), score: 0.5, high: t.high), "another kind of deviation still alerts")
        let again = adjustment(
            FeedbackLearning.learn(
                .falsePositive, pattern: bump(10), score: 0.5, thresholds: t, learned: learned, who: ""))
        #expect(again?.reason.contains("(no change: a standing adjustment already covers it)") == true)
    }

    @Test func aConfirmedAnomalyKeepsPointsLikeItAlertingNowAndLater() throws {
        var learned = SeriesLearning().adding(
            try #require(
                adjustment(
                    FeedbackLearning.learn(
                        .falsePositive, pattern: bump(10), score: 0.6, thresholds: t, learned: .init(), who: ""))))
        #expect(learned.tolerance("value", .above) == 14)
        let keep = try #require(
            adjustment(
                FeedbackLearning.learn(
                    .truePositive, pattern: bump(8.8, "step"), score: 0.6,
                    thresholds: t, learned: learned, who: "Bob")))
        let limit = (8.8 - 3) / 1.1
        #expect(keep.kind == .keep && abs(keep.deviation - limit) < 1e-12)
        #expect(
            keep.reason.hasPrefix(
                "confirmed anomaly at score 0.6000 by Bob, step 8.8000 above expected: no tolerance above expected"))
        learned = learned.adding(keep)
        #expect(
            abs(learned.tolerance("value", .above)! - limit) < 1e-12, "a keep limits every measure in its direction")
        #expect(!learned.tolerates(bump(8.8), score: 0.5, high: t.high), "a point like the confirmed one alerts")
        #expect(!learned.tolerates(bump(6), score: 0.5, high: t.high), "and one a little smaller")
        #expect(learned.tolerates(bump(5), score: 0.5, high: t.high))
        // A later false positive beyond the confirmed deviation cannot tolerate past it.
        let fp = try #require(
            adjustment(
                FeedbackLearning.learn(
                    .falsePositive, pattern: bump(9.5), score: 0.6, thresholds: t,
                    learned: learned, who: "")))
        #expect(abs(fp.effectiveAfter! - limit) < 1e-12)
        #expect(fp.reason.contains("held at 5.2727 by a confirmed anomaly"))
        // Below expected is another direction: untouched.
        #expect(learned.tolerance("value", .below) == nil)
    }

    @Test func aKeepAloneToleratesNothing() throws {
        let keep = try #require(
            adjustment(
                FeedbackLearning.learn(
                    .truePositive, pattern: bump(5), score: 0.7, thresholds: t,
                    learned: .init(), who: "")))
        let learned = SeriesLearning().adding(keep)
        #expect(learned.tolerance("value", .above) == nil)
        #expect(!learned.tolerates(bump(0.1), score: 0.46, high: t.high))
        #expect(keep.effectiveBefore == nil && keep.effectiveAfter == nil)
    }

    @Test(arguments: [FeedbackKind.acknowledged, .resolved])
    func acknowledgingOrResolvingTeachesNothing(_ kind: FeedbackKind) {
        guard
            case .nothing(let why) = FeedbackLearning.learn(
                kind, pattern: bump(3), score: 0.9, thresholds: t, learned: .init(), who: "")
        else {
            Issue.record("\(kind) adjusted scoring"); return
        }
        #expect(why.hasPrefix(kind.rawValue))
    }

    @Test func anAnomalyWithoutAPatternTeachesNothingAndSaysSo() {
        guard
            case .nothing(let why) = FeedbackLearning.learn(
                .falsePositive, pattern: nil, score: 0.5, thresholds: t, learned: .init(), who: "")
        else {
            Issue.record("learned from nothing"); return
        }
        #expect(why.contains("records no pattern"))
    }

    @Test func theScorerRecordsThePatternThatDecided() {
        let scorer = PointScorer(config: SourceConfig.defaults)
        let history = (0..<300).map { 50 + Double(($0 * 7919) % 101) / 20 }
        let up = scorer.score([MetricObservation(metric: "x", x: 200, history: history)])
        #expect(up.severity != nil)
        let p = up.pattern
        #expect(p?.direction == .above && (p?.deviation ?? 0) > 10)
        #expect(up.explanation.json["pattern"] == p?.json)
        let down = scorer.score([MetricObservation(metric: "x", x: -100, history: history)])
        #expect(down.pattern?.direction == .below)
        #expect(Pattern(measure: "value", direction: .above, deviation: .infinity) == nil)
        #expect(Pattern(measure: "", direction: .above, deviation: 1) == nil)
    }
}
