import CMosquitto
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore
import Synchronization

/// One thread that drives the network of one or many ``MosquittoClient``s through libmosquitto's
/// external-loop API (`mosquitto_socket`, `mosquitto_loop_read`, `mosquitto_loop_write`,
/// `mosquitto_loop_misc`), waiting on all their sockets with one epoll set, and that is also a
/// Swift executor (serial, for actors; task executor, for tasks that prefer it).
///
/// So the agent's press path runs on this one thread: the actors that decide and publish use it
/// as their executor, a publish made here writes the socket before it returns, and the broker's
/// answers are read and handled here, with no hand-off between threads.
///
/// A client created with a network loop has no thread of its own. Each client keeps its own
/// jittered ``ReconnectBackoff``, and keep-alives are served by `loop_misc` once a second.
/// Connects (`mosquitto_connect_bind_v5`, `mosquitto_reconnect`) resolve the broker's name and
/// wait for the TCP handshake, so they run on connector queues of their own: a slow DNS server or
/// an unreachable broker never holds the loop, and with it the bells' outputs. A field unit runs
/// one loop; the fleet simulator runs thousands of agents on one, whose connects share
/// ``connectLanes`` serial queues.
public final class MosquittoNetworkLoop: Sendable {
    private let epoll: Int32
    private let wake: WakePipe
    private let requests = Locked(Requests())
    /// The loop thread's id once it runs (0 before), to know when a caller is already on it.
    private let loopThread = Atomic<UInt>(0)
    /// Where connects run (they block in name resolution and in the TCP handshake): each client
    /// on one of these serial queues, so one client's connects never overlap. Several, because a
    /// handshake whose SYN a flooded broker dropped waits 1 s for its retransmission, then 2 s
    /// more, and on one queue every other client of a fleet waited behind it. A queue has a
    /// thread only while it works, so a unit's single client costs one.
    private let connectors = (0 ..< MosquittoNetworkLoop.connectLanes).map { DispatchQueue(label: "parkguard.mqtt.connect.\($0)") }
    /// How many connects may wait for their handshakes at once.
    public static let connectLanes = 16

    private struct Requests {
        var added: [MosquittoClient] = []
        var stopping: [ObjectIdentifier] = []
        var dirty: Set<ObjectIdentifier> = []
        /// Connects finished on the connector queue, with libmosquitto's return code.
        var connected: [(client: ObjectIdentifier, failure: MQTTError?)] = []
        /// Swift jobs enqueued on this executor, in order.
        var jobs: [UnownedJob] = []
        /// Timers set or cancelled (nil) since the loop last looked, by owner.
        var timers: [(owner: ObjectIdentifier, timer: Timer?)] = []
        /// The loop is in (or about to enter) `epoll_wait`: a request must wake it.
        var sleeping = false
        var signalled = false

        var isEmpty: Bool {
            added.isEmpty && stopping.isEmpty && dirty.isEmpty && connected.isEmpty && jobs.isEmpty && timers.isEmpty
        }
    }

