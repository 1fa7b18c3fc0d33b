/// Exact decimal arithmetic on PostgreSQL `numeric` text, as the cross-shard merge needs it:
/// parse what numeric_out prints, add exactly, compare, divide by a count the way numeric_div
/// does (select_div_scale, then round half away from zero), print as numeric_out.
/// Standard library only.
struct PGNumeric: Sendable {
    enum Kind: Sendable { case finite, nan, positiveInfinity, negativeInfinity }

    var kind: Kind
    var negative: Bool
    /// The magnitude's unscaled decimal digits (0...9), most significant first, no leading
    /// zeros; empty for zero.
    var digits: [UInt8]
    /// Digits after the decimal point (PostgreSQL's display scale, dscale).
    var scale: Int

    static let nan = PGNumeric(kind: .nan, negative: false, digits: [], scale: 0)
    static let zero = PGNumeric(kind: .finite, negative: false, digits: [], scale: 0)

    init(kind: Kind, negative: Bool, digits: [UInt8], scale: Int) {
        self.kind = kind
        self.negative = negative
        self.digits = digits
        self.scale = scale
    }

    init(_ value: Int64) {
        kind = .finite
        negative = value < 0
        digits = Array(String(value.magnitude).utf8).map { $0 - 48 }
        if digits == [0] { digits = [] }
        scale = 0
    }

    var isZero: Bool { kind == .finite && digits.isEmpty }

