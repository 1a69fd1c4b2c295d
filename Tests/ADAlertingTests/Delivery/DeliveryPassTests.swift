import ADCore
import ADPostgres
import Foundation
import Testing

@testable import ADAlerting

/// A claimed delivery becomes a job only when everything about it can be read: never an empty alert, never a
/// different event than the one queued.
@Suite struct ClaimedDeliveriesAreReadOrRefused {
    func claimed(
        kind: String = "trigger", alert: String = #"{"alert_id": "x"}"#, headers: String = #"{"X-Team": "ops"}"#,
        config: String = "{}"
    ) -> DeliveryQueue.Claimed {
        DeliveryQueue.Claimed(
            deliveryID: UUID(), kind: kind, attempt: 1, alertText: alert, channelName: "hook",
            channelType: "webhook", target: "http://127.0.0.1:1/", headersText: headers,
            configText: config, secret: nil)
    }

    @Test func aWellFormedDeliveryIsAJobWithItsEventAndHeaders() throws {
        let job = try #require(DeliveryPass.job(claimed(kind: "escalate")))
        #expect(job.event == .escalate)
        #expect(job.channel.headers.map(\.0) == ["X-Team"] && job.channel.headers.map(\.1) == ["ops"])
    }

    @Test(arguments: [("page", "{}"), ("trigger", "not json"), ("trigger", "[1]"), ("trigger", "null")])
    func anUnknownEventOrAnUnreadableAlertIsNoJob(kind: String, alert: String) {
        #expect(DeliveryPass.job(claimed(kind: kind, alert: alert)) == nil)
    }
}
