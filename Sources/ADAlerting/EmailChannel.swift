import ADCore
import Foundation
import Logging

/// Email over SMTP (wired to the SMTP client).
enum EmailChannel {
    static func send(_ job: DeliveryJob, logger: Logger, now: Date) async -> SendResult {
        .failed("WIP")
    }
}
