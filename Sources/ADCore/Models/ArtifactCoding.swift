/// The artifact's binary encoding: little-endian fixed-width integers, IEEE doubles by bit pattern (so a decoded
/// model scores exactly as the encoded one), strings as a UInt32 byte count then UTF-8. Written by hand because
/// the format must be stable and versioned across releases and decoding must treat every byte as hostile:
/// every count is checked against its documented bound and against the bytes that remain before anything is
/// allocated, and every read checks that the bytes are there.
struct ArtifactWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ v: Int) { u32(UInt32(v)) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        int(utf8.count)
        bytes.append(contentsOf: utf8)
    }
    mutating func doubles(_ a: [Double]) { for v in a { f64(v) } }
    mutating func int32s(_ a: [Int32]) { for v in a { u32(UInt32(bitPattern: v)) } }
}

struct ArtifactReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    private func truncated(_ what: String) -> ModelError {
        ModelError(
            field: "artifact",
            message: "truncated: \(what) needs bytes past the end (\(bytes.count) bytes, at offset \(position))")
    }

    mutating func u32(_ what: String) throws(ModelError) -> UInt32 {
        guard remaining >= 4 else { throw truncated(what) }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    mutating func u64(_ what: String) throws(ModelError) -> UInt64 {
        guard remaining >= 8 else { throw truncated(what) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    /// A count, checked against its bound and against the bytes left (`elementSize` bytes at least per element)
    /// before the caller allocates anything for it.
    mutating func count(_ what: String, min: Int = 0, max: Int, elementSize: Int) throws(ModelError) -> Int {
        let raw = try u32(what)
        guard raw <= UInt32(Int32.max), Int(raw) >= min, Int(raw) <= max else {
            throw ModelError(field: "artifact", message: "\(what) is \(raw); allowed: \(min) to \(max)")
        }
        let n = Int(raw)
        guard n * elementSize <= remaining else { throw truncated("\(what) (\(n))") }
        return n
    }

    /// A finite double (NaN and infinities are refused: no stored parameter may be one).
    mutating func f64(_ what: String) throws(ModelError) -> Double {
        let v = Double(bitPattern: try u64(what))
        guard v.isFinite else { throw ModelError(field: "artifact", message: "\(what) is \(v); must be finite") }
        return v
    }

    mutating func doubles(_ n: Int, _ what: String) throws(ModelError) -> [Double] {
        guard n * 8 <= remaining else { throw truncated(what) }
        var out = [Double]()
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try f64(what)) }
        return out
    }

    mutating func int32s(_ n: Int, _ what: String) throws(ModelError) -> [Int32] {
        guard n * 4 <= remaining else { throw truncated(what) }
        var out = [Int32]()
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(Int32(bitPattern: try u32(what))) }
        return out
    }

    mutating func string(_ what: String, maxBytes: Int = 1024) throws(ModelError) -> String {
        let n = try count("\(what)'s length", max: maxBytes, elementSize: 1)
        let slice = bytes[position..<(position + n)]
        position += n
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw ModelError(field: "artifact", message: "\(what) is not valid UTF-8")
        }
        return s
    }

    func finish() throws(ModelError) {
        guard remaining == 0 else {
            throw ModelError(field: "artifact", message: "\(remaining) unexpected bytes after the model's end")
        }
    }
}
