import NIOCore
import PostgresNIO
import Testing

@testable import ADPostgres

/// The worker's features travel as one buffer bound as `text[]`: the same bytes PostgresNIO sends for `[String]`.
@Suite struct TextArrayEncodesAsAnArrayOfStrings {
    func encoded(_ value: some PostgresNonThrowingEncodable) -> [UInt8] {
        var buffer = ByteBuffer()
        value.encode(into: &buffer, context: .default)
        return Array(buffer.readableBytesView)
    }

    @Test(arguments: [[], [""], ["a", "", "é{\"x\":1}", String(repeating: "z", count: 300)]])
    func sameBytes(_ texts: [String]) {
        var array = TextArray()
        for t in texts { array.append { $0.append(contentsOf: t.utf8) } }
        #expect(array.count == texts.count && texts.indices.allSatisfy { array[$0] == texts[$0] })
        #expect(type(of: array).psqlType == [String].psqlType)
        #expect(encoded(array) == encoded(texts))
    }
}
