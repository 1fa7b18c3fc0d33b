import TOMLKit

extension ConfigLoader {
    /// Collects the problems of both files, so one run reports all of them.
    final class ErrorLog {
        private(set) var errors: [ConfigError] = []

        func add(file: String, line: Int?, key: String, reason: String) {
            errors.append(ConfigError(file: file, line: line, key: key, reason: reason))
        }

        /// Whether `key` was already refused; later checks that compare it with other keys stay
        /// quiet then, since they would only repeat the first complaint in other words.
        func hasError(file: String, key: String) -> Bool {
            errors.contains { $0.file == file && $0.key == key }
        }

        /// Config file first, then users file, each by line; problems without a line come last.
        func sorted(fileOrder: [String]) -> [ConfigError] {
            errors.enumerated().sorted { lhs, rhs in
                let left = (fileOrder.firstIndex(of: lhs.element.file) ?? fileOrder.count, lhs.element.line ?? .max, lhs.offset)
                let right = (fileOrder.firstIndex(of: rhs.element.file) ?? fileOrder.count, rhs.element.line ?? .max, rhs.offset)
                return left < right
            }.map(\.element)
        }
    }

    /// Reads typed settings out of one TOML table and records each problem with its file, line and key.
    ///
    /// Every getter returns nil both for a missing key and for a refused value, so the caller keeps
    /// its default and goes on: one bad key must not hide the next one.
    struct SectionReader {
        let table: TOMLTable
        let file: String
        /// Name of the section in the file, e.g. `general` or `databases`.
        let section: String
        /// Position in an array of tables (`[[databases]]`), nil for a plain table.
        let index: Int?
        let source: SourceMap
        let log: ErrorLog

        /// `general` or `databases[1]`, the prefix of every key this reader reports.
        var prefix: String { index.map { "\(section)[\($0)]" } ?? section }

        func path(_ key: String) -> String { prefix + "." + key }

        /// Records a problem with `key`, or with the whole entry when `key` is nil.
        func fail(_ key: String?, _ reason: String) {
            let line = source.line(section: section, index: index ?? 0, key: key)
            log.add(file: file, line: line, key: key.map(path) ?? prefix, reason: reason)
        }

        func failed(_ key: String) -> Bool { log.hasError(file: file, key: path(key)) }

        /// Whether any of `keys`, or the entry itself, was refused.
        func failedAny(_ keys: [String]) -> Bool { keys.contains(where: failed) || log.hasError(file: file, key: prefix) }

        // MARK: - Keys

        /// Refuses every key that is neither in `known` nor a tolerated use of a not-built feature.
        ///
        /// - Parameter elsewhere: known keys of other sections, for "it belongs in [general]".
        func refuseUnknownKeys(known: [String], place: NotBuiltYet.Place, elsewhere: [String: String] = [:]) {
            for key in table.keys.sorted() where !known.contains(key) {
                if let feature = ConfigLoader.notBuiltYet(place, key) {
                    refuse(key, feature)
                } else if let home = elsewhere[key] {
                    // An exact key of another section beats a near miss in this one.
                    fail(key, "unknown key '\(key)' here; it belongs in \(home)")
                } else if let guess = ConfigLoader.closest(to: key, among: known) {
                    fail(key, "unknown key '\(key)'; did you mean '\(guess)'?")
                } else {
                    fail(key, "unknown key '\(key)'")
                }
            }
        }

        /// Refuses a not-built-yet key unless it holds the one value that changes nothing.
        private func refuse(_ key: String, _ entry: NotBuiltYet) {
            switch entry.tolerated {
            case .nothing:
                fail(key, "'\(key)' (\(entry.feature)) \(ConfigLoader.notSupportedYet)")
            case .string(let accepted):
                guard let text = string(key) else { return }
                if text != accepted {
                    fail(key, "\(key) \"\(text)\" (\(entry.feature)) \(ConfigLoader.notSupportedYet); only \"\(accepted)\" is accepted")
                }
            case .boolean(let accepted):
                guard let value = bool(key) else { return }
                if value != accepted {
                    fail(key, "\(key) = \(value) (\(entry.feature)) \(ConfigLoader.notSupportedYet); only \(accepted) is accepted")
                }
            case .integer(let accepted):
                guard let number = int(key) else { return }
                if number != accepted {
                    fail(key, "\(key) \(number) (\(entry.feature)) \(ConfigLoader.notSupportedYet); only \(accepted) is accepted")
                }
            }
        }