    /// Parses numeric_out's text (also int2/int4/int8 text): `[-]digits[.digits]`, `NaN`,
    /// `Infinity`, `-Infinity`. Nil for anything else.
    init?<Bytes: Collection>(text: Bytes) where Bytes.Element == UInt8 {
        let bytes = Array(text)
        switch bytes {
        case Array("NaN".utf8): self = .nan; return
        case Array("Infinity".utf8): self.init(kind: .positiveInfinity, negative: false, digits: [], scale: 0); return
        case Array("-Infinity".utf8): self.init(kind: .negativeInfinity, negative: true, digits: [], scale: 0); return
        default: break
        }
        var index = 0
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(bytes.count)
        var scale = 0
        var sawPoint = false
        var sawDigit = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                sawDigit = true
                if !(digits.isEmpty && byte == UInt8(ascii: "0")) { digits.append(byte - UInt8(ascii: "0")) }
                if sawPoint { scale += 1 }
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                return nil
            }
            index += 1
        }
        guard sawDigit else { return nil }
        // Leading zeros of the fraction ("0.05") were dropped above; they are implied by scale.
        self.init(kind: .finite, negative: negative && !digits.isEmpty, digits: digits, scale: scale)
    }

    /// numeric_out's text.
    var text: String {
        switch kind {
        case .nan: return "NaN"
        case .positiveInfinity: return "Infinity"
        case .negativeInfinity: return "-Infinity"
        case .finite: break
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count + scale + 3)
        if negative && !digits.isEmpty { out.append(UInt8(ascii: "-")) }
        let integerCount = digits.count - scale
        if integerCount <= 0 {
            out.append(UInt8(ascii: "0"))
        } else {
            for digit in digits[0..<integerCount] { out.append(digit + UInt8(ascii: "0")) }
        }
        if scale > 0 {
            out.append(UInt8(ascii: "."))
            for position in 0..<scale {
                // The fraction's digit `position` (0 = tenths) is digits[integerCount + position].
                let index = integerCount + position
                out.append((index >= 0 ? digits[index] : 0) + UInt8(ascii: "0"))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The digit at decimal exponent `exponent` (0 = units, -1 = tenths) of the magnitude.
    func digit(atExponent exponent: Int) -> UInt8 {
        let index = digits.count - 1 - scale - exponent
        return index >= 0 && index < digits.count ? digits[index] : 0
    }

    /// Exponent of the most significant nonzero digit (finite, nonzero values only).
    var leadingExponent: Int { digits.count - 1 - scale }

    // MARK: - Addition

    /// Exact sum, as numeric_add: the scale is the larger of the two; NaN and infinities as
    /// PostgreSQL 14+ (NaN absorbs, Infinity + -Infinity is NaN).
    static func + (lhs: PGNumeric, rhs: PGNumeric) -> PGNumeric {
        switch (lhs.kind, rhs.kind) {
        case (.nan, _), (_, .nan): return .nan
        case (.positiveInfinity, .negativeInfinity), (.negativeInfinity, .positiveInfinity): return .nan
        case (.positiveInfinity, _), (.negativeInfinity, _): return lhs
        case (_, .positiveInfinity), (_, .negativeInfinity): return rhs
        case (.finite, .finite): break
        }
        let scale = max(lhs.scale, rhs.scale)
        let a = lhs.unscaled(to: scale)
        let b = rhs.unscaled(to: scale)
        var result = PGNumeric(kind: .finite, negative: false, digits: [], scale: scale)
        if lhs.negative == rhs.negative {
            result.digits = addMagnitudes(a, b)
            result.negative = lhs.negative
        } else {
            let order = compareMagnitudes(a, b)
            if order == 0 { return result }
            result.digits = order > 0 ? subtractMagnitudes(a, b) : subtractMagnitudes(b, a)
            result.negative = order > 0 ? lhs.negative : rhs.negative
        }
        if result.digits.isEmpty { result.negative = false }
        return result
    }

    /// The magnitude's digits with `scale - self.scale` zeros appended.
    private func unscaled(to newScale: Int) -> [UInt8] {
        if digits.isEmpty || newScale == scale { return digits }
        return digits + [UInt8](repeating: 0, count: newScale - scale)
    }

    private static func addMagnitudes(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: max(a.count, b.count) + 1)
        var carry: UInt8 = 0
        var i = a.count - 1, j = b.count - 1, k = result.count - 1
        while k >= 0 {
            var sum = carry
            if i >= 0 { sum += a[i]; i -= 1 }
            if j >= 0 { sum += b[j]; j -= 1 }
            result[k] = sum % 10
            carry = sum / 10
            k -= 1
        }
        return stripLeadingZeros(result)
    }

    /// a - b for magnitudes a > b.
    private static func subtractMagnitudes(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result = a
        var borrow: Int = 0
        var j = b.count - 1
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            var value = Int(a[i]) - borrow - (j >= 0 ? Int(b[j]) : 0)
            j -= 1
            if value < 0 { value += 10; borrow = 1 } else { borrow = 0 }
            result[i] = UInt8(value)
        }
        return stripLeadingZeros(result)
    }

    private static func stripLeadingZeros(_ digits: [UInt8]) -> [UInt8] {
        guard let first = digits.firstIndex(where: { $0 != 0 }) else { return [] }
        return first == 0 ? digits : Array(digits[first...])
    }

    /// Compares magnitudes of equal scale (no leading zeros).
    private static func compareMagnitudes(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return 0
    }

    // MARK: - Comparison

    /// numeric_cmp: -Infinity < finite values < Infinity < NaN; NaN equals NaN; the scale does
    /// not matter (1.0 = 1.00).
    static func compare(_ lhs: PGNumeric, _ rhs: PGNumeric) -> Int {
        func rank(_ kind: Kind) -> Int {
            switch kind {
            case .negativeInfinity: return 0
            case .finite: return 1
            case .positiveInfinity: return 2
            case .nan: return 3
            }
        }
        let (l, r) = (rank(lhs.kind), rank(rhs.kind))
        if l != r { return l < r ? -1 : 1 }
        if lhs.kind != .finite { return 0 }
        let lSign = lhs.digits.isEmpty ? 0 : (lhs.negative ? -1 : 1)
        let rSign = rhs.digits.isEmpty ? 0 : (rhs.negative ? -1 : 1)
        if lSign != rSign { return lSign < rSign ? -1 : 1 }
        if lSign == 0 { return 0 }
        let scale = max(lhs.scale, rhs.scale)
        let magnitude = compareMagnitudes(lhs.unscaled(to: scale), rhs.unscaled(to: scale))
        return lSign > 0 ? magnitude : -magnitude
    }

    /// The same value with trailing fractional zeros removed: equal numerics (numeric_eq) have
    /// equal normalized texts.
    var normalized: PGNumeric {
        guard kind == .finite else { return self }
        var copy = self
        while copy.scale > 0, let last = copy.digits.last, last == 0 {
            copy.digits.removeLast()
            copy.scale -= 1
        }
        if copy.digits.isEmpty { copy.scale = 0; copy.negative = false }
        return copy
    }

    // MARK: - Division by a count (avg)

    /// Weight and first digit of the value in PostgreSQL's base-10000 representation (the
    /// group holding the most significant nonzero digit; group 0 holds 10^0...10^3), as
    /// select_div_scale reads them; (0, 0) for zero.
    var base10000Lead: (weight: Int, firstDigit: Int) {
        guard kind == .finite, !digits.isEmpty else { return (0, 0) }
        let exponent = leadingExponent
        let weight = exponent >= 0 ? exponent / 4 : -((-exponent + 3) / 4)
        var firstDigit = 0
        for position in stride(from: 3, through: 0, by: -1) {
            firstDigit = firstDigit * 10 + Int(digit(atExponent: weight * 4 + position))
        }
        return (weight, firstDigit)
    }

    /// numeric_div's choice of result scale (select_div_scale in numeric.c).
    static func divisionScale(_ dividend: PGNumeric, _ divisor: PGNumeric) -> Int {
        let (weight1, first1) = dividend.base10000Lead
        let (weight2, first2) = divisor.base10000Lead
        var quotientWeight = weight1 - weight2
        if first1 <= first2 { quotientWeight -= 1 }
        var scale = 16 - quotientWeight * 4  // NUMERIC_MIN_SIG_DIGITS, DEC_DIGITS
        scale = max(scale, dividend.scale)
        scale = max(scale, divisor.scale)
        scale = max(scale, 0)  // NUMERIC_MIN_DISPLAY_SCALE
        return min(scale, 1000)  // NUMERIC_MAX_DISPLAY_SCALE
    }

    /// `self / count` as numeric_div(sum, count::numeric) computes avg's result: the scale of
    /// select_div_scale, rounded half away from zero. `count` must be positive.
    func divided(byCount count: Int64) -> PGNumeric {
        precondition(count > 0)
        switch kind {
        case .nan, .positiveInfinity, .negativeInfinity: return self
        case .finite: break
        }
        let resultScale = PGNumeric.divisionScale(self, PGNumeric(count))
        // Long division of digits * 10^(resultScale + 1 - scale) by count: one guard digit,
        // truncated, then rounded.
        let divisor = UInt128(count)
        var remainder: UInt128 = 0
        var quotient: [UInt8] = []
        let extra = resultScale + 1 - scale  // >= 1, as resultScale >= scale
        quotient.reserveCapacity(digits.count + extra)
        for index in 0..<(digits.count + extra) {
            let next = index < digits.count ? digits[index] : 0
            remainder = remainder * 10 + UInt128(next)
            let q = remainder / divisor
            remainder -= q * divisor
            if !(quotient.isEmpty && q == 0) { quotient.append(UInt8(q)) }
        }
        // Round on the guard digit (any further digits only matter for an exact tie, which
        // rounds away from zero anyway).
        let guardDigit = quotient.popLast() ?? 0
        if guardDigit >= 5 {
            var index = quotient.count - 1
            while index >= 0, quotient[index] == 9 { quotient[index] = 0; index -= 1 }
            if index >= 0 { quotient[index] += 1 } else { quotient.insert(1, at: 0) }
        }
        let magnitude = PGNumeric.stripLeadingZeros(quotient)
        return PGNumeric(kind: .finite, negative: negative && !magnitude.isEmpty, digits: magnitude, scale: resultScale)
    }
}
