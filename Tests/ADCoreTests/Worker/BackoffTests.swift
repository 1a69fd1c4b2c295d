import Foundation
import Testing

@testable import ADCore

@Suite struct BackoffAndJitter {
    @Test func growsExponentiallyUpToTheCap() {
        let b = Backoff(base: 0.1, cap: 1)
        #expect(b.delay(attempt: 1, random: 1) == 0.1)
        #expect(abs(b.delay(attempt: 3, random: 1) - 0.4) < 1e-12)
        #expect(b.delay(attempt: 10, random: 1) == 1)
        #expect(b.delay(attempt: 60, random: 0.5) == 0.5)
        #expect(b.delay(attempt: 2, random: 0) == 0)
    }

    @Test func pollJitterStaysWithinTwentyPercent() {
        #expect(jittered(10, random: 0) == 8)
        #expect(abs(jittered(10, random: 1) - 12) < 1e-9)
    }
}