    /// Starts the loop's thread. It runs for the life of the process.
    public init() throws(MQTTError) {
        MosquittoLibrary.initialise()
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else {
            throw MQTTError(code: Int32(MOSQ_ERR_ERRNO.rawValue), operation: "epoll_create1", message: String(cString: strerror(errno)))
        }
        epoll = fd
        wake = try WakePipe()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = -1
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, wake.readDescriptor, &event)
        detachThread(named: "pg-loop") { [self] in run() }
    }

    // MARK: What clients ask for (any thread)

    func register(_ client: MosquittoClient) {
        post { $0.added.append(client) }
    }

    /// The client queued a packet: write it out. On the loop thread it is written at once (the
    /// loop then settles what is left and whether it waits for the socket to take more).
    func flush(_ client: MosquittoClient) {
        if isLoopThread { _ = mosquitto_loop_write(client.handle, 1) }
        post { $0.dirty.insert(ObjectIdentifier(client)) }
    }

    /// Whether the caller runs on the loop thread.
    var isLoopThread: Bool {
        let id = loopThread.load(ordering: .relaxed)
        return id != 0 && pthread_equal(pthread_self(), pthread_t(id)) != 0
    }

    /// A deadline the loop keeps in its `epoll_wait` timeout.
    struct Timer {
        var deadline: ContinuousClock.Instant
        var fire: @Sendable () -> Void
    }

    /// Calls `fire` on the loop thread at `deadline`, replacing the timer `owner` had; `nil`
    /// cancels it. The loop's own timeout serves it: no sleeping task, no timer thread, so a
    /// debounce or hold deadline wakes only this thread.
    public func setTimer(owner: ObjectIdentifier, at deadline: ContinuousClock.Instant?, fire: @escaping @Sendable () -> Void) {
        let timer = deadline.map { Timer(deadline: $0, fire: fire) }
        post { $0.timers.append((owner, timer)) }
    }

    /// The client queued DISCONNECT: write it, then drop the client and end its events.
    func stop(_ client: MosquittoClient) {
        post { $0.stopping.append(ObjectIdentifier(client)) }
    }

    /// Records a request; wakes the loop only if it sleeps (it takes every request before it
    /// sleeps, so one posted from the loop thread itself costs no system call).
    private func post(_ change: (inout Requests) -> Void) {
        let signal = requests.withLock { requests -> Bool in
            change(&requests)
            guard requests.sleeping, !requests.signalled else { return false }
            requests.signalled = true
            return true
        }
        if signal { wake.signal() }
    }

    // MARK: The loop thread

    /// The loop thread's view of one client.
    private final class Slot {
        let client: MosquittoClient
        var socket: Int32 = -1
        var watchingWrites = false
        var everConnected = false
        /// A connect runs on the connector queue: the loop leaves the handle alone until it ends.
        var connecting = false
        /// Whether the broker accepted the connection since the last connect (a CONNACK).
        var accepted = false
        var stopping = false
        var backoff: ReconnectBackoff
        /// Which connector queue runs this client's connects.
        let lane: Int

        init(_ client: MosquittoClient, lane: Int) {
            self.client = client
            self.lane = lane
            backoff = ReconnectBackoff(initial: client.settings.reconnectInitial, maximum: client.settings.reconnectMax)
        }

        var id: ObjectIdentifier { ObjectIdentifier(client) }

        var handle: OpaquePointer { client.handle }
    }

    private func run() {
        var slots: [ObjectIdentifier: Slot] = [:]
        // Both by owner, in deadline order: thousands of agents share a fleet's loop, and a
        // dictionary scanned (and copied, when a timer fired during the scan) on every turn was
        // a quarter of the fleet's CPU.
        var timers = DeadlineQueue<ObjectIdentifier, ContinuousClock.Instant, Timer>()
        var connectsDue = DeadlineQueue<ObjectIdentifier, ContinuousClock.Instant, Void>()
        var bySocket: [Int32: Slot] = [:]
        var addedCount = 0
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var lastMisc = ContinuousClock.now

        /// Brings the epoll set in line with the client's socket after any libmosquitto call.
        func sync(_ slot: Slot) {
            let socket = mosquitto_socket(slot.handle)
            if socket != slot.socket {
                if slot.socket >= 0 {
                    if bySocket[slot.socket] === slot { bySocket[slot.socket] = nil }
                    _ = epoll_ctl(epoll, EPOLL_CTL_DEL, slot.socket, nil)
                    connectionEnded(slot)
                }
                slot.socket = socket
                slot.watchingWrites = false
                if socket >= 0 {
                    bySocket[socket] = slot
                    var event = epoll_event()
                    event.events = EPOLLIN.rawValue
                    event.data.fd = socket
                    _ = epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event)
                }
            }
            guard slot.socket >= 0 else { return }
            if slot.client.box.connectedOnce {
                slot.backoff.reset()
                slot.accepted = true
            }
            let wantsWrite = mosquitto_want_write(slot.handle)
            if wantsWrite != slot.watchingWrites {
                var event = epoll_event()
                event.events = EPOLLIN.rawValue | (wantsWrite ? EPOLLOUT.rawValue : 0)
                event.data.fd = slot.socket
                _ = epoll_ctl(epoll, EPOLL_CTL_MOD, slot.socket, &event)
                slot.watchingWrites = wantsWrite
            }
        }

        /// The socket closed (error, keep-alive timeout, or our DISCONNECT went out).
        func connectionEnded(_ slot: Slot) {
            guard !slot.stopping else { return }
            let wait = slot.backoff.next { Double.random(in: 0 ..< 1) }
            connectsDue.set(slot.id, at: ContinuousClock.now + wait, ())
            if !slot.accepted {
                // Closed before any CONNACK (refused by TLS, reset, or the broker went away): no
                // disconnect callback says so, so this does.
                let settings = slot.client.settings
                slot.client.box.yield(.connectFailed(MQTTError(code: Int32(MOSQ_ERR_CONN_LOST.rawValue),
                                                               operation: "connect \(settings.host):\(settings.port)",
                                                               message: "the connection closed before the broker accepted it"),
                                                     retryIn: wait))
            }
            slot.accepted = false
        }

        /// Starts a connect on the connector queue; ``connectEnded(_:failure:)`` takes it from there.
        func connect(_ slot: Slot) {
            slot.connecting = true
            let client = slot.client
            let first = !slot.everConnected
            slot.everConnected = true
            connectors[slot.lane].async { [self] in
                let settings = client.settings
                let keepalive = Int32(max(5, settings.keepalive.components.seconds))
                // The blocking connect, off the loop: it resolves the name and tries each of its
                // addresses until one accepts (the async one stops at the first whose connect is
                // merely in progress: `localhost` gave ::1 to a broker on 127.0.0.1 only, and no
                // error). The socket is non-blocking afterwards; CONNECT and any TLS handshake go
                // out on the loop.
                let rc = first
                    ? mosquitto_connect_bind_v5(client.handle, settings.host, Int32(settings.port), keepalive, nil, nil)
                    : mosquitto_reconnect(client.handle)
                // errno is this thread's: take the text here.
                let failure = rc == MOSQ_ERR_SUCCESS.rawValue ? nil
                    : MQTTError(code: rc, operation: "connect \(settings.host):\(settings.port)", message: errorText(rc))
                post { $0.connected.append((ObjectIdentifier(client), failure)) }
            }
        }

        func connectEnded(_ slot: Slot, failure: MQTTError?) {
            slot.connecting = false
            if slot.stopping {
                finish(slot)
                return
            }
            if let failure {
                let wait = slot.backoff.next { Double.random(in: 0 ..< 1) }
                slot.client.box.yield(.connectFailed(failure, retryIn: wait))
                connectsDue.set(slot.id, at: ContinuousClock.now + wait, ())
            }
            sync(slot)
        }

        /// After any call: the epoll set follows the socket, and a stopping client whose
        /// DISCONNECT is out (or that has no connection) is done.
        func settle(_ slot: Slot) {
            sync(slot)
            if slot.stopping, slot.socket < 0 || !mosquitto_want_write(slot.handle) { finish(slot) }
        }

        func finish(_ slot: Slot) {
            guard slots[slot.id] != nil else { return }
            if slot.socket >= 0 {
                if bySocket[slot.socket] === slot { bySocket[slot.socket] = nil }
                _ = epoll_ctl(epoll, EPOLL_CTL_DEL, slot.socket, nil)
            }
            slots[slot.id] = nil
            connectsDue.cancel(slot.id)
            slot.client.loopEnded()
        }

        loopThread.store(UInt(pthread_self()), ordering: .relaxed)
        let serial = asUnownedSerialExecutor()
        let taskExecutor = asUnownedTaskExecutor()
        while true {
            // Everything requested (jobs included, and what they request in turn) before sleeping.
            while true {
                let taken = requests.withLock { requests -> Requests in
                    defer { requests = Requests() }
                    return requests
                }
                let now = ContinuousClock.now
                for client in taken.added where slots[ObjectIdentifier(client)] == nil {
                    slots[ObjectIdentifier(client)] = Slot(client, lane: addedCount % connectors.count)
                    connectsDue.set(ObjectIdentifier(client), at: now, ())
                    addedCount += 1
                }
                for (id, failure) in taken.connected {
                    guard let slot = slots[id] else { continue }
                    connectEnded(slot, failure: failure)
                }
                for id in taken.stopping {
                    guard let slot = slots[id] else { continue }
                    slot.stopping = true
                    connectsDue.cancel(id)
                    if slot.connecting { continue }  // finished when the connect ends
                    if slot.socket >= 0 { _ = mosquitto_loop_write(slot.handle, 1) }
                    settle(slot)
                }
                for id in taken.dirty {
                    guard let slot = slots[id], !slot.connecting, slot.socket >= 0 else { continue }
                    _ = mosquitto_loop_write(slot.handle, 1)
                    settle(slot)
                }
                for (owner, timer) in taken.timers {
                    if let timer { timers.set(owner, at: timer.deadline, timer) } else { timers.cancel(owner) }
                }
                for job in taken.jobs {
                    job.runSynchronously(isolatedTo: serial, taskExecutor: taskExecutor)
                }
                var fired = false
                while let (_, timer) = timers.popDue(ContinuousClock.now) {
                    timer.fire()
                    fired = true
                }
                if taken.isEmpty, !fired { break }
            }
            let now = ContinuousClock.now
            var nextDue = lastMisc + .seconds(1)
            if let due = timers.earliest() { nextDue = min(nextDue, due) }
            while let (id, _) = connectsDue.popDue(now) {
                if let slot = slots[id] { connect(slot) }
            }
            if let due = connectsDue.earliest() { nextDue = min(nextDue, due) }

            let idle = requests.withLock { requests -> Bool in
                guard requests.isEmpty else { return false }
                requests.sleeping = true
                return true
            }
            // Rounded up: a timer due in 0.4 ms must not spin the loop with a 0 ms timeout.
            let wait = now.duration(to: nextDue)
            let timeout = idle ? Int32(clamping: max(0, (wait.nanoseconds + 999_999) / 1_000_000)) : 0
            // Never empty; glibc 2.41 (Debian 13) declares the pointer nonnull, 2.36 does not.
            let count = events.withUnsafeMutableBufferPointer { buffer in
                epoll_wait(epoll, buffer.baseAddress!, Int32(buffer.count), timeout)
            }
            requests.withLock { $0.sleeping = false }
            for index in 0 ..< max(0, Int(count)) {
                let event = events[index]
                if event.data.fd == -1 {
                    wake.drain()
                    continue
                }
                guard let slot = bySocket[event.data.fd], !slot.connecting else { continue }
                if event.events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                    _ = mosquitto_loop_read(slot.handle, 16)
                    settle(slot)
                }
                if slot.socket >= 0, event.events & EPOLLOUT.rawValue != 0 {
                    _ = mosquitto_loop_write(slot.handle, 16)
                    settle(slot)
                }
            }
            let after = ContinuousClock.now
            if after - lastMisc >= .seconds(1) {
                lastMisc = after
                for slot in slots.values where slot.socket >= 0 && !slot.connecting {
                    _ = mosquitto_loop_misc(slot.handle)
                    settle(slot)
                }
            }
        }
    }
}

/// The loop is the executor of the agent's actors and of the tasks that prefer it: every job runs
/// on the loop thread between two rounds of socket work, in the order it was enqueued.
extension MosquittoNetworkLoop: SerialExecutor, TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        post { $0.jobs.append(job) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func checkIsolated() {
        precondition(isLoopThread, "not on the MQTT network loop's thread")
    }
}
