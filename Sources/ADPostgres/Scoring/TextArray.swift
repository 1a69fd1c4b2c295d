import NIOCore
import PostgresNIO

/// Texts written into one byte buffer and bound as one `text[]`, without a `String` per element: the worker's
/// features, one per scored point (creating, validating and copying 5,000 strings a batch, then encoding each,
/// showed in its profile). The bytes must be UTF-8; the server checks them as it does any text.
struct TextArray: PostgresNonThrowingEncodable {
    static var psqlType: PostgresDataType { .textArray }
    static var psqlFormat: PostgresFormat { .binary }

    private var bytes: [UInt8] = []
    /// Where each element ends in `bytes`.
    private var ends: [Int] = []

    init(reservingBytes: Int = 0, count: Int = 0) {
        bytes.reserveCapacity(reservingBytes)
        ends.reserveCapacity(count)
    }

    var count: Int { ends.count }

    /// Appends one element, which `write` appends to the buffer.
    mutating func append(_ write: (inout [UInt8]) -> Void) {
        write(&bytes)
        ends.append(bytes.count)
    }

    /// The element at `i` (for tests and logs).
    subscript(i: Int) -> String {
        String(decoding: bytes[(i == 0 ? 0 : ends[i - 1])..<ends[i]], as: UTF8.self)
    }

    /// The binary array format, as PostgresNIO writes `[String]`: dimensions, flags, element type, then each
    /// element's length and bytes.
    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeInteger(ends.isEmpty ? 0 : 1, as: UInt32.self)  // dimensions
        buffer.writeInteger(0, as: Int32.self)  // no nulls
        buffer.writeInteger(PostgresDataType.text.rawValue)
        guard !ends.isEmpty else { return }
        buffer.writeInteger(Int32(ends.count))
        buffer.writeInteger(1, as: Int32.self)  // lower bound
        bytes.withUnsafeBytes { all in
            var start = 0
            for end in ends {
                buffer.writeInteger(Int32(end - start))
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                start = end
            }
        }
    }
}
