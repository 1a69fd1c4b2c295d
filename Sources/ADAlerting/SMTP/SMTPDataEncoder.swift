/// Prepares message text for the DATA phase (RFC 5321 §4.5.2): every line ending becomes CRLF (bare LF and bare CR
/// included), a line starting with "." gets a second ".", and the result ends with the terminating `CRLF.CRLF`.
/// Pure.
public enum SMTPDataEncoder {
    /// The bytes to send after the server's 354 reply, including the final `.` line.
    public static func encode(_ message: String) -> [UInt8] {
        encode(bytes: Array(message.utf8))
    }

    /// The bytes to send after the server's 354 reply, including the final `.` line.
    public static func encode(bytes message: some Collection<UInt8>) -> [UInt8] {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), dot = UInt8(ascii: ".")
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 50 + 5)
        var atLineStart = true, afterCR = false
        for byte in message {
            if afterCR {
                afterCR = false
                if byte == lf { continue }  // the LF of a CRLF already written
            }
            switch byte {
            case cr:
                out += [cr, lf]; atLineStart = true; afterCR = true
            case lf:
                out += [cr, lf]; atLineStart = true
            default:
                if atLineStart, byte == dot { out.append(dot) }
                out.append(byte)
                atLineStart = false
            }
        }
        if !atLineStart { out += [cr, lf] }
        out += [dot, cr, lf]
        return out
    }
}
