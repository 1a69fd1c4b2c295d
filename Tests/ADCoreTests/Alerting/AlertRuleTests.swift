import ADCore
import ADTestSupport
import Foundation
import Testing

@Suite struct AlertRuleConditions {
    static let source = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!

    func facts(
        severity: Severity = .high, score: Double = 0.9999, metric: String = "cpu", detector: String = "robust",
        time: String = "2026-03-04T10:30:00Z"
    ) -> AnomalyFacts {
        AnomalyFacts(
            sourceID: Self.source, sourceName: "web-1", metric: metric, severity: severity, score: score,
            detector: detector, time: RuleConditions.parseTimestamp(time)!)
    }

    func parse(_ text: String) throws -> RuleConditions {
        try RuleConditions.parse(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
    }

    @Test(arguments: badRuleConditions)
    func malformedConditionsNameTheField(_ bad: (json: String, field: String)) throws {
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(bad.json.utf8))
        do {
            _ = try RuleConditions.parse(json)
            Issue.record("\(bad.json) was accepted")
        } catch {
            #expect(fieldOf(error.description) == bad.field, "\(bad.json): \(error.description)")
        }
    }

    @Test func emptyConditionsMatchEveryAnomaly() throws {
        let c = try parse("{}")
        #expect(c.matches(facts(severity: .low, score: 0)))
    }

    @Test func severityScoreSourceMetricDetector() throws {
        let c = try parse(
            #"{"min_severity": "high", "min_score": 0.999, "sources": ["web-1"], "metrics": ["cpu"], "detectors": ["robust"]}"#
        )
        #expect(c.matches(facts()))
        #expect(!c.matches(facts(severity: .medium)))
        #expect(!c.matches(facts(score: 0.99)))
        #expect(!c.matches(facts(metric: "mem")))
        #expect(!c.matches(facts(detector: "seasonal")))
        #expect(try parse(#"{"sources": ["00000000-0000-0000-0000-00000000000a"]}"#).matches(facts()))
        #expect(!(try parse(#"{"sources": ["web-2"]}"#).matches(facts())))
    }

