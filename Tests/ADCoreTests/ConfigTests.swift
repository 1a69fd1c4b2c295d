import Foundation
import Testing
@testable import ADCore
import ADTestSupport

func parseConfig(_ text: String) throws -> SourceConfig {
    try SourceConfig.parse(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
}

@Suite struct SourceConfigValidates {
    @Test func emptyIsTheDefaults() throws {
        #expect(try parseConfig("{}") == .defaults)
    }

    @Test func readsEveryField() throws {
        let c = try parseConfig(#"{"window": 120, "min_history": 30, "detectors": ["robust"], "seasonality": ["weekly"], "thresholds": {"low": 0.99, "medium": 0.995, "high": 0.999, "critical": 0.9999}}"#)
        #expect(c.window == 120)
        #expect(c.minHistory == 30)
        #expect(c.detectors == [.robust])
        #expect(c.seasonality == [.weekly])
        #expect(c.thresholds == .init(low: 0.99, medium: 0.995, high: 0.999, critical: 0.9999))
    }

    @Test(arguments: badSourceConfigs)
    func rejectsNamingTheField(json: String, message: String) {
        do {
            _ = try parseConfig(json)
            Issue.record("accepted \(json)")
        } catch let problem as SourceConfig.Problem {
            #expect(problem.description == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct WorkerSettingsValidate {
    @Test func defaultsAndOverrides() throws {
        #expect(try WorkerSettings.parse(environment: [:]) == WorkerSettings())
        let s = try WorkerSettings.parse(environment: ["AD_BATCH_SIZE": "50", "AD_POLL_INTERVAL": "0.5", "AD_LISTEN": "off",
                                                       "AD_SCORING_LOOPS": "3"])
        #expect(s.batchSize == 50 && s.pollInterval == 0.5 && !s.listen && s.scoringLoops == 3)
    }

    @Test func theLoopsShareTheHistoryCacheBudget() {
        var s = WorkerSettings()
        s.scoringLoops = 3; s.historyCache = 90_000; s.historyCacheMB = 300
        #expect(s.makeLoopHistoryCache.capacity == 30_000 && s.makeLoopHistoryCache.maxNumbers == 100 * 131_072)
        s.historyCache = 0
        #expect(s.makeLoopHistoryCache.capacity == 0, "disabled stays disabled")
    }

    @Test(arguments: [
        ("AD_BATCH_SIZE", "0", "AD_BATCH_SIZE: must be an integer from 1 to 100000, got \"0\""),
        ("AD_BATCH_SIZE", "12.5", "AD_BATCH_SIZE: must be an integer from 1 to 100000, got \"12.5\""),
        ("AD_SCORING_LOOPS", "0", "AD_SCORING_LOOPS: must be an integer from 1 to 64, got \"0\""),
        ("AD_POLL_INTERVAL", "soon", "AD_POLL_INTERVAL: must be a number from 0.05 to 3600, got \"soon\""),
        ("AD_LISTEN", "maybe", "AD_LISTEN: must be true or false, got \"maybe\""),
        ("AD_WORKER_NAME", "a b", "AD_WORKER_NAME: must be 1 to 40 letters, digits, '-', '_' or '.', got \"a b\""),
    ])
    func rejectsNamingTheVariable(name: String, value: String, message: String) {
        #expect(throws: WorkerSettings.Problem.self) { try WorkerSettings.parse(environment: [name: value]) }
        do { _ = try WorkerSettings.parse(environment: [name: value]) } catch { #expect(error.description == message) }
    }
}

@Suite struct WakeSignalCoalesces {
    @Test func aBurstLeavesOneWakeUp() async {
        let wake = WakeSignal()
        for _ in 0..<1000 { wake.signal() }
        #expect(await wake.wait(timeout: .seconds(5)))
        #expect(await wake.wait(timeout: .milliseconds(50)) == false)
    }

    @Test func aForwardingSignalWakesEveryLoop() async {
        let loops = [WakeSignal(), WakeSignal()]
        let listener = WakeSignal(forwardingTo: loops)
        listener.signal()
        for l in loops { #expect(await l.wait(timeout: .seconds(5))) }
        #expect(await loops[0].wait(timeout: .milliseconds(50)) == false, "one wake-up each")
    }

    @Test func aSignalWakesAWaiter() async {
        let wake = WakeSignal()
        async let woken = wake.wait(timeout: .seconds(10))
        try? await Task.sleep(for: .milliseconds(50))
        wake.signal()
        let start = ContinuousClock.now
        #expect(await woken)
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func cancellationEndsTheWait() async {
        let wake = WakeSignal()
        let task = Task { await wake.wait(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value == false)
    }
}

@Suite struct HistoryCacheKeepsOnlyWhatIsProven {
    let a = UUID(), b = UUID()

    @Test func commitsKeepTheDepthAndTheLatestTime() {
        var c = HistoryCache(capacity: 10, depth: 3)
        c.commit(refreshed: [a], histories: [.init(source: a, metric: "x"): .init(values: [1, 2, 3, 4], lastMicros: 40)],
                 latest: [a: 40])
        #expect(c[.init(source: a, metric: "x")] == .init(values: [2, 3, 4], lastMicros: 40))
        #expect(c.candidates(among: [a, b]).sources == [a] && c.candidates(among: [a, b]).micros == [40])
        #expect(c.candidates(among: [b]).sources.isEmpty)
    }

    @Test func aRefreshedSourceDropsSeriesTheBatchDidNotSee() {
        var c = HistoryCache(capacity: 10, depth: 3)
        c.commit(refreshed: [a], histories: [.init(source: a, metric: "x"): .init(values: [1], lastMicros: 1),
                                             .init(source: a, metric: "y"): .init(values: [1], lastMicros: 1)], latest: [a: 1])
        c.commit(refreshed: [a], histories: [.init(source: a, metric: "x"): .init(values: [5], lastMicros: 9)], latest: [a: 9])
        #expect(c[.init(source: a, metric: "y")] == nil)
        #expect(c[.init(source: a, metric: "x")]?.values == [5])
    }

    @Test func overCapacityItStartsOverAndZeroDisablesIt() {
        var c = HistoryCache(capacity: 1, depth: 3)
        c.commit(refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1], lastMicros: 1)], latest: [a: 1])
        c.commit(refreshed: [], histories: [.init(source: b, metric: "x"): .init(values: [2], lastMicros: 2)], latest: [b: 2])
        #expect(c.count == 1)
        #expect(c.candidates(among: [a, b]).sources == [b])
        // A byte budget: past it, too, the cache starts over; seasonal differences count, all-NaN ones are not kept.
        var small = HistoryCache(capacity: 10, depth: 3, maxNumbers: 5)
        small.commit(refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1, 2], dailyDiffs: [.nan, 0.5], lastMicros: 1)],
                     latest: [a: 1])
        #expect(small.held == 4)
        small.commit(refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1, 2, 3], dailyDiffs: [.nan, .nan, .nan], lastMicros: 2)],
                     latest: [a: 2])
        #expect(small.held == 3 && small[.init(source: a, metric: "x")]?.dailyDiffs == [])
        small.commit(refreshed: [], histories: [.init(source: b, metric: "x"): .init(values: [7, 8, 9], lastMicros: 3)], latest: [b: 3])
        #expect(small.count == 1 && small.held == 3 && small.candidates(among: [a, b]).sources == [b])
        // The sorted window and steps count too: 2 values + 2 sorted + 1 step is 5, within; 3 + 3 + 2 is not.
        var sorted = HistoryCache(capacity: 10, depth: 3, maxNumbers: 5)
        let two = HistoryCache.Sorted(values: SortedWindow([2, 1]), steps: SortedWindow([1]))
        sorted.commit(refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1, 2], lastMicros: 1, sorted: two)], latest: [a: 1])
        #expect(sorted.held == 5 && sorted[.init(source: a, metric: "x")]?.sorted == two)
        let three = HistoryCache.Sorted(values: SortedWindow([1, 2, 3]), steps: SortedWindow([1, 1]))
        sorted.commit(refreshed: [], histories: [.init(source: b, metric: "x"): .init(values: [1, 2, 3], lastMicros: 2, sorted: three)],
                      latest: [b: 2])
        #expect(sorted.held == 8 && sorted.count == 1 && sorted.candidates(among: [a, b]).sources == [b])
        var off = HistoryCache(capacity: 0, depth: 3)
        off.commit(refreshed: [], histories: [.init(source: a, metric: "x"): .init(values: [1], lastMicros: 1)], latest: [a: 1])
        #expect(off.count == 0 && off.candidates(among: [a]).sources.isEmpty)
    }
}

@Suite struct SourceConfigRendersAsJSON {
    @Test func parseOfJSONIsIdentity() throws {
        #expect(try SourceConfig.parse(SourceConfig.defaults.json) == .defaults)
        let custom = try parseConfig(#"{"window": 30, "min_history": 5, "detectors": ["seasonal"], "seasonality": [], "thresholds": {"low": 0.5}}"#)
        #expect(try SourceConfig.parse(custom.json) == custom)
        #expect(custom.json.render() == #"{"window":30,"min_history":5,"likelihood_window":3000,"warmup":100,"rest_period":100,"detectors":["seasonal"],"seasonality":[],"thresholds":{"low":0.5,"medium":0.55,"high":0.65,"critical":0.8}}"#)
    }
}
