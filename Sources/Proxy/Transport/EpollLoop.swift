import CSockets
import Dispatch
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Something an `EpollLoop` watches: told on the loop when its descriptor is ready.
class EpollHandle {
    /// `events`: the epoll bits that are set (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP).
    func ready(_ events: UInt32) {}
}

/// pgproxy's own event loop: one thread around epoll, for the data path's plain TCP sockets
/// (`RawSocket`). It is a SwiftNIO `EventLoop` too (tasks, timers, promises and futures work on
/// it as on SwiftNIO's), so pools, sessions and their timers live on it unchanged.
///
/// Why: a read through a SwiftNIO channel costs about 3,500 instructions before pgproxy sees
/// the bytes (the channel's lifecycle checks, the pipeline, the read-again request, the
/// registration lookup), twice per `pgbench -S` transaction: more than pgproxy's own work, and
/// nearly what PgBouncer spends on the whole transaction. Here a ready socket is one epoll
/// event, one pointer to its handle and one recv(2).
final class EpollLoop: EventLoop, @unchecked Sendable, CustomStringConvertible {
    let name: String
    private let epoll: CInt
    private let wakeDescriptor: CInt
    private var thread = pthread_t()
    /// Tasks from other threads; the loop is woken through `wakeDescriptor` when it was empty.
    /// Once the loop has stopped, tasks are dropped (and the descriptor, closed, not written).
    private let inbox = Mutex<(tasks: [() -> Void], stopped: Bool)>(([], false))
    /// Tasks from the loop itself, run before it waits again.
    private var local: [() -> Void] = []
    private var running: [() -> Void] = []
    private var timers = TimerHeap()
    private var timerSequence: UInt64 = 0
    /// Handles unwatched while the current batch of events runs: alive till it ends, since an
    /// event for one of them may still be in the batch.
    private var retired: [Unmanaged<EpollHandle>] = []
    private var stopping = false
    private var stopCallbacks: [(DispatchQueue, @Sendable ((any Error)?) -> Void)] = []
    /// Where its sockets read (see `RawSocket`): one buffer per loop, not one per connection,
    /// so an idle client costs no buffer.
    var readBuffer: ByteBuffer? = ByteBufferAllocator().buffer(capacity: EpollLoop.readCapacity)
    static let readCapacity = 16 * 1024

    var description: String { "EpollLoop(\(name))" }

