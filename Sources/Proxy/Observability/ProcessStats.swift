#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Resource figures of this process, read from `/proc/self` at scrape time.
///
/// Linux only: elsewhere ``sample()`` gives nil and the process metrics are simply not exported,
/// rather than exported as zeros that would look like real readings. Reading costs a few small
/// syscalls, well within a scrape interval, and nothing here runs on the data path.
struct ProcessStats: Sendable, Equatable {
    var residentMemoryBytes: UInt64
    var virtualMemoryBytes: UInt64
    /// utime + stime, in clock ticks; ``ticksPerSecond`` turns them into seconds.
    var cpuTicks: UInt64
    var ticksPerSecond: UInt64
    /// Nil when `/proc/self/fd` cannot be listed (it may be hidden by a sandbox).
    var openFDs: Int?

    static func sample() -> ProcessStats? {
        guard let stat = readSmallFile("/proc/self/stat"), var stats = parse(stat: stat) else { return nil }
        stats.openFDs = countOpenFDs()
        return stats
    }

    /// Parses `/proc/self/stat` (proc(5)). The second field, the command name, is in parentheses
    /// and may itself hold spaces and parentheses, so fields are counted from the last ')'.
    static func parse(stat: [UInt8]) -> ProcessStats? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // After ") " come the fields from 3 (state) on; field N is at index N - 3.
        // The trailing newline is a separator too, or it would stick to the last field.
        let fields = stat[(close + 1)...].split { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }
        func field(_ number: Int) -> UInt64? {
            let index = number - 3
            guard fields.indices.contains(index) else { return nil }
            return UInt64(String(decoding: fields[index], as: UTF8.self))
        }
        guard let utime = field(14), let stime = field(15), let vsize = field(23), let rssPages = field(24) else {
            return nil
        }
        let pageSize = UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 1))
        let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return ProcessStats(
            residentMemoryBytes: rssPages &* pageSize, virtualMemoryBytes: vsize,
            cpuTicks: utime &+ stime, ticksPerSecond: ticks, openFDs: nil)
    }

    /// Entries of `/proc/self/fd`, as the official Prometheus clients count them (the descriptor
    /// used for the listing itself included).
    private static func countOpenFDs() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDotEntry = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name.first == UInt8(ascii: ".")
            }
            if !isDotEntry { count += 1 }
        }
        return count
    }

    /// `RLIMIT_NOFILE`'s soft limit, nil when unlimited or unknown.
    static func maxFDs() -> UInt64? { FileDescriptorLimit.soft() }

    /// Reads a procfs file whole. procfs reports a size of 0, so this reads to end-of-file
    /// instead of trusting `stat`; the files read here are well under the 64 KiB cap.
    private static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65_536 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes.isEmpty ? nil : bytes
    }
}
