import Foundation
import Testing

@testable import ADAlerting

@Suite("Email MIME builder")
struct EmailMessageTests {
    private let from: EmailAddress

    init() throws {
        from = try EmailAddress("adworker@example.com", displayName: "AD Worker")
    }

    private func message(
        subject: String = "Anomaly on cpu.load: score 0.97",
        text: String = "Value 12.5 is far above the expected 3.1.\nSee the dashboard.",
        html: String? = "<p>Value <b>12.5</b> is far above the expected 3.1.</p>",
        encoding: EmailMessage.TransferEncoding = .quotedPrintable,
        headers: [EmailHeader] = [EmailHeader("X-AD-Alert-Id", "42")]
    ) throws -> EmailMessage {
        try EmailMessage(
            from: from,
            to: [
                try EmailAddress("oncall@example.com"), try EmailAddress("ops@example.org", displayName: "Ops, Team"),
            ],
            subject: subject, textBody: text, htmlBody: html,
            date: Date(timeIntervalSince1970: 1_751_364_000),  // 2025-07-01 10:00:00 UTC, a Tuesday
            messageID: EmailMessage.messageID(alertID: "42"), headers: headers, transferEncoding: encoding)
    }

    @Test func multipartAlternativeReadsBack() throws {
        let text = "Wert 12,5 über Erwartung.\nZeile mit = Zeichen und Leerzeichen am Ende \n.ein Punkt am Zeilenanfang"
        let html = "<p>Wert <b>12,5</b> über Erwartung — 🚨</p>"
        let rendered = try message(subject: "Anomalie: Temperatur über Grenzwert 🚨", text: text, html: html).rendered()
        let mime = try MIMEReader(rendered)
        #expect(mime.header("From") == "AD Worker <adworker@example.com>")
        #expect(mime.header("To") == "oncall@example.com, \"Ops, Team\" <ops@example.org>")
        #expect(mime.header("Subject")?.hasPrefix("=?UTF-8?B?") == true)
        #expect(mime.decodedHeader("Subject") == "Anomalie: Temperatur über Grenzwert 🚨")
        #expect(mime.header("Date") == "Tue, 01 Jul 2025 10:00:00 +0000")
        #expect(mime.header("Message-ID") == "<alert-42@adworker>")
        #expect(mime.header("MIME-Version") == "1.0")
        #expect(mime.header("X-AD-Alert-Id") == "42")
        let contentType = try #require(mime.header("Content-Type"))
        #expect(contentType.hasPrefix("multipart/alternative;"))
        let boundary = try #require(MIMEReader.parameter("boundary", in: contentType))
        let parts = try mime.parts(boundary: boundary)
        #expect(parts.count == 2)
        #expect(parts[0].header("Content-Type") == "text/plain; charset=UTF-8")
        #expect(parts[1].header("Content-Type") == "text/html; charset=UTF-8")
        #expect(parts.allSatisfy { $0.header("Content-Transfer-Encoding") == "quoted-printable" })
        #expect(try parts[0].decodedBody() == text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(try parts[1].decodedBody() == html)
        #expect(!rendered.contains("\r\n.e"))  // the leading dot is encoded, not left to dot-stuffing
        checkLines(rendered)
    }

    @Test func base64Parts() throws {
        let text = String(repeating: "Ünïcödé ", count: 40)
        let mime = try MIMEReader(try message(text: text, encoding: .base64).rendered())
        let boundary = try #require(MIMEReader.parameter("boundary", in: mime.header("Content-Type") ?? ""))
        let parts = try mime.parts(boundary: boundary)
        #expect(parts[0].header("Content-Transfer-Encoding") == "base64")
        #expect(try parts[0].decodedBody() == text)
        #expect(parts[0].body.components(separatedBy: "\r\n").allSatisfy { $0.count <= 76 })
    }

    @Test func textOnlyIsSinglePart() throws {
        let mime = try MIMEReader(try message(html: nil).rendered())
        #expect(mime.header("Content-Type") == "text/plain; charset=UTF-8")
        #expect(mime.header("Content-Transfer-Encoding") == "quoted-printable")
        #expect(try mime.decodedBody() == "Value 12.5 is far above the expected 3.1.\r\nSee the dashboard.\r\n")
    }