    init(name: String) throws {
        self.name = name
        epoll = epoll_create1(CInt(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw IOError(errnoCode: errno, reason: "epoll_create1") }
        wakeDescriptor = pgproxy_eventfd()
        guard wakeDescriptor >= 0 else {
            let code = errno
            Glibc.close(epoll)
            throw IOError(errnoCode: code, reason: "eventfd")
        }
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: 0))
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeDescriptor, &event)
        let started = DispatchSemaphore(value: 0)
        let body = ThreadBody { [self] in
            thread = pthread_self()
            pgproxy_name_thread(String(decoding: name.utf8.prefix(15), as: UTF8.self))
            started.signal()
            run()
        }
        var handle = pthread_t()
        let made = pthread_create(&handle, nil, { argument in
            Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(body).toOpaque())
        precondition(made == 0, "pthread_create failed: \(made)")
        pthread_detach(handle)
        started.wait()
    }

    private final class ThreadBody {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    // MARK: EventLoop

    var inEventLoop: Bool { pthread_equal(pthread_self(), thread) != 0 }

    func execute(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop {
            local.append(task)
            return
        }
        inbox.withLock { inbox in
            guard !inbox.stopped else { return }
            inbox.tasks.append(task)
            // Written under the lock, so never after the loop has closed the descriptor.
            if inbox.tasks.count == 1 { wake() }
        }
    }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise: EventLoopPromise<T> = makePromise()
        let timer = LoopTimer(deadline: deadline.uptimeNanoseconds) {
            do { promise.succeed(try task()) } catch { promise.fail(error) }
        }
        let scheduled = Scheduled(promise: promise) { [self] in
            if inEventLoop { timer.task = nil } else { execute { timer.task = nil } }
        }
        if inEventLoop { add(timer) } else { execute { [self] in add(timer) } }
        return scheduled
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let already = inbox.withLock { $0.stopped }
        if already {
            queue.async { callback(nil) }
            return
        }
        execute { [self] in
            stopping = true
            stopCallbacks.append((queue, callback))
        }
    }

    // MARK: watching descriptors

    /// Watches `descriptor` for `events` (EPOLLIN, EPOLLOUT) on behalf of `handle`, which the
    /// loop keeps alive till `unwatch`. On the loop.
    func watch(_ descriptor: CInt, _ handle: EpollHandle, events: UInt32) -> Bool {
        let pointer = Unmanaged.passRetained(handle)
        var event = epoll_event(events: events, data: epoll_data_t(u64: UInt64(UInt(bitPattern: pointer.toOpaque()))))
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 else {
            pointer.release()
            return false
        }
        return true
    }

    func change(_ descriptor: CInt, _ handle: EpollHandle, events: UInt32) {
        let pointer = Unmanaged.passUnretained(handle)
        var event = epoll_event(events: events, data: epoll_data_t(u64: UInt64(UInt(bitPattern: pointer.toOpaque()))))
        epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
    }

    /// Stops watching; call before closing the descriptor.
    func unwatch(_ descriptor: CInt, _ handle: EpollHandle) {
        var event = epoll_event()
        epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, &event)
        retired.append(Unmanaged.passUnretained(handle))
    }

    // MARK: the loop

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    private func add(_ timer: LoopTimer) {
        timerSequence &+= 1
        timer.sequence = timerSequence
        timers.push(timer)
    }

    private func run() {
        let capacity: CInt = 128
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        while true {
            runDue()
            if stopping { break }
            var timeout: CInt = -1
            if !local.isEmpty {
                timeout = 0
            } else if let next = timers.first?.deadline {
                let now = NIODeadline.now().uptimeNanoseconds
                timeout = next <= now ? 0 : CInt(clamping: (next - now + 999_999) / 1_000_000)
            }
            let count = epoll_wait(epoll, events, capacity, timeout)
            if count < 0 {
                if errno != EINTR { fatalError("\(self): epoll_wait failed: errno \(errno)") }
                continue
            }
            for index in 0..<Int(count) {
                let event = events[index]
                guard let opaque = UnsafeRawPointer(bitPattern: UInt(event.data.u64)) else {
                    takeInbox()
                    continue
                }
                Unmanaged<EpollHandle>.fromOpaque(opaque)._withUnsafeGuaranteedRef { $0.ready(event.events) }
            }
            if !retired.isEmpty {
                for handle in retired { handle.release() }
                retired.removeAll(keepingCapacity: true)
            }
        }
        runDue()
        inbox.withLock { $0.stopped = true }
        Glibc.close(wakeDescriptor)
        Glibc.close(epoll)
        for (queue, callback) in stopCallbacks { queue.async { callback(nil) } }
    }

    private func takeInbox() {
        var count: UInt64 = 0
        _ = read(wakeDescriptor, &count, 8)
        let tasks = inbox.withLock { inbox in
            defer { inbox.tasks.removeAll(keepingCapacity: true) }
            return inbox.tasks
        }
        local.append(contentsOf: tasks)
    }

    /// Runs the timers that are due, then the tasks queued so far (and those they queue).
    private func runDue() {
        if let first = timers.first {
            let now = NIODeadline.now().uptimeNanoseconds
            if first.deadline <= now {
                while let timer = timers.first, timer.deadline <= now {
                    timers.pop()
                    if let task = timer.task {
                        timer.task = nil
                        task()
                    }
                }
            }
        }
        var rounds = 0
        while !local.isEmpty, rounds < 64 {
            swap(&local, &running)
            for task in running { task() }
            running.removeAll(keepingCapacity: true)
            rounds += 1
        }
    }
}

/// A task scheduled on an `EpollLoop`; cancelled by dropping its closure.
final class LoopTimer {
    let deadline: UInt64
    var sequence: UInt64 = 0
    var task: (() -> Void)?
    init(deadline: UInt64, task: @escaping () -> Void) {
        self.deadline = deadline
        self.task = task
    }

    @inline(__always)
    func precedes(_ other: LoopTimer) -> Bool {
        deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
    }
}

/// A binary min-heap of timers by deadline, then by the order they were added.
struct TimerHeap {
    private var items: [LoopTimer] = []

    var first: LoopTimer? { items.first }

    mutating func push(_ timer: LoopTimer) {
        items.append(timer)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> LoopTimer? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            var smallest = left
            if left + 1 < items.count, items[left + 1].precedes(items[left]) { smallest = left + 1 }
            guard items[smallest].precedes(items[parent]) else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
