// DecimalBytes: integers (as ASCII decimal digits) and strings appended
// straight to a byte buffer, for the formatting done per message (log
// statistics, addresses, Stream's output) where String(value) and
// interpolation cost an allocation and a generic description call each.

extension Array where Element == UInt8 {
    /// Appends `value` in decimal ("-" first when negative).
    public mutating func appendDecimal(_ value: Int) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            // -Int.min does not fit: its magnitude is formatted unsigned.
            appendDecimal(magnitude: value.magnitude)
        } else {
            appendDecimal(magnitude: UInt(value))
        }
    }

    private mutating func appendDecimal(magnitude value: UInt) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt.max has 20 digits
        var count = 0
        var rest = value
        Swift.withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            append(contentsOf: buffer[(24 - count)...])
        }
    }

    /// Appends the UTF-8 bytes of `text` with one copy (small strings,
    /// which have no contiguous storage of their own, from the stack).
    public mutating func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }
}
