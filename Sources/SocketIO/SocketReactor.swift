#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import ParkGuardCore

/// One thread that waits in `epoll_wait` for every socket a task is waiting on, and resumes the
/// task when its socket is ready, its deadline passes or it is cancelled. A waiting task arms
/// its socket itself (`EPOLL_CTL_MOD`, one-shot), so a wait costs one system call and wakes this
/// thread only when the socket is ready — or, rarely, to bring its sleep forward to a deadline
/// earlier than the one it sleeps towards. No socket is read or written on this thread. With
/// nothing to wait for it sleeps without a timeout and costs no CPU.
///
/// A resumed task may find its socket not ready after all (a readiness left armed by a wait that
/// timed out); every caller reads or writes non-blocking and waits again on `EAGAIN`.
public final class SocketReactor: Sendable {
    /// The process's reactor (its thread starts with the first wait).
    public static let shared = SocketReactor(threadName: "pg-sockets")

    /// What a waiting task learns.
    enum Outcome: Sendable { case ready, timedOut, cancelled }

    private struct Waiter {
        let id: UInt64
        let deadline: ContinuousClock.Instant?
        let continuation: CheckedContinuation<Outcome, Never>
    }

    /// The waits on one descriptor: at most one reader and one writer.
    private struct Waits {
        var read: Waiter?
        var write: Waiter?
        var isEmpty: Bool { read == nil && write == nil }
        var events: UInt32 {
            (read == nil ? 0 : EPOLLIN.rawValue) | (write == nil ? 0 : EPOLLOUT.rawValue) | EPOLLONESHOT.rawValue
        }
    }

    private struct State {
        var waits: [Int32: Waits] = [:]
        /// Descriptors added to the epoll set (a closed descriptor leaves the set by itself; the
        /// next arm of its reused number falls back from MOD to ADD).
        var added: Set<Int32> = []
        /// Waits cancelled before they were registered.
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 0
        var started = false
        /// The deadline the thread sleeps towards (`nil`: none, it sleeps until an event).
        var plannedWake: ContinuousClock.Instant?
    }

    private let state = Locked(State())
    private let threadName: String
    private let epoll: Int32
    /// A pipe whose write end brings the thread's sleep forward (Glibc's Swift module does not
    /// export `eventfd`).
    private let wakeFD: Int32
    private let wakeWriteFD: Int32

