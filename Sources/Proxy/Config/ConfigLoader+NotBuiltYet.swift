extension ConfigLoader {
    /// A section or key that belongs to a feature pgproxy does not have yet.
    ///
    /// Accepting such settings silently would let an operator believe TLS, replicas or sharding are
    /// in force when they are not, so each is refused by name. When a feature lands, delete its
    /// entries here and read the settings in the matching `ConfigLoader+...` file.
    struct NotBuiltYet: Sendable {
        /// Where the setting may appear.
        enum Place: Sendable, Equatable {
            /// A top-level section of `pgproxy.toml`, `[name]` or `[[name]]`.
            case configSection
            /// A key of `[general]`.
            case general
            /// A key of a `[[databases]]` entry.
            case database
            /// A key of a `[[users]]` entry.
            case user
            /// A key of a section with nothing refused, such as `[admin]`.
            case otherSection
        }

        /// The one value that already means what the current version does, so configs written
        /// for later versions keep loading while they use it.
        enum Tolerated: Sendable, Equatable {
            case nothing
            case string(String)
            case integer(Int)
            case boolean(Bool)
        }

        let place: Place
        let name: String
        /// What the setting is for, in words an operator recognises.
        let feature: String
        let tolerated: Tolerated

        init(_ place: Place, _ name: String, _ feature: String, tolerating tolerated: Tolerated = .nothing) {
            self.place = place
            self.name = name
            self.feature = feature
            self.tolerated = tolerated
        }
    }

    /// Every setting refused because its feature is not built yet. The one list to edit.
    static let notBuiltYet: [NotBuiltYet] = [
        .init(.configSection, "rest_api", "the REST API"),
        .init(.configSection, "mqtt", "MQTT events"),
    ]

    /// The refused setting called `name` at `place`, if there is one.
    static func notBuiltYet(_ place: NotBuiltYet.Place, _ name: String) -> NotBuiltYet? {
        notBuiltYet.first { $0.place == place && $0.name == name }
    }

    /// Appended to every refusal so the operator knows the setting is real, just early.
    static let notSupportedYet = "is not supported yet in this version of pgproxy"
}
