import NIOCore

/// The clients of one event loop that have not finished logging in, with their
/// `client_login_timeout` deadlines, checked by one repeating sweep instead of a timer per
/// connection: scheduling and cancelling a SwiftNIO task cost about 3,500 instructions of the
/// 130,000 a connection costs pgproxy (`bench/instructions`, connect workload).
///
/// The sweep runs only while someone is logging in, every quarter of the timeout (between 10 ms
/// and a second), so a login is cut off at most that long after its deadline. A client leaves
/// its slot when its login ends, whichever way, so the list holds only logins in progress.
/// Used on its event loop only.
final class LoginDeadlines {
    private let loop: any EventLoop
    /// Slot i: a client logging in, or nil for a free slot (listed in `free`).
    private var clients: [ClientSession?] = []
    private var deadlines: [UInt64] = []
    private var free: [Int] = []
    private var watched = 0
    private var sweep: RepeatedTask?

    init(loop: any EventLoop) { self.loop = loop }

    /// Watches `client`, which must finish logging in within `timeout` milliseconds; returns its
    /// slot, for `remove`.
    func add(_ client: ClientSession, timeout: Int64) -> Int {
        let deadline = NIODeadline.now().uptimeNanoseconds &+ UInt64(timeout) &* 1_000_000
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            clients[slot] = client
            deadlines[slot] = deadline
        } else {
            slot = clients.count
            clients.append(client)
            deadlines.append(deadline)
        }
        watched += 1
        if sweep == nil { startSweeping(timeout: timeout) }
        return slot
    }

    /// The client in `slot` finished logging in (or left).
    func remove(_ slot: Int) {
        guard slot >= 0, slot < clients.count, clients[slot] != nil else { return }
        clients[slot] = nil
        free.append(slot)
        watched -= 1
    }

    private func startSweeping(timeout: Int64) {
        let period = TimeAmount.milliseconds(min(max(timeout / 4, 10), 1000))
        // Captured strongly: the sweep is cancelled when nobody is left logging in.
        sweep = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            self.check()
        }
    }

    /// Cuts off the logins past their deadline; stops sweeping when none is left.
    private func check() {
        let now = NIODeadline.now().uptimeNanoseconds
        var late: [ClientSession] = []
        for slot in clients.indices where deadlines[slot] <= now {
            guard let client = clients[slot] else { continue }
            remove(slot)
            late.append(client)
        }
        for client in late { client.loginTimedOut() }
        if watched == 0 {
            sweep?.cancel()
            sweep = nil
            // Free slots are kept for the next logins, but not a burst's worth of them.
            if clients.count > 1024 {
                clients = []
                deadlines = []
                free = []
            }
        }
    }
}
