import TOMLKit

extension ConfigLoader {
    static let adminKeys = ["user", "password"]
    static let prometheusKeys = ["host", "port"]

    /// `[admin]`; nil when the section is absent or unusable (its problems are logged).
    static func readAdmin(_ value: any TOMLValueConvertible, general: GeneralConfig, file: String, source: SourceMap, log: ErrorLog) -> AdminConfig? {
        guard let reader = sectionReader("admin", value, file: file, source: source, log: log) else { return nil }
        reader.refuseUnknownKeys(known: adminKeys, place: .otherSection, elsewhere: ["name": "[admin] (here it is user)"])
        let user = reader.require(reader.string("user", nonEmpty: true), "user")
        let password = reader.string("password", nonEmpty: true)
        if password == nil, general.authType != .trust, !reader.failed("password") {
            reader.fail("password", "is required when auth_type is \"\(general.authType.rawValue)\"")
        }
        guard let user else { return nil }
        return AdminConfig(user: user, password: password)
    }

    /// `[prometheus]`; nil when the section is absent or unusable (its problems are logged).
    static func readPrometheus(_ value: any TOMLValueConvertible, general: GeneralConfig, file: String, source: SourceMap, log: ErrorLog) -> PrometheusConfig? {
        guard let reader = sectionReader("prometheus", value, file: file, source: source, log: log) else { return nil }
        reader.refuseUnknownKeys(known: prometheusKeys, place: .otherSection)
        var config = PrometheusConfig(host: general.host)
        if let host = reader.string("host", nonEmpty: true) { config.host = host }
        if let port = reader.int("port", atLeast: 0, atMost: 65535) { config.port = port }
        if config.port != 0, config.port == general.port, !reader.failed("port") {
            reader.fail("port", "must differ from the client port in [general] (\(general.port))")
        }
        return config
    }

    /// Database names that would be shadowed by the admin console are refused.
    static func checkReservedDatabaseNames(_ databases: [DatabaseConfig], file: String, source: SourceMap, log: ErrorLog) {
        for (index, database) in databases.enumerated() where AdminConfig.databaseNames.contains(database.name) {
            log.add(file: file, line: source.line(section: "databases", index: index, key: "name"), key: "databases[\(index)].name",
                    reason: "'\(database.name)' is reserved for the admin console; give the database another name "
                        + "(database_name can still point at a server database called '\(database.name)')")
        }
    }

    private static func sectionReader(_ name: String, _ value: any TOMLValueConvertible, file: String, source: SourceMap, log: ErrorLog) -> SectionReader? {
        guard let table = value.table else {
            log.add(file: file, line: source.line(section: name), key: name,
                    reason: "expected a table ([\(name)]), got \(SectionReader.describe(value.type))")
            return nil
        }
        return SectionReader(table: table, file: file, section: name, index: nil, source: source, log: log)
    }
}