    @Test func longLinesAreWrapped() throws {
        let longWord = String(repeating: "x", count: 3000)
        let subject = (0..<60).map { "word\($0)" }.joined(separator: " ")
        let rendered = try message(
            subject: subject, text: longWord + "\n" + String(repeating: "ä", count: 700),
            headers: [EmailHeader("X-Long", longWord)]
        ).rendered()
        checkLines(rendered)
        let mime = try MIMEReader(rendered)
        #expect(mime.header("Subject") == subject)  // folded at spaces, unfolds to the original
        #expect(mime.decodedHeader("X-Long") == longWord)
        let boundary = try #require(MIMEReader.parameter("boundary", in: mime.header("Content-Type") ?? ""))
        #expect(
            try mime.parts(boundary: boundary)[0].decodedBody() == longWord + "\r\n"
                + String(repeating: "ä", count: 700))
    }

    @Test func manyRecipientsFoldTheToHeader() throws {
        let recipients = try (0..<12).map { i in
            try EmailAddress("person\(i)@example.com", displayName: i % 3 == 0 ? "Bereitschaft Nr. \(i) – Köln" : nil)
        }
        let rendered = try EmailMessage(
            from: from, to: recipients, subject: "s", textBody: "t", messageID: "m@adworker"
        ).rendered()
        checkLines(rendered)
        let to = try #require(try MIMEReader(rendered).decodedHeader("To"))
        #expect(to.components(separatedBy: ", ") == recipients.map(\.description))
    }

    @Test func quotedPrintableDetails() throws {
        let encoded = BodyEncoding.quotedPrintable("a=b tab\tend \nFrom here\n." + String(repeating: "y", count: 100))
        let lines = encoded.components(separatedBy: "\r\n")
        #expect(lines[0] == "a=3Db tab\tend=20")
        #expect(lines[1] == "=46rom here")
        #expect(lines[2].hasPrefix("=2Eyyy"))
        #expect(lines.allSatisfy { $0.count <= 76 })
        #expect(
            try MIMEReader.decodeQuotedPrintable(encoded) == "a=b tab\tend \r\nFrom here\r\n."
                + String(repeating: "y", count: 100))
        // Escapes and spaces at every position around the soft line break survive intact.
        for n in 60..<80 {
            let text = String(repeating: "a", count: n) + "é€🚨 =\t." + String(repeating: " ", count: n % 3) + "\nFrom x"
            let qp = BodyEncoding.quotedPrintable(text)
            #expect(
                qp.components(separatedBy: "\r\n").allSatisfy {
                    $0.count <= 76 && !$0.hasSuffix(" ") && !$0.hasPrefix(".")
                }, "\(n)")
            #expect(
                try MIMEReader.decodeQuotedPrintable(qp) == text.replacingOccurrences(of: "\n", with: "\r\n"), "\(n)")
        }
    }

    @Test func headerInjectionIsRejected() throws {
        #expect(throws: EmailMessageError.headerInjection(field: "Subject")) {
            try message(subject: "Alert\r\nBcc: victim@example.com")
        }
        #expect(throws: EmailMessageError.headerInjection(field: "Subject")) { try message(subject: "Alert\nX: y") }
        #expect(throws: EmailMessageError.headerInjection(field: "X-AD-Alert-Id")) {
            try message(headers: [EmailHeader("X-AD-Alert-Id", "42\r\nBcc: victim@example.com")])
        }
        #expect(throws: EmailMessageError.headerInjection(field: "display name of a@example.com")) {
            try EmailAddress("a@example.com", displayName: "Eve\r\nBcc: x@y.z")
        }
        #expect(throws: EmailMessageError.invalidHeaderName("Bad Header")) {
            try message(headers: [EmailHeader("Bad Header", "x")])
        }
        #expect(throws: EmailMessageError.invalidHeaderName("X:Y")) { try message(headers: [EmailHeader("X:Y", "x")]) }
        #expect(throws: EmailMessageError.reservedHeader("bcc")) { try message(headers: [EmailHeader("bcc", "x@y.z")]) }
        #expect(throws: (any Error).self) { try message(subject: "nul \u{0} here") }
        let error = EmailMessageError.headerInjection(field: "Subject")
        #expect(error.description.contains("line break"))
    }

    @Test func messageIDAndRecipients() throws {
        #expect(EmailMessage.messageID(alertID: "7f3e 9a/1") == "alert-7f3e-9a-1@adworker")
        #expect(throws: EmailMessageError.invalidMessageID("no-at-sign")) {
            try EmailMessage(from: from, to: [from], subject: "s", textBody: "t", messageID: "no-at-sign")
        }
        #expect(throws: EmailMessageError.headerInjection(field: "Message-ID")) {
            try EmailMessage(from: from, to: [from], subject: "s", textBody: "t", messageID: "a@b\r\nX: y")
        }
        #expect(throws: EmailMessageError.noRecipients) {
            try EmailMessage(from: from, to: [], subject: "s", textBody: "t", messageID: "a@b")
        }
        let m = try EmailMessage(
            from: from, to: [from, try EmailAddress("ADWORKER@example.com")], subject: "s", textBody: "t",
            messageID: "<a@b>")
        #expect(m.to.count == 1)
        #expect(m.messageID == "a@b")
    }

    @Test func addresses() throws {
        #expect(try EmailAddress.parse("Ops <ops@example.com>") == EmailAddress("ops@example.com", displayName: "Ops"))
        #expect(try EmailAddress.parse("\"Ops, \\\"Team\\\"\" <ops@example.com>").displayName == "Ops, \"Team\"")
        #expect(try EmailAddress.parse(" ops@example.com ").address == "ops@example.com")
        #expect(try EmailAddress.parse("<ops@[127.0.0.1]>").address == "ops@[127.0.0.1]")
        for bad in ["", "no-at", "a@", "@b.c", "a b@c.d", "a..b@c.d", "a@-b.c", "ü@b.c", "a@b_c.d", "a@b.c>"] {
            #expect(throws: (any Error).self, "\(bad)") { try EmailAddress.parse(bad) }
        }
        let rendered = try EmailMessage(
            from: EmailAddress("a@b.c", displayName: "Jürgen Ops"), to: [EmailAddress("x@y.z")],
            subject: "s", textBody: "t", messageID: "m@b"
        ).rendered()
        #expect(try MIMEReader(rendered).decodedHeader("From") == "Jürgen Ops <a@b.c>")
    }

    private func checkLines(_ rendered: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(rendered.hasSuffix("\r\n"), sourceLocation: sourceLocation)
        #expect(
            !rendered.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "bare LF",
            sourceLocation: sourceLocation)
        #expect(
            !rendered.replacingOccurrences(of: "\r\n", with: "").contains("\r"), "bare CR",
            sourceLocation: sourceLocation)
        let lines = rendered.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 }, sourceLocation: sourceLocation)
        #expect(rendered.unicodeScalars.allSatisfy { $0.isASCII }, "7-bit", sourceLocation: sourceLocation)
        let headerLines = lines.prefix { !$0.isEmpty }
        #expect(
            headerLines.allSatisfy { $0.count <= 78 }, "\(headerLines.filter { $0.count > 78 })",
            sourceLocation: sourceLocation)
    }
}