    @Test func hoursWrapMidnightInTheRulesTimeZone() throws {
        // 22:00-06:00 in Berlin (UTC+1 in March): 22:30Z is 23:30 local (inside), 10:30Z is 11:30 (outside).
        let c = try parse(#"{"hours": {"from": "22:00", "to": "06:00"}, "timezone": "Europe/Berlin"}"#)
        #expect(c.matches(facts(time: "2026-03-04T22:30:00Z")))
        #expect(c.matches(facts(time: "2026-03-04T04:59:00Z")))
        #expect(!c.matches(facts(time: "2026-03-04T05:00:00Z")))
        #expect(!c.matches(facts(time: "2026-03-04T10:30:00Z")))
        #expect(!c.matches(facts(time: "2026-03-04T20:59:00Z")))
        #expect(c.matches(facts(time: "2026-03-04T21:00:00Z")))
    }

    @Test func weekdaysInTheRulesTimeZone() throws {
        // 2026-03-04 is a Wednesday; 23:30Z on Wednesday is already Thursday in Tokyo.
        let c = try parse(#"{"weekdays": ["thu"], "timezone": "Asia/Tokyo"}"#)
        #expect(c.matches(facts(time: "2026-03-04T23:30:00Z")))
        #expect(!c.matches(facts(time: "2026-03-04T10:30:00Z")))
    }

    @Test func silencesHaveAnEndAndCoverHalfOpenIntervals() throws {
        let c = try parse(
            #"{"silences": [{"start": "2026-03-04T10:00:00Z", "end": "2026-03-04T11:00:00+00:00", "reason": "deploy"}]}"#
        )
        #expect(!c.matches(facts(time: "2026-03-04T10:00:00Z")))
        #expect(!c.matches(facts(time: "2026-03-04T10:59:59Z")))
        #expect(c.matches(facts(time: "2026-03-04T11:00:00Z")))
        #expect(c.matches(facts(time: "2026-03-04T09:59:59Z")))
        #expect(c.silenced(at: RuleConditions.parseTimestamp("2026-03-04T10:30:00Z")!)?.reason == "deploy")
    }

    @Test func occurrencesCountWithinThePeriodEndingAtThePoint() throws {
        let c = try parse(#"{"min_occurrences": 3, "within_seconds": 600}"#)
        let t = { (s: String) in RuleConditions.parseTimestamp(s)! }
        let seen = [
            t("2026-03-04T10:00:00Z"), t("2026-03-04T10:05:00Z"), t("2026-03-04T10:09:00Z"), t("2026-03-04T10:30:00Z"),
        ]
        #expect(c.needsHistory)
        #expect(!c.enoughOccurrences(at: t("2026-03-04T10:05:00Z"), matching: seen))
        #expect(c.enoughOccurrences(at: t("2026-03-04T10:09:00Z"), matching: seen))
        #expect(!c.enoughOccurrences(at: t("2026-03-04T10:30:00Z"), matching: seen))
        #expect(!(try parse("{}")).needsHistory)
    }

    @Test func timestampsWithZones() {
        #expect(RuleConditions.parseTimestamp("2026-03-04T10:00:00Z") == Date(timeIntervalSince1970: 1_772_618_400))
        #expect(RuleConditions.parseTimestamp("2026-03-04 11:00+01:00") == Date(timeIntervalSince1970: 1_772_618_400))
        #expect(
            RuleConditions.parseTimestamp("2026-03-04T05:00:00.5-0500") == Date(timeIntervalSince1970: 1_772_618_400.5))
        #expect(RuleConditions.parseTimestamp("2026-03-04T10:00:00") == nil)
        #expect(RuleConditions.parseTimestamp("2026-02-30T10:00:00Z") == nil)
    }
}

@Suite struct DeliveryRetryPolicy {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    @Test func backoffDoublesWithJitterUpToTheCapThenGivesUp() {
        let p = RetryPolicy(maxAttempts: 5, base: 10, cap: 60)
        #expect(p.decide(afterAttempt: 1, now: t0, random: 0) == .retry(at: t0.addingTimeInterval(5)))
        #expect(p.decide(afterAttempt: 1, now: t0, random: 1) == .retry(at: t0.addingTimeInterval(10)))
        #expect(p.decide(afterAttempt: 2, now: t0, random: 1) == .retry(at: t0.addingTimeInterval(20)))
        #expect(p.decide(afterAttempt: 3, now: t0, random: 0.5) == .retry(at: t0.addingTimeInterval(30)))
        #expect(p.decide(afterAttempt: 4, now: t0, random: 1) == .retry(at: t0.addingTimeInterval(60)))  // capped
        #expect(p.decide(afterAttempt: 5, now: t0, random: 1) == .giveUp)
    }

    @Test func jitterIsNeverZeroAndStaysInItsBand() {
        let p = RetryPolicy(maxAttempts: 100, base: 1, cap: 1000)
        for attempt in 1...20 {
            for r in stride(from: 0.0, through: 1.0, by: 0.125) {
                guard case .retry(let at) = p.decide(afterAttempt: attempt, now: t0, random: r) else {
                    Issue.record("gave up at \(attempt)"); continue
                }
                let d = min(1000, pow(2, Double(attempt - 1)))
                let wait = at.timeIntervalSince(t0)
                #expect(wait >= d / 2 && wait <= d)
            }
        }
    }

    @Test func settingsFromTheEnvironment() throws {
        let s = try WorkerSettings.parse(environment: [
            "AD_DELIVERY_MAX_ATTEMPTS": "3", "AD_DELIVERY_BACKOFF_BASE": "0.5",
            "AD_DELIVERY_BACKOFF_CAP": "2", "AD_DELIVERY": "off",
        ])
        #expect(s.deliveryRetry == RetryPolicy(maxAttempts: 3, base: 0.5, cap: 2))
        #expect(!s.delivery)
        #expect(throws: WorkerSettings.Problem.self) {
            try WorkerSettings.parse(environment: ["AD_DELIVERY_MAX_ATTEMPTS": "0"])
        }
        #expect(throws: WorkerSettings.Problem.self) {
            try WorkerSettings.parse(environment: ["AD_DELIVERY_BACKOFF_BASE": "10", "AD_DELIVERY_BACKOFF_CAP": "5"])
        }
    }
}
