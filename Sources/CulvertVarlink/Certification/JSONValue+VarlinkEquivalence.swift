// JSONValue+VarlinkEquivalence: value equality as varlink peers mean it, for comparing a
// received message with the certification script.

extension JSONValue {
    /// Whether two values carry the same varlink data, regardless of spelling.
    ///
    /// Two differences in spelling are ignored, both of which the reference implementations
    /// produce: an object member whose value is null equals an absent member (the validator's
    /// "null counts as absent"; python drops null optionals, other peers send them), and numbers
    /// compare by value, so `1` equals `1.0` (a `float` may arrive written without a fraction).
    /// Everything else must match exactly; array order matters, object key order does not.
    public func isVarlinkEquivalent(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            // Exact: a double equals an int only when it is that integer, without rounding the int.
            guard b.rounded() == b, b >= -0x1p63, b < 0x1p63 else { return false }
            return Int64(b) == a
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isVarlinkEquivalent(to: $1) }
        case (.object(let a), .object(let b)):
            let presentA = a.filter { $0.value != .null }
            let presentB = b.filter { $0.value != .null }
            guard presentA.count == presentB.count else { return false }
            for (key, value) in presentA {
                guard let counterpart = presentB[key], value.isVarlinkEquivalent(to: counterpart) else { return false }
            }
            return true
        default:
            return self == other
        }
    }
}