    init(threadName: String) {
        self.threadName = threadName
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        var ends: [Int32] = [0, 0]
        // Only a process out of descriptors fails here, at its first socket.
        precondition(epoll >= 0 && pipe(&ends) == 0, "epoll_create1 or pipe failed: \(String(cString: strerror(errno)))")
        for fd in ends {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakeFD = ends[0]
        wakeWriteFD = ends[1]
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: wakeFD))
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event)
    }

    /// Waits until `fd` is readable (or writable), or `deadline` passes.
    /// - Throws: ``SocketError/Kind/timeout`` or ``SocketError/Kind/cancelled``.
    func wait(for fd: Int32, writable: Bool, until deadline: ContinuousClock.Instant?) async throws(SocketError) {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                enum Registration { case cancelled, registered(startThread: Bool, wake: Bool, displaced: Waiter?) }
                let registration = state.withLock { state -> Registration in
                    if state.cancelledEarly.remove(id) != nil { return .cancelled }
                    var waits = state.waits[fd] ?? Waits()
                    let waiter = Waiter(id: id, deadline: deadline, continuation: continuation)
                    let displaced: Waiter?
                    if writable { displaced = waits.write; waits.write = waiter } else { displaced = waits.read; waits.read = waiter }
                    state.waits[fd] = waits
                    arm(fd, waits.events, in: &state)
                    let start = !state.started
                    state.started = true
                    var wake = false
                    if let deadline, state.plannedWake.map({ deadline < $0 }) ?? true {
                        state.plannedWake = deadline
                        wake = !start
                    }
                    return .registered(startThread: start, wake: wake, displaced: displaced)
                }
                switch registration {
                case .cancelled:
                    continuation.resume(returning: .cancelled)
                case .registered(let startThread, let wake, let displaced):
                    // Two waits in one direction on one socket: the first is told to look again.
                    displaced?.continuation.resume(returning: .ready)
                    if startThread { detachThread(named: threadName) { [self] in run() } } else if wake { self.wake() }
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard var waits = state.waits[fd] else {
                    state.cancelledEarly.insert(id)
                    return nil
                }
                let found: Waiter?
                if waits.read?.id == id { found = waits.read; waits.read = nil } else if waits.write?.id == id { found = waits.write; waits.write = nil } else {
                    state.cancelledEarly.insert(id)
                    return nil
                }
                state.waits[fd] = waits.isEmpty ? nil : waits
                return found
            }
            waiter?.continuation.resume(returning: .cancelled)
        }
        switch outcome {
        case .ready: return
        case .timedOut: throw SocketError(.timeout, "no answer in time")
        case .cancelled: throw SocketError(.cancelled, "cancelled")
        }
    }

    /// Arms `fd` for `events` (one-shot), adding it to the set if it is not there.
    private func arm(_ fd: Int32, _ events: UInt32, in state: inout State) {
        var event = epoll_event(events: events, data: epoll_data_t(fd: fd))
        if state.added.contains(fd), epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event) == 0 { return }
        if epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 || (errno == EEXIST && epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event) == 0) {
            state.added.insert(fd)
        }
        // Otherwise (a descriptor already closed) the wait ends at its deadline or cancellation,
        // and the caller's next call on the socket reports the error.
    }

    private func wake() {
        var one: UInt8 = 1
        // A full pipe already holds a wake-up.
        _ = retryingEINTR { write(wakeWriteFD, &one, 1) }
    }

    private func run() {
        let clock = ContinuousClock()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let planned = state.withLock { state -> ContinuousClock.Instant? in
                var earliest: ContinuousClock.Instant?
                for waits in state.waits.values {
                    for deadline in [waits.read?.deadline, waits.write?.deadline] {
                        if let deadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
                    }
                }
                state.plannedWake = earliest
                return earliest
            }
            var timeout: Int32 = -1
            if let planned {
                let left = clock.now.duration(to: planned)
                // Rounded up, so a wait never ends a millisecond early and spins.
                let (seconds, attoseconds) = left.components
                timeout = left <= .zero ? 0 : Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            // baseAddress! : glibc 2.41 (Debian 13) declares the events pointer non-optional.
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress!, Int32($0.count), timeout) }
            if count < 0, errno != EINTR {
                // Only a bad descriptor or no memory; pause a millisecond so a failing wait cannot spin a core.
                usleep(1000)
                continue
            }
            let now = clock.now
            var resumed: [(CheckedContinuation<Outcome, Never>, Outcome)] = []
            state.withLock { state in
                for index in 0 ..< Int(max(0, count)) {
                    let fd = events[index].data.fd
                    let ready = events[index].events
                    if fd == wakeFD {
                        var drain = [UInt8](repeating: 0, count: 64)
                        while read(wakeFD, &drain, drain.count) > 0 {}
                        continue
                    }
                    guard var waits = state.waits[fd] else { continue }
                    let failed = ready & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
                    if let reader = waits.read, failed || ready & EPOLLIN.rawValue != 0 {
                        resumed.append((reader.continuation, .ready))
                        waits.read = nil
                    }
                    if let writer = waits.write, failed || ready & EPOLLOUT.rawValue != 0 {
                        resumed.append((writer.continuation, .ready))
                        waits.write = nil
                    }
                    state.waits[fd] = waits.isEmpty ? nil : waits
                    // One-shot: the event disarmed the descriptor; the wait still pending is armed again.
                    if !waits.isEmpty { arm(fd, waits.events, in: &state) }
                }
                for (fd, var waits) in state.waits {
                    if let reader = waits.read, let deadline = reader.deadline, deadline <= now {
                        resumed.append((reader.continuation, .timedOut))
                        waits.read = nil
                    }
                    if let writer = waits.write, let deadline = writer.deadline, deadline <= now {
                        resumed.append((writer.continuation, .timedOut))
                        waits.write = nil
                    }
                    state.waits[fd] = waits.isEmpty ? nil : waits
                }
            }
            for (continuation, outcome) in resumed { continuation.resume(returning: outcome) }
        }
    }
}
