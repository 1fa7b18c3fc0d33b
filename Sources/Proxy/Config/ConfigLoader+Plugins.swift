import TOMLKit

extension ConfigLoader {
    static let pluginKeys = ["name", "path", "config"]

    /// `[[plugins]]` entries, in chain order; entries with problems are logged and left out.
    static func readPlugins(_ value: any TOMLValueConvertible, file: String, source: SourceMap, log: ErrorLog) -> [PluginConfig] {
        guard let array = value.array else {
            log.add(file: file, line: source.line(section: "plugins"), key: "plugins",
                    reason: "expected an array of tables ([[plugins]]), got \(SectionReader.describe(value.type))")
            return []
        }
        var plugins: [PluginConfig] = []
        for index in 0..<array.count {
            guard let table = array[index].table else {
                log.add(file: file, line: source.line(section: "plugins", index: index), key: "plugins[\(index)]",
                        reason: "expected a table ([[plugins]]), got \(SectionReader.describe(array[index].type))")
                continue
            }
            let reader = SectionReader(table: table, file: file, section: "plugins", index: index, source: source, log: log)
            reader.refuseUnknownKeys(known: pluginKeys, place: .otherSection, elsewhere: ["settings": "[[plugins]] (here it is config)"])
            let name = reader.string("name", nonEmpty: true)
            let path = reader.string("path", nonEmpty: true)
            if name != nil, path != nil {
                reader.fail("path", "give either name (a built-in plugin) or path (a plugin library), not both")
                continue
            }
            if let name, !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                reader.fail("name", "a built-in plugin name has only letters, digits and '_', got '\(name)'; use path for a library")
                continue
            }
            guard name != nil || path != nil else {
                if !reader.failed("name"), !reader.failed("path") {
                    reader.fail(nil, "a [[plugins]] entry needs name (a built-in such as \"read_write_split\") or path (a .so file)")
                }
                continue
            }
            var settings: [(key: String, value: String)] = []
            if let config = table["config"] {
                guard let configTable = config.table else {
                    reader.fail("config", "expected a table (config = { key = \"value\" }), got \(SectionReader.describe(config.type))")
                    continue
                }
                for key in configTable.keys.sorted() {
                    guard let flat = flatten(configTable[key]!) else {
                        reader.fail("config", "setting '\(key)' must be a string, number, boolean or an array of those")
                        continue
                    }
                    settings.append((key, flat))
                }
            }
            plugins.append(PluginConfig(name: name, path: path, settings: settings))
        }
        return plugins
    }

    /// A plugin setting as the string the plugin receives.
    private static func flatten(_ value: any TOMLValueConvertible) -> String? {
        switch value.type {
        case .string: return value.string
        case .int: return value.int.map { String($0) }
        case .double: return value.double.map { String($0) }
        case .bool: return value.bool.map { $0 ? "true" : "false" }
        case .array:
            guard let array = value.array else { return nil }
            var parts: [String] = []
            for index in 0..<array.count {
                guard array[index].type != .array, let part = flatten(array[index]) else { return nil }
                parts.append(part)
            }
            return parts.joined(separator: ",")
        default: return nil
        }
    }
}
