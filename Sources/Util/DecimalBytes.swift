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
        // Most values are small (ports, octets, counts): digits appended
        // from the highest power of ten down, no scratch buffer.
        var divisor: UInt = 1
        while value / divisor >= 10 { divisor &*= 10 }
        var rest = value
        while true {
            append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            if divisor == 1 { return }
            divisor /= 10
        }
    }

    /// Appends the UTF-8 bytes of `text` with one copy (small strings,
    /// which have no contiguous storage of their own, from the stack).
    public mutating func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }
}
