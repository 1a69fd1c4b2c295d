import Foundation
import Testing

@testable import ADCore

/// /readyz's verdict: database reachable, schema current, and the worker fed by LISTEN or by its polling loops.
@Suite struct ReadinessVerdict {
    @Test func readyWhenTheDatabaseIsCurrentAndEveryListenerIsUp() {
        let h = WorkerHealth(listen: true, channels: ["ad_points", "ad_feedback"], scoringLoops: 2)
        #expect(!h.snapshot.listenersConnected, "down until connected")
        #expect(h.listener("ad_points", connected: true) == false, "ad_feedback is still down")
        #expect(h.listener("ad_feedback", connected: true) == true)
        let r = Readiness.judge(database: .ok(version: "0.2.0"), health: h.snapshot)
        #expect(r.ready && r.reasons.isEmpty)
        #expect(r.json.hasPrefix(#"{"status":"ready","reasons":[],"database":{"reachable":true,"schema":"0.2.0""#))
    }

    @Test func pollingLoopsAreTheFallbackWhenListenIsDownOrOff() {
        let h = WorkerHealth(listen: true, channels: ["ad_points"], scoringLoops: 2)
        h.scoringLoop(0, connected: true)
        var r = Readiness.judge(database: .ok(version: "0.2.0"), health: h.snapshot)
        #expect(!r.ready)
        #expect(r.reasons == ["not fed: LISTEN is not connected and 1 of 2 scoring loops hold a connection"])
        h.scoringLoop(1, connected: true)
        #expect(Readiness.judge(database: .ok(version: "0.2.0"), health: h.snapshot).ready)
        let off = WorkerHealth(listen: false, channels: ["ad_points"], scoringLoops: 1)
        r = Readiness.judge(database: .ok(version: "0.2.0"), health: off.snapshot)
        #expect(r.reasons == ["not fed: LISTEN is off and 0 of 1 scoring loops hold a connection"])
        off.scoringLoop(0, connected: true)
        #expect(Readiness.judge(database: .ok(version: "0.2.0"), health: off.snapshot).ready)
    }

    @Test func theDatabaseSaysWhyItIsNotReady() {
        let h = WorkerHealth(listen: true, channels: ["ad_points"], scoringLoops: 1)
        h.listener("ad_points", connected: true)
        let down = Readiness.judge(database: .unreachable("connection refused"), health: h.snapshot)
        #expect(down.reasons == ["database unreachable: connection refused"])
        #expect(down.json.contains(#""database":{"reachable":false,"error":"connection refused"}"#))
        let newer = Readiness.judge(
            database: .schemaMismatch(installed: "9.9.9", expected: "0.2.0"), health: h.snapshot)
        #expect(newer.reasons == ["schema version 9.9.9 is installed; this adworker needs 0.2.0"])
        let none = Readiness.judge(database: .schemaMismatch(installed: nil, expected: "0.2.0"), health: h.snapshot)
        #expect(none.reasons == ["the ad schema is not installed; this adworker needs 0.2.0"])
        #expect(none.json.contains(#""schema_ok":false"#))
    }
}
