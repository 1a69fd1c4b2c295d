import ADTestSupport
import Foundation
import Testing

@testable import ADCore

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
        #expect(await woken, "the wait returned true: the signal ended it, not its 10 s timeout")
    }

    @Test func cancellationEndsTheWait() async {
        let wake = WakeSignal()
        let task = Task { await wake.wait(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value == false)
    }
}
