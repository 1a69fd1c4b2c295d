import ADTestSupport
import Foundation
import Testing

@testable import ADCore

@Suite struct WorkerSettingsValidate {
    @Test func defaultsAndOverrides() throws {
        #expect(try WorkerSettings.parse(environment: [:]) == WorkerSettings())
        let s = try WorkerSettings.parse(environment: [
            "AD_BATCH_SIZE": "50", "AD_POLL_INTERVAL": "0.5", "AD_LISTEN": "off",
            "AD_SCORING_LOOPS": "3", "AD_LOCK_TIMEOUT": "2.5", "AD_LISTEN_HEARTBEAT": "4",
        ])
        #expect(s.batchSize == 50 && s.pollInterval == 0.5 && !s.listen && s.scoringLoops == 3)
        #expect(s.lockTimeout == 2.5 && s.listenHeartbeat == 4)
        #expect(WorkerSettings().lockTimeout == 5 && WorkerSettings().listenHeartbeat == 15)
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
        ("AD_LOCK_TIMEOUT", "0", "AD_LOCK_TIMEOUT: must be a number from 0.1 to 3600, got \"0\""),
        ("AD_LISTEN_HEARTBEAT", "never", "AD_LISTEN_HEARTBEAT: must be a number from 0.1 to 3600, got \"never\""),
        ("AD_WORKER_NAME", "a b", "AD_WORKER_NAME: must be 1 to 40 letters, digits, '-', '_' or '.', got \"a b\""),
    ])
    func rejectsNamingTheVariable(name: String, value: String, message: String) {
        #expect(throws: WorkerSettings.Problem.self) { try WorkerSettings.parse(environment: [name: value]) }
        do { _ = try WorkerSettings.parse(environment: [name: value]) } catch { #expect(error.description == message) }
    }
}
