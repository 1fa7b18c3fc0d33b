extension ConfigLoader {
    /// What a duration string such as `"30s"` turned out to be.
    enum DurationText: Equatable {
        case milliseconds(Int64)
        case negative
        case tooLarge
        /// Digits alone, like `"30"`: seconds or milliseconds? Too easy to get wrong to guess.
        case missingUnit
        case malformed
    }

    /// Units a duration string may end with, longest first so `ms` is not read as `m`.
    private static let durationUnits: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
    ]

    /// Reads `"250ms"`, `"30s"`, `"5m"`, `"1h"` (a space before the unit and `_` between digits
    /// allowed, as in TOML integers) and `"0"`.
    static func parseDuration(_ text: String) -> DurationText {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        var rest = text.drop(while: isSpace)
        while let last = rest.last, isSpace(last) { rest = rest.dropLast() }
        var negative = false
        if rest.first == "-" {
            negative = true
            rest = rest.dropFirst()
        }
        let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == "_") }
        let unitText = rest.dropFirst(digits.count).drop { $0 == " " }
        let number = digits.filter { $0 != "_" }
        guard !number.isEmpty, digits.first != "_", digits.last != "_" else { return .malformed }

        let multiplier: Int64
        if unitText.isEmpty {
            guard number.allSatisfy({ $0 == "0" }) else { return .missingUnit }
            multiplier = 1
        } else if let unit = durationUnits.first(where: { $0.suffix == unitText.lowercased() }) {
            multiplier = unit.milliseconds
        } else {
            return .malformed
        }
        guard let value = Int64(number) else { return negative ? .negative : .tooLarge }
        if negative && value != 0 { return .negative }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? .tooLarge : .milliseconds(product)
    }
}
