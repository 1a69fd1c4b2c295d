import Testing

@testable import ADCore

@Suite struct PollPlanDecidesTheStatementTheBackoffAndTheWatermark {
    @Test func theStatementQuotesColumnNamesAndKeepsTheQueryOnLinesOfItsOwn() {
        let s = PollPlan.sourceStatement(
            query: "SELECT ts, \"we\"\"ird\" FROM t -- a comment", timeColumn: "ts", watermarkColumn: "we\"ird",
            maxRows: 50, resuming: true)
        #expect(s.contains("(q.\"we\"\"ird\")::text AS ad_poll_watermark"))
        #expect(s.contains("(q.\"ts\")::timestamptz::text AS ad_poll_time"))
        #expect(s.contains("\nSELECT ts, \"we\"\"ird\" FROM t -- a comment\n) AS q"))
        #expect(s.contains("WHERE q.\"we\"\"ird\" >= $3"))
        #expect(s.hasSuffix("LIMIT 50"))
        let first = PollPlan.sourceStatement(
            query: "SELECT 1", timeColumn: "ts", watermarkColumn: "id", maxRows: 0, resuming: false)
        #expect(first.contains("WHERE q.\"id\" IS NOT NULL"))
        #expect(!first.contains("$3"))
        #expect(first.hasSuffix("LIMIT 1"))
    }

    @Test func retriesDoubleFromTheIntervalUpToFiveMinutesWithJitter() {
        #expect(PollPlan.retryDelay(interval: 10, failures: 1, random: 0.5) == 10)
        #expect(PollPlan.retryDelay(interval: 10, failures: 3, random: 0.5) == 40)
        #expect(PollPlan.retryDelay(interval: 10, failures: 30, random: 0.5) == 300)
        #expect(
            PollPlan.retryDelay(interval: 3600, failures: 5, random: 0.5) == 3600, "an hour's interval is its own cap")
        #expect(PollPlan.retryDelay(interval: 10, failures: 1, random: 0) == 8)
        #expect(abs(PollPlan.retryDelay(interval: 10, failures: 1, random: 1) - 12) < 1e-9)
    }

    @Test func aFullPollIsNotCaughtUpAndOneStuckOnTiesSaysSo() {
        #expect(
            PollPlan.outcome(watermarks: ["1", "2"], previous: nil, maxRows: 5)
                == .init(watermark: "2", caughtUp: true, stuck: false))
        #expect(
            PollPlan.outcome(watermarks: [], previous: "7", maxRows: 5)
                == .init(watermark: nil, caughtUp: true, stuck: false))
        #expect(
            PollPlan.outcome(watermarks: ["7", "7", "8"], previous: "7", maxRows: 3)
                == .init(watermark: "8", caughtUp: false, stuck: false))
        #expect(
            PollPlan.outcome(watermarks: ["7", "7", "7"], previous: "7", maxRows: 3)
                == .init(watermark: "7", caughtUp: false, stuck: true))
        #expect(
            PollPlan.outcome(watermarks: ["7", "7", "7"], previous: nil, maxRows: 3)
                == .init(watermark: "7", caughtUp: false, stuck: false), "the first time is progress")
        #expect(PollPlan.stuckMessage(watermarkColumn: "batch", value: "7", maxRows: 3).contains("batch = 7"))
    }
}
