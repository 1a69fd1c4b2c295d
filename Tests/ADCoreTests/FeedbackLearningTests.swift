import Foundation
import Testing
@testable import ADCore

@Suite struct FeedbackLearningIsBoundedAndReadable {
    let t = SourceConfig.defaults.thresholds  // low 0.5, medium 0.6, high 0.7, critical 0.8

    func adjustment(_ o: FeedbackLearning.Outcome) -> Adjustment? {
        if case .adjust(let a) = o { return a }
        return nil
    }

    @Test func aFalsePositiveRaisesTheThresholdJustAboveItsScore() throws {
        let a = try #require(adjustment(FeedbackLearning.learn(.falsePositive, score: 0.55, thresholds: t, learned: .init(), who: "Alice")))
        #expect(a.kind == .raise)
        #expect(abs(a.threshold - 0.56) < 1e-12)
        #expect(a.effectiveBefore == 0.5 && abs(a.effectiveAfter - 0.56) < 1e-12)
        #expect(a.reason == "false positive at score 0.5500 by Alice: points on this series need 0.5600 to be anomalies (was 0.5000)")
        let learned = LearnedThresholds([HistoryCache.Key(source: UUID(), metric: "x"): LearnedBounds(raisedTo: a.threshold)])
        let key = learned.bounds.keys.first!
        #expect(learned.suppresses(source: key.source, metric: "x", score: 0.555, thresholds: t), "a similar point")
        #expect(!learned.suppresses(source: key.source, metric: "x", score: 0.57, thresholds: t), "a stronger point")
        #expect(!learned.suppresses(source: key.source, metric: "y", score: 0.51, thresholds: t), "another metric")
        #expect(!learned.suppresses(source: UUID(), metric: "x", score: 0.51, thresholds: t), "another source")
    }

    @Test func aBurstOfCarelessMarksNeverSilencesHighAnomalies() {
        var learned = LearnedBounds()
        for i in 0..<200 {
            let score = 0.5 + Double(i) * 0.0025  // up to 0.9975: critical anomalies marked false positive too
            guard let a = adjustment(FeedbackLearning.learn(.falsePositive, score: score, thresholds: t, learned: learned, who: "")) else {
                Issue.record("no adjustment"); return
            }
            #expect(a.threshold <= t.high)
            #expect(a.effectiveAfter <= t.high)
            learned = learned.adding(a.kind, a.threshold)
        }
        #expect(learned.effectiveLow(t) == t.high)
        let capped = adjustment(FeedbackLearning.learn(.falsePositive, score: 0.95, thresholds: t, learned: learned, who: ""))
        #expect(capped?.reason.contains("capped at the high threshold 0.7000") == true)
        #expect(capped?.reason.contains("(no change") == true)
    }

    @Test func aConfirmedAnomalyKeepsTheSeriesSensitiveNowAndLater() throws {
        var learned = LearnedBounds(raisedTo: 0.66)
        #expect(abs(learned.effectiveLow(t) - 0.66) < 1e-12)
        let keep = try #require(adjustment(FeedbackLearning.learn(.truePositive, score: 0.6, thresholds: t, learned: learned, who: "Bob")))
        #expect(keep.kind == .keep && keep.threshold == 0.6)
        #expect(keep.effectiveAfter == 0.6)
        #expect(keep.reason.contains("its threshold goes back from 0.6600 to 0.6000"))
        learned = learned.adding(keep.kind, keep.threshold)
        // A later false positive above the confirmed score cannot raise past it.
        let raise = try #require(adjustment(FeedbackLearning.learn(.falsePositive, score: 0.65, thresholds: t, learned: learned, who: "")))
        #expect(raise.effectiveAfter == 0.6)
        #expect(raise.reason.contains("held at 0.6000 by a confirmed anomaly"))
    }

    @Test func thresholdsNeverGoBelowTheConfiguredLow() {
        #expect(LearnedBounds().effectiveLow(t) == 0.5)
        #expect(LearnedBounds(raisedTo: 0.3).effectiveLow(t) == 0.5)
        #expect(LearnedBounds(raisedTo: 0.6, keptAt: 0.2).effectiveLow(t) == 0.5)
        #expect(LearnedBounds(keptAt: 0.2).effectiveLow(t) == 0.5, "a keep alone changes nothing")
    }

    @Test(arguments: [FeedbackKind.acknowledged, .resolved])
    func acknowledgingOrResolvingTeachesNothing(_ kind: FeedbackKind) {
        guard case .nothing(let why) = FeedbackLearning.learn(kind, score: 0.9, thresholds: t, learned: .init(), who: "") else {
            Issue.record("\(kind) adjusted scoring"); return
        }
        #expect(why.hasPrefix(kind.rawValue))
    }
}
