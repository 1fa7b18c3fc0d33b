/// PostgreSQL's text forms of float4/float8: float4out/float8out with the default
/// extra_float_digits = 1 print the shortest decimal that lies strictly inside the value's
/// rounding interval (PostgreSQL's Ryu port excludes the interval's bounds), the one closest to
/// the value; fixed notation for decimal exponents -4..<15 (float4: -4..<6), else `d.ddde±XX`.
/// Standard library only.
enum PGFloatText {
    /// float8in for what float8out prints (plain decimal forms, NaN, ±Infinity).
    static func parseDouble<Bytes: Collection>(_ text: Bytes) -> Double? where Bytes.Element == UInt8 {
        let string = String(decoding: Array(text), as: UTF8.self)
        switch string {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return isPlainNumber(string) ? Double(string) : nil
        }
    }

    static func parseFloat<Bytes: Collection>(_ text: Bytes) -> Float? where Bytes.Element == UInt8 {
        let string = String(decoding: Array(text), as: UTF8.self)
        switch string {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return isPlainNumber(string) ? Float(string) : nil
        }
    }

    /// Digits, sign, point and exponent only (Swift's parser also takes "inf", "0x1p3", ...).
    private static func isPlainNumber(_ string: String) -> Bool {
        !string.isEmpty && string.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E")
        }
    }

    /// float8out.
    static func text(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        let bits = value.magnitude.bitPattern
        let fraction = bits & ((1 << 52) - 1), biased = Int(bits >> 52)
        let binary = Binary(
            mantissa: biased == 0 ? fraction : fraction | (1 << 52),
            exponent: (biased == 0 ? 1 : biased) - 1075,
            narrowBelow: fraction == 0 && biased > 1)
        return render(shortest(value.magnitude.description, binary), negative: value < 0, fixedBelow: 15)
    }

    /// float4out.
    static func text(_ value: Float) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        let bits = value.magnitude.bitPattern
        let fraction = UInt64(bits & ((1 << 23) - 1)), biased = Int(bits >> 23)
        let binary = Binary(
            mantissa: biased == 0 ? fraction : fraction | (1 << 23),
            exponent: (biased == 0 ? 1 : biased) - 150,
            narrowBelow: fraction == 0 && biased > 1)
        return render(shortest(value.magnitude.description, binary), negative: value < 0, fixedBelow: 6)
    }

    /// A positive finite binary float: mantissa * 2^exponent. Its rounding interval reaches
    /// half an ulp either side, only a quarter below at a power of two (`narrowBelow`).
    struct Binary {
        var mantissa: UInt64
        var exponent: Int
        var narrowBelow: Bool

        /// The interval's bounds as odd * 2^power.
        var upper: (odd: UInt64, power: Int) { (2 * mantissa + 1, exponent - 1) }
        var lower: (odd: UInt64, power: Int) { narrowBelow ? (4 * mantissa - 1, exponent - 2) : (2 * mantissa - 1, exponent - 1) }
    }

    /// Significant digits (no trailing zeros) and the decimal exponent of the first.
    typealias Decimal = (digits: [UInt8], exponent: Int)

    /// The shortest digits: Swift's `description` (shortest and closest, but it accepts the
    /// interval's bounds, which PostgreSQL does not), or, when that lands on a bound, the
    /// search PostgreSQL's rule implies.
    static func shortest(_ description: String, _ binary: Binary) -> Decimal {
        let swift = decimal(ofDescription: description)
        var value: UInt64 = 0
        for digit in swift.digits { value = value * 10 + UInt64(digit) }
        let power10 = swift.exponent - (swift.digits.count - 1)
        if !equals(value, power10, binary.upper) && !equals(value, power10, binary.lower) { return swift }
        return exactShortest(binary, from: swift.digits.count)
    }

    /// Splits Swift's description ("1.5", "100000.0", "1e-05", "1.2345678e+17").
    static func decimal(ofDescription description: String) -> Decimal {
        var mantissa = Substring(description)
        var exponentPart = 0
        if let e = description.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = description[..<e]
            exponentPart = Int(description[description.index(after: e)...])!
        }
        var digits: [UInt8] = []
        var pointPosition: Int? = nil
        for byte in mantissa.utf8 {
            if byte == UInt8(ascii: ".") { pointPosition = digits.count } else { digits.append(byte - UInt8(ascii: "0")) }
        }
        var integerDigits = pointPosition ?? digits.count
        while let first = digits.first, first == 0 { digits.removeFirst(); integerDigits -= 1 }
        while let last = digits.last, last == 0 { digits.removeLast() }
        return (digits, integerDigits - 1 + exponentPart)
    }

    /// Whether value * 10^power10 == odd * 2^power2 (odd is odd), exactly.
    private static func equals(_ value: UInt64, _ power10: Int, _ bound: (odd: UInt64, power: Int)) -> Bool {
        let twos = value.trailingZeroBitCount
        let valueOdd = value >> UInt64(twos)
        // value * 10^p = valueOdd * 5^p * 2^(twos + p): compare the powers of two, then the
        // odd parts (5^p moved to the side where it is a factor).
        guard twos + power10 == bound.power else { return false }
        var left = valueOdd, right = bound.odd
        for _ in 0..<power10.magnitude {
            if power10 > 0 {
                let (product, overflow) = left.multipliedReportingOverflow(by: 5)
                if overflow { return false }
                left = product
            } else {
                let (product, overflow) = right.multipliedReportingOverflow(by: 5)
                if overflow { return false }
                right = product
            }
        }
        return left == right
    }

    /// PostgreSQL's choice by exact decimal arithmetic: the fewest digits (from `minimumDigits`)
    /// at which a rounding of the value lies strictly inside the interval, the closer of the
    /// two roundings when both do (a tie goes to the even digit).
    static func exactShortest(_ binary: Binary, from minimumDigits: Int) -> Decimal {
        let value = exact(binary.mantissa, binary.exponent)
        let upper = exact(binary.upper.odd, binary.upper.power)
        let lower = exact(binary.lower.odd, binary.lower.power)
        let lead = value.leadingExponent
        for count in max(minimumDigits, 1)...40 {
            // Truncate to `count` significant digits (down), and that plus one unit (up).
            var down = value
            if down.digits.count > count {
                for index in count..<down.digits.count { down.digits[index] = 0 }
            }
            let unitPower = lead - count + 1
            let unit = unitPower >= 0
                ? PGNumeric(kind: .finite, negative: false, digits: [1] + [UInt8](repeating: 0, count: unitPower), scale: 0)
                : PGNumeric(kind: .finite, negative: false, digits: [1], scale: -unitPower)
            let up = down + unit
            func inside(_ candidate: PGNumeric) -> Bool {
                PGNumeric.compare(lower, candidate) < 0 && PGNumeric.compare(candidate, upper) < 0
            }
            let exact = PGNumeric.compare(down, value) == 0
            var choice: PGNumeric?
            switch (inside(down), !exact && inside(up)) {
            case (true, true):
                let below = value + negated(down), above = up + negated(value)
                let order = PGNumeric.compare(below, above)
                if order != 0 {
                    choice = order < 0 ? down : up
                } else {
                    choice = down.digit(atExponent: unitPower) % 2 == 0 ? down : up
                }
            case (true, false): choice = down
            case (false, true): choice = up
            case (false, false): choice = nil
            }
            if let choice {
                var digits = choice.digits
                while let last = digits.last, last == 0 { digits.removeLast() }
                return (digits, choice.leadingExponent)
            }
        }
        preconditionFailure("no decimal inside the rounding interval")
    }

    private static func negated(_ value: PGNumeric) -> PGNumeric {
        var copy = value
        copy.negative = !copy.digits.isEmpty && !value.negative
        return copy
    }

    /// mantissa * 2^exponent as an exact decimal.
    static func exact(_ mantissa: UInt64, _ exponent: Int) -> PGNumeric {
        var digits = Array(String(mantissa).utf8).map { $0 - UInt8(ascii: "0") }
        // Multiply by 2^exponent, or by 5^-exponent and divide by 10^-exponent (the scale).
        var remaining = exponent.magnitude
        let (factor, step): (UInt64, UInt) = exponent >= 0 ? (1 << 28, 28) : (1_220_703_125, 13)  // 2^28, 5^13
        let (single, singleStep): (UInt64, UInt) = exponent >= 0 ? (2, 1) : (5, 1)
        while remaining > 0 {
            let useFull = remaining >= step
            multiply(&digits, by: useFull ? factor : single)
            remaining -= useFull ? step : singleStep
        }
        return PGNumeric(kind: .finite, negative: false, digits: digits, scale: exponent >= 0 ? 0 : Int(exponent.magnitude))
    }

    private static func multiply(_ digits: inout [UInt8], by factor: UInt64) {
        var carry: UInt64 = 0
        for index in stride(from: digits.count - 1, through: 0, by: -1) {
            let product = UInt64(digits[index]) * factor + carry
            digits[index] = UInt8(product % 10)
            carry = product / 10
        }
        var prefix: [UInt8] = []
        while carry > 0 {
            prefix.append(UInt8(carry % 10))
            carry /= 10
        }
        if !prefix.isEmpty { digits.insert(contentsOf: prefix.reversed(), at: 0) }
    }

    /// Prints significant digits as PostgreSQL does.
    static func render(_ decimal: Decimal, negative: Bool, fixedBelow: Int) -> String {
        let (digits, exponent) = decimal
        let characters = digits.map { Character(Unicode.Scalar($0 + UInt8(ascii: "0"))) }
        var out = negative ? "-" : ""
        if exponent >= -4 && exponent < fixedBelow {
            if exponent < 0 {
                out += "0." + String(repeating: "0", count: -exponent - 1) + String(characters)
            } else if characters.count <= exponent + 1 {
                out += String(characters) + String(repeating: "0", count: exponent + 1 - characters.count)
            } else {
                out += String(characters[0...exponent]) + "." + String(characters[(exponent + 1)...])
            }
            return out
        }
        out.append(characters[0])
        if characters.count > 1 { out += "." + String(characters[1...]) }
        let magnitude = exponent.magnitude
        out += (exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        return out
    }
}
