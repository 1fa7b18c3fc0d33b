/// A loaded configuration, shared by reference. Each client session keeps the one it connected
/// under (a reload makes a new one); a copy of the `ProxyConfig` itself would retain each of its
/// strings and arrays, about a hundred of them, for every connection.
final class ConfigSnapshot: Sendable {
    let value: ProxyConfig

    init(_ value: ProxyConfig) {
        self.value = value
    }
}
