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

    @Test func metricsListenerAndLogFormat() throws {
        #expect(WorkerSettings().metricsListen == nil && WorkerSettings().logFormat == .text)
        let s = try WorkerSettings.parse(environment: [
            "AD_METRICS_LISTEN": "[::1]:9464", "AD_METRICS_REFRESH": "2", "AD_LOG_FORMAT": "JSON",
        ])
        #expect(s.metricsListen?.host == "::1" && s.metricsListen?.port == 9464)
        #expect(s.metricsRefresh == 2 && s.logFormat == .json)
        #expect(try WorkerSettings.parse(environment: ["AD_METRICS_LISTEN": ""]).metricsListen == nil, "empty: off")
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
        ("AD_DELIVERY_MAX_SEND", "300", "AD_DELIVERY_MAX_SEND: must be a number from 1 to 60, got \"300\""),
        ("AD_DELIVERY_PER_CHANNEL", "0", "AD_DELIVERY_PER_CHANNEL: must be an integer from 1 to 256, got \"0\""),
        ("AD_METRICS_LISTEN", "9464", "AD_METRICS_LISTEN: must be host:port, for example 0.0.0.0:9464, got \"9464\""),
        ("AD_METRICS_LISTEN", ":9464", "AD_METRICS_LISTEN: must name a host, for example 0.0.0.0:9464"),
        ("AD_METRICS_REFRESH", "0", "AD_METRICS_REFRESH: must be a number from 1 to 3600, got \"0\""),
        ("AD_LOG_FORMAT", "yaml", "AD_LOG_FORMAT: must be text or json, got \"yaml\""),
    ])
    func rejectsNamingTheVariable(name: String, value: String, message: String) {
        #expect(throws: WorkerSettings.Problem.self) { try WorkerSettings.parse(environment: [name: value]) }
        do { _ = try WorkerSettings.parse(environment: [name: value]) } catch { #expect(error.description == message) }
    }

    /// The issue's reproduction: a lease of 120 s beside channel timeouts of up to 300 s let a second worker send a
    /// delivery that the first was still sending. A lease shorter than the longest send is refused.
    @Test func theLeaseOutlastsTheLongestSend() throws {
        let d = try WorkerSettings.parse(environment: [:])
        #expect(d.deliveryLease >= d.deliveryMaxSend + DeliveryLimits.leaseMargin)
        #expect(d.deliveryMaxSend == DeliveryLimits.maxChannelTimeout)
        do {
            _ = try WorkerSettings.parse(environment: ["AD_DELIVERY_LEASE": "30"])
            Issue.record("a 30 s lease beside 60 s sends was accepted")
        } catch {
            #expect(error.variable == "AD_DELIVERY_LEASE")
            #expect(error.message.contains("at least AD_DELIVERY_MAX_SEND (60.0 s) + 10.0 s"), "\(error)")
        }
        let short = try WorkerSettings.parse(environment: ["AD_DELIVERY_LEASE": "12", "AD_DELIVERY_MAX_SEND": "2"])
        #expect(short.deliveryLease == 12 && short.deliveryMaxSend == 2)
    }
}
