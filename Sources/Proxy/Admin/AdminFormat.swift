import Foundation
import NIOCore

/// Renderings shared by the SHOW commands, in PgBouncer's formats.
enum AdminFormat {
    /// `2026-11-21 19:29:59 UTC`, for connect_time and request_time.
    static func timestamp(_ deadline: NIODeadline) -> String {
        let age = Double((NIODeadline.now() - deadline).nanoseconds) / 1e9
        return timestamp(unixSeconds: wallClockSeconds() - age)
    }

    static func timestamp(unixSeconds: Double) -> String {
        var seconds = time_t(unixSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC",
                      Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// `0x562a1d1c13c0`, like C's %p: identifies a connection across SHOW CLIENTS and SHOW SERVERS.
    static func pointer(_ value: UInt) -> String { "0x" + String(value, radix: 16) }

    /// A socket address's IP (or `unix`) and port.
    static func address(_ address: SocketAddress?) -> (String?, String?) {
        guard let address else { return (nil, nil) }
        if case .unixDomainSocket = address { return ("unix", "0") }
        return (address.ipAddress, address.port.map(String.init))
    }

    /// Whole seconds and the microsecond remainder of the time since `since`.
    static func wait(since: NIODeadline?) -> (String, String) {
        guard let since else { return ("0", "0") }
        let micros = max((NIODeadline.now() - since).nanoseconds / 1000, 0)
        return (String(micros / 1_000_000), String(micros % 1_000_000))
    }
}
