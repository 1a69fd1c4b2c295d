import ADCore
import Foundation
import Logging

/// Email over SMTP: the channel's config gives the server and sender, its secret the password, its target the
/// recipients. The Message-ID is derived from the idempotency key, so a resend of the same notice is
/// recognisable and a resolve is not mistaken for the trigger.
enum EmailChannel {
    static func send(_ job: DeliveryJob, policy: OutboundPolicy, logger: Logger, now: Date) async -> SendResult {
        var settings: SMTPSettings
        let message: EmailMessage
        do {
            settings = try SMTPSettings.parse(job.channel.config, password: job.channel.secret)
            let recipients = try job.channel.target.split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                .map { (s: String) throws(EmailMessageError) -> EmailAddress in try EmailAddress.parse(s) }
            let content = Payloads.email(job)
            message = try EmailMessage(
                from: settings.from, to: recipients, subject: content.subject, textBody: content.text,
                htmlBody: content.html, date: now,
                messageID: EmailMessage.messageID(alertID: Payloads.idempotencyKey(job)),
                headers: [EmailHeader("X-AD-Alert-Id", job.alertID), EmailHeader("X-AD-Event", job.event.rawValue)])
        } catch {
            // A config that cannot be used (SMTP AUTH without TLS among them) fails until someone changes the
            // channel: not retried.
            return .failed("channel \"\(job.channel.name)\": \(error)", final: true)
        }
        // The outbound policy, as for HTTP: resolve once, check, connect to the checked address (TLS still checks
        // the certificate against the configured host name).
        switch await OutboundResolver.pick(settings.host, policy: policy) {
        case .success(let address): settings.connectAddress = address.description
        case .failure(let f): return .failed(f.reason, final: f.final)
        }
        do {
            let result = try await SMTPClient(settings: settings, logger: logger).send(message: message)
            return .sent(smtpReply: result.reply.description)
        } catch {
            return .failed(error.description, smtpReply: error.reply?.description)
        }
    }
}
