import ADCore
import Foundation
import Testing

@testable import ADAlerting

@Suite("SMTP reply parser")
struct SMTPReplyParserTests {
    @Test func singleAndMultiLineReplies() throws {
        let replies = try SMTPReplyParser.parse(
            "220 mx.example.com ESMTP ready\r\n250-mx.example.com\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n354\r\n"
        )
        #expect(replies.count == 3)
        #expect(replies[0] == SMTPReply(code: 220, lines: ["mx.example.com ESMTP ready"]))
        #expect(replies[1].code == 250)
        #expect(replies[1].lines == ["mx.example.com", "SIZE 1000", "AUTH PLAIN LOGIN", "STARTTLS"])
        #expect(replies[2] == SMTPReply(code: 354, lines: [""]))
        #expect(replies[2].description == "354")
    }

    @Test func bytesArriveInPieces() throws {
        var parser = SMTPReplyParser()
        let text = "250-first\r\n250 last\r\n535 5.7.8 Authentication credentials invalid\n"
        var replies: [SMTPReply] = []
        for byte in text.utf8 {
            parser.append([byte])
            if let reply = try parser.nextReply() { replies.append(reply) }
        }
        #expect(replies.map(\.description) == ["250 first last", "535 5.7.8 Authentication credentials invalid"])
        #expect(replies[1].enhancedStatusCode == "5.7.8")
        #expect(replies[1].isPermanentNegative)
        #expect(replies[0].enhancedStatusCode == nil)
        #expect(!parser.hasBufferedInput)
    }

    @Test func partialInputIsBuffered() throws {
        var parser = SMTPReplyParser()
        parser.append("250-one\r\n250 tw".utf8)
        #expect(try parser.nextReply() == nil)
        #expect(parser.hasBufferedInput)
        parser.append("o\r\n".utf8)
        #expect(try parser.nextReply()?.lines == ["one", "two"])
    }

    @Test func malformedReplies() {
        #expect(throws: SMTPReplyParser.Failure.malformedLine("hello")) { try SMTPReplyParser.parse("hello\r\n") }
        #expect(throws: SMTPReplyParser.Failure.malformedLine("250x")) { try SMTPReplyParser.parse("250x\r\n") }
        #expect(throws: SMTPReplyParser.Failure.malformedLine("150 no")) { try SMTPReplyParser.parse("150 no\r\n") }
        #expect(throws: SMTPReplyParser.Failure.inconsistentCode(expected: 250, got: 251)) {
            try SMTPReplyParser.parse("250-a\r\n251 b\r\n")
        }
        #expect(throws: SMTPReplyParser.Failure.lineTooLong) {
            try SMTPReplyParser.parse("250 " + String(repeating: "x", count: SMTPReplyParser.maximumLineLength + 10))
        }
    }

    @Test func ehloCapabilities() throws {
        let reply = try #require(
            try SMTPReplyParser.parse(
                "250-mx.example.com Hello\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250-AUTH=LOGIN\r\n250-auth plain login\r\n250 STARTTLS\r\n"
            ).first)
        let capabilities = SMTPCapabilities(ehloReply: reply)
        #expect(capabilities.startTLS)
        #expect(capabilities.authMechanisms == ["LOGIN", "PLAIN"])
        #expect(capabilities.maximumMessageSize == 10_240_000)
        #expect(capabilities.supports("8bitmime"))
        #expect(!capabilities.supports("MX.EXAMPLE.COM"))  // the greeting line is not an extension
        #expect(SMTPCapabilities().authMechanisms.isEmpty)
    }
}

@Suite("SMTP DATA encoding")
struct SMTPDataEncoderTests {
    private func encoded(_ text: String) -> String { String(decoding: SMTPDataEncoder.encode(text), as: UTF8.self) }

    @Test func dotStuffing() {
        #expect(encoded(".hello\r\n..two\r\nmid.dle\r\n.") == "..hello\r\n...two\r\nmid.dle\r\n..\r\n.\r\n")
    }

    @Test func lineEndingsBecomeCRLF() {
        #expect(encoded("a\nb\rc\r\nd") == "a\r\nb\r\nc\r\nd\r\n.\r\n")
        #expect(encoded("a\n\n.b\n") == "a\r\n\r\n..b\r\n.\r\n")
        #expect(encoded("a\r\r\nb") == "a\r\n\r\nb\r\n.\r\n")
    }

    @Test func terminator() {
        #expect(encoded("") == ".\r\n")
        #expect(encoded("x\r\n") == "x\r\n.\r\n")
    }
}

@Suite("SMTP errors")
struct SMTPErrorTests {
    @Test func transientOrPermanent() {
        let r535 = SMTPReply(code: 535, lines: ["5.7.8 Authentication credentials invalid"])
        let r454 = SMTPReply(code: 454, lines: ["4.7.0 Temporary authentication failure"])
        let auth = SMTPError(.authenticationFailed, stage: .auth, reply: r535, message: "refused")
        #expect(auth.isPermanent && !auth.isTransient)
        #expect(auth.replyCode == 535)
        #expect(auth.description.contains("535 5.7.8 Authentication credentials invalid"))
        #expect(SMTPError(.authenticationFailed, stage: .auth, reply: r454, message: "x").isTransient)
        #expect(SMTPError(.connectionFailed, stage: .connect, message: "refused").isTransient)
        #expect(SMTPError(.timeout, stage: .greeting, message: "slow").isTransient)
        #expect(SMTPError(.tlsFailed, stage: .tlsHandshake, message: "bad cert").isPermanent)
        let r550 = SMTPReply(code: 550, lines: ["no"]), r450 = SMTPReply(code: 450, lines: ["later"])
        let allPermanent = SMTPError(
            .recipientsRejected, stage: .rcptTo, reply: r550, message: "x",
            rejectedRecipients: [SMTPRecipientRejection(address: "a@x.org", reply: r550)])
        #expect(allPermanent.isPermanent)
        let someTransient = SMTPError(
            .recipientsRejected, stage: .rcptTo, reply: r550, message: "x",
            rejectedRecipients: [
                SMTPRecipientRejection(address: "a@x.org", reply: r450),
                SMTPRecipientRejection(address: "b@x.org", reply: r550),
            ])
        #expect(someTransient.isTransient)
    }
}