        /// Records that a key every entry needs is missing, at the entry's header line.
        func require<T>(_ value: T?, _ key: String) -> T? {
            if value == nil, table[key] == nil { fail(key, "is required") }
            return value
        }

        // MARK: - Typed values

        func int(_ key: String, atLeast low: Int? = nil, atMost high: Int? = nil) -> Int? {
            guard let value = table[key] else { return nil }
            guard value.type == .int, let number = value.int else {
                fail(key, "expected an integer, got \(Self.describe(value.type))")
                return nil
            }
            let tooLow = low.map { number < $0 } ?? false
            let tooHigh = high.map { number > $0 } ?? false
            guard !tooLow, !tooHigh else {
                switch (low, high) {
                case let (low?, high?): fail(key, "must be between \(low) and \(high), got \(number)")
                case let (low?, nil): fail(key, "must be at least \(low), got \(number)")
                case let (nil, high?): fail(key, "must be at most \(high), got \(number)")
                case (nil, nil): break
                }
                return nil
            }
            return number
        }

        func string(_ key: String, nonEmpty: Bool = false) -> String? {
            guard let value = table[key] else { return nil }
            guard value.type == .string, let text = value.string else {
                fail(key, "expected a string, got \(Self.describe(value.type))")
                return nil
            }
            if nonEmpty, text.allSatisfy(\.isWhitespace) {
                fail(key, "must not be empty")
                return nil
            }
            return text
        }

        func bool(_ key: String) -> Bool? {
            guard let value = table[key] else { return nil }
            guard value.type == .bool, let flag = value.bool else {
                fail(key, "expected a boolean (true or false), got \(Self.describe(value.type))")
                return nil
            }
            return flag
        }

        /// A string that must be one of `allowed`, e.g. a log level.
        func oneOf(_ key: String, _ allowed: [String]) -> String? {
            guard let text = string(key) else { return nil }
            guard allowed.contains(text) else {
                let list = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
                fail(key, "must be one of \(list), got \"\(text)\"")
                return nil
            }
            return text
        }

        func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, _: Choice.Type) -> Choice?
        where Choice.RawValue == String {
            oneOf(key, Choice.allCases.map(\.rawValue)).flatMap(Choice.init(rawValue:))
        }

        /// Milliseconds, from an integer (milliseconds) or a string with a unit.
        ///
        /// - Parameter zeroAllowed: whether 0 means "disabled" for this setting; where it would
        ///   mean "fail at once" it is refused.
        func duration(_ key: String, zeroAllowed: Bool) -> Int64? {
            guard let value = table[key] else { return nil }
            let milliseconds: Int64
            switch value.type {
            case .int:
                guard let number = value.int, number >= 0 else {
                    fail(key, "must not be negative")
                    return nil
                }
                milliseconds = Int64(number)
            case .string:
                let text = value.string ?? ""
                switch ConfigLoader.parseDuration(text) {
                case .milliseconds(let parsed):
                    milliseconds = parsed
                case .negative:
                    fail(key, "must not be negative")
                    return nil
                case .tooLarge:
                    fail(key, "\"\(text)\" is too large")
                    return nil
                case .missingUnit:
                    fail(key, "\"\(text)\" needs a unit: ms, s, m or h (e.g. \"\(text)s\"); a bare integer means milliseconds")
                    return nil
                case .malformed:
                    fail(key, "expected a duration such as \"250ms\", \"30s\", \"5m\" or \"1h\", got \"\(text)\"")
                    return nil
                }
            default:
                fail(key, "expected an integer (milliseconds) or a string such as \"30s\", got \(Self.describe(value.type))")
                return nil
            }
            if milliseconds == 0, !zeroAllowed {
                fail(key, "must be greater than 0")
                return nil
            }
            return milliseconds
        }

        /// "a string", "an integer": TOMLKit's own names ("int", "bool") read oddly in a sentence.
        static func describe(_ type: TOMLType) -> String {
            switch type {
            case .table: return "a table"
            case .array: return "an array"
            case .string: return "a string"
            case .int: return "an integer"
            case .double: return "a floating-point number"
            case .bool: return "a boolean"
            case .date: return "a date"
            case .time: return "a time"
            case .dateTime: return "a date-time"
            }
        }
    }
}
