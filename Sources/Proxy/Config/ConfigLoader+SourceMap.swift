extension ConfigLoader {
    /// Where keys and section headers sit in a TOML text.
    ///
    /// TOMLKit gives a line only for syntax errors, never for parsed values, so the lines of
    /// `key = ...` are found again by a light scan of the text. The scan knows headers, dotted and
    /// quoted keys, comments and multi-line strings; anything odder only loses the line, never an error.
    struct SourceMap {
        /// The keys of one header's body; the text before any header is the block with path "".
        private struct Block {
            var path: String
            var headerLine: Int?
            var keys: [String: Int] = [:]
        }

        private var blocks: [Block] = [Block(path: "", headerLine: nil)]

        init(text: String) {
            var openString: UInt8?  // the quote of a multi-line string still open at line end
            var number = 0
            for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
                number += 1
                let bytes = Array(rawLine.utf8)
                let startsInsideString = openString != nil
                openString = Self.openMultilineString(bytes, open: openString)
                if startsInsideString { continue }

                var start = 0
                while start < bytes.count, bytes[start] == ASCII.space || bytes[start] == ASCII.tab { start += 1 }
                let rest = bytes[start...]
                if let header = Self.header(rest) {
                    blocks.append(Block(path: header, headerLine: number))
                } else if let key = Self.leadingKey(rest), blocks[blocks.count - 1].keys[key] == nil {
                    blocks[blocks.count - 1].keys[key] = number
                }
            }
        }

        /// Line of `key` in the `index`-th body of `section` (nil section = top level).
        ///
        /// With a nil key, or a key not written as `key = ...` (e.g. `[section.key]`), the line of
        /// the nearest header is given instead, which still points the reader at the right place.
        func line(section: String?, index: Int = 0, key: String? = nil) -> Int? {
            guard let section else { return key.flatMap { blocks[0].keys[$0] } }
            let matching = blocks.indices.filter { blocks[$0].path == section }
            guard index < matching.count else {
                // `section = { ... }` or `section = [ {...} ]` written inline at the top level.
                return blocks[0].keys[section]
            }
            let position = matching[index]
            guard let key else { return blocks[position].headerLine }
            if let line = blocks[position].keys[key] { return line }
            let next = index + 1 < matching.count ? matching[index + 1] : blocks.count
            let subtable = blocks[(position + 1)..<next].first { $0.path == section + "." + key }
            return subtable?.headerLine ?? blocks[position].headerLine
        }

        // MARK: - Scanning one line

        /// The multi-line string quote still open after `line`, given the one open before it.
        private static func openMultilineString(_ line: [UInt8], open: UInt8?) -> UInt8? {
            var open = open
            var i = 0
            let n = line.count
            func isTriple(_ at: Int, _ quote: UInt8) -> Bool {
                at + 2 < n && line[at] == quote && line[at + 1] == quote && line[at + 2] == quote
            }
            while i < n {
                if let quote = open {
                    if quote == ASCII.doubleQuote, line[i] == ASCII.backslash {
                        i += 2
                    } else if isTriple(i, quote) {
                        open = nil
                        i += 3
                    } else {
                        i += 1
                    }
                    continue
                }
                let byte = line[i]
                if byte == ASCII.hash { return nil }
                if byte == ASCII.doubleQuote || byte == ASCII.singleQuote {
                    if isTriple(i, byte) {
                        open = byte
                        i += 3
                    } else {
                        i = endOfString(line, from: i) ?? n
                    }
                } else {
                    i += 1
                }
            }
            return open
        }

        /// Index just past the one-line string starting at `from`, or nil if it does not close.
        private static func endOfString(_ line: [UInt8], from: Int) -> Int? {
            let quote = line[from]
            var i = from + 1
            while i < line.count {
                if quote == ASCII.doubleQuote, line[i] == ASCII.backslash {
                    i += 2
                    continue
                }
                if line[i] == quote { return i + 1 }
                i += 1
            }
            return nil
        }

        /// The dotted path of a `[table]` or `[[array]]` header, or nil if the line is no header.
        private static func header(_ line: ArraySlice<UInt8>) -> String? {
            guard line.first == ASCII.openBracket else { return nil }
            let isArray = line.dropFirst().first == ASCII.openBracket
            var rest = line.dropFirst(isArray ? 2 : 1)
            guard let path = keyPath(&rest) else { return nil }
            skipSpaces(&rest)
            for _ in 0..<(isArray ? 2 : 1) {
                guard rest.first == ASCII.closeBracket else { return nil }
                rest = rest.dropFirst()
            }
            skipSpaces(&rest)
            // A continuation line of a multi-line array, like `[1, 2],`, fails here.
            guard rest.isEmpty || rest.first == ASCII.hash || rest.first == ASCII.carriageReturn else { return nil }
            return path.joined(separator: ".")
        }

        /// The first part of the key in a `key = value` line, or nil if the line is no such line.
        private static func leadingKey(_ line: ArraySlice<UInt8>) -> String? {
            var rest = line
            guard let path = keyPath(&rest), rest.first == ASCII.equals else { return nil }
            return path.first
        }

        /// Reads `a.b."c d"` and the spaces after it; nil if there is no key here.
        private static func keyPath(_ rest: inout ArraySlice<UInt8>) -> [String]? {
            var parts: [String] = []
            while true {
                skipSpaces(&rest)
                guard let part = keyPart(&rest) else { return nil }
                parts.append(part)
                skipSpaces(&rest)
                guard rest.first == ASCII.dot else { return parts }
                rest = rest.dropFirst()
            }
        }

        /// One bare or quoted key part.
        private static func keyPart(_ rest: inout ArraySlice<UInt8>) -> String? {
            guard let first = rest.first else { return nil }
            if first == ASCII.doubleQuote || first == ASCII.singleQuote {
                let line = Array(rest)
                guard let end = endOfString(line, from: 0) else { return nil }
                rest = rest.dropFirst(end)
                // Escapes in quoted keys are rare enough in config files to be left as written.
                return String(decoding: line[1..<(end - 1)], as: UTF8.self)
            }
            let bare = rest.prefix { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
            guard !bare.isEmpty else { return nil }
            rest = rest.dropFirst(bare.count)
            return String(decoding: bare, as: UTF8.self)
        }

        private static func skipSpaces(_ rest: inout ArraySlice<UInt8>) {
            while let byte = rest.first, byte == ASCII.space || byte == ASCII.tab { rest = rest.dropFirst() }
        }

        /// Bytes the scan looks for; TOML's syntax is all ASCII.
        private enum ASCII {
            static let space = UInt8(ascii: " ")
            static let tab = UInt8(ascii: "\t")
            static let carriageReturn = UInt8(ascii: "\r")
            static let hash = UInt8(ascii: "#")
            static let doubleQuote = UInt8(ascii: "\"")
            static let singleQuote = UInt8(ascii: "'")
            static let backslash = UInt8(ascii: "\\")
            static let openBracket = UInt8(ascii: "[")
            static let closeBracket = UInt8(ascii: "]")
            static let dot = UInt8(ascii: ".")
            static let equals = UInt8(ascii: "=")
        }
    }
}
