import Foundation

/// One problem in a configuration file, printed as `pgproxy.toml:12: general.port: must be between 1 and 65535`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// The file as the loader was given it.
    public var file: String
    /// 1-based line of the offending key or section, when it could be found in the text.
    public var line: Int?
    /// Path of the offending setting, e.g. `general.port` or `databases[1].host` (0-based index);
    /// empty for problems with the file as a whole (unreadable, bad syntax).
    public var key: String
    /// What is wrong and, where it helps, what would be right.
    public var reason: String

    /// A problem at `file:line` about `key`.
    public init(file: String, line: Int?, key: String, reason: String) {
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if !key.isEmpty { text += ": \(key)" }
        return text + ": " + reason
    }
}

/// Every problem found in one load, by file and line, so an operator fixes them in one pass.
public struct ConfigErrors: Error, Equatable, CustomStringConvertible {
    /// The problems, config file first, then users file, each in line order.
    public var errors: [ConfigError]

    /// A list of problems as found.
    public init(errors: [ConfigError]) {
        self.errors = errors
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}

// Foundation prints `localizedDescription` of a plain Error as "The operation could not be
// completed", which hides every line above from whoever logs the error that way.
extension ConfigErrors: LocalizedError {
    public var errorDescription: String? { description }
}

extension ConfigError: LocalizedError {
    public var errorDescription: String? { description }
}
