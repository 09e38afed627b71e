#if canImport(Glibc)
import Glibc
#endif
import ParkGuardCore

/// One thread that waits in `poll` for every socket a task is waiting on, and resumes the task
/// when its socket is ready, its deadline passes or it is cancelled. The daemon's camera probes
/// and control socket are a few sockets at a time, so a `poll` over a rebuilt list is enough; no
/// socket is read or written on this thread, it only wakes the waiting tasks. With nothing to
/// wait for it sleeps in `poll` without a timeout and costs no CPU.
public final class SocketReactor: Sendable {
    /// The process's reactor (its thread starts with the first wait).
    public static let shared = SocketReactor(threadName: "pg-sockets")

    /// What a waiting task learns.
    enum Outcome: Sendable { case ready, timedOut, cancelled }

    private struct Waiter {
        let fd: Int32
        let events: Int16
        let deadline: ContinuousClock.Instant?
        let continuation: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        /// Waits cancelled before they were registered.
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 0
        var started = false
    }

    private let state = Locked(State())
    private let threadName: String
    /// A pipe that a new waiter writes to make `poll` rebuild its list (Glibc's Swift module
    /// does not export `eventfd`).
    private let wakeFD: Int32
    private let wakeWriteFD: Int32

    init(threadName: String) {
        self.threadName = threadName
        var ends: [Int32] = [0, 0]
        // Only a process out of descriptors fails here, at its first socket.
        precondition(pipe(&ends) == 0, "pipe failed: \(String(cString: strerror(errno)))")
        for fd in ends {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakeFD = ends[0]
        wakeWriteFD = ends[1]
    }

    /// Waits until `fd` is readable (or writable), or `deadline` passes.
    /// - Throws: ``SocketError/Kind/timeout`` or ``SocketError/Kind/cancelled``.
    func wait(for fd: Int32, writable: Bool, until deadline: ContinuousClock.Instant?) async throws(SocketError) {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let events = Int16(writable ? POLLOUT : POLLIN)
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let (register, startThread) = state.withLock { state -> (Bool, Bool) in
                    if state.cancelledEarly.remove(id) != nil { return (false, false) }
                    state.waiters[id] = Waiter(fd: fd, events: events, deadline: deadline, continuation: continuation)
                    let start = !state.started
                    state.started = true
                    return (true, start)
                }
                guard register else {
                    continuation.resume(returning: .cancelled)
                    return
                }
                if startThread { detachThread(named: threadName) { [self] in run() } } else { wake() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelledEarly.insert(id)
                return nil
            }
            waiter?.continuation.resume(returning: .cancelled)
        }
        switch outcome {
        case .ready: return
        case .timedOut: throw SocketError(.timeout, "no answer in time")
        case .cancelled: throw SocketError(.cancelled, "cancelled")
        }
    }

    private func wake() {
        var one: UInt8 = 1
        // A full pipe already holds a wake-up.
        _ = retryingEINTR { write(wakeWriteFD, &one, 1) }
    }

    private func run() {
        let clock = ContinuousClock()
        var fds: [pollfd] = []
        var ids: [UInt64] = []
        while true {
            fds.removeAll(keepingCapacity: true)
            ids.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
            let earliest = state.withLock { state -> ContinuousClock.Instant? in
                var earliest: ContinuousClock.Instant?
                for (id, waiter) in state.waiters {
                    ids.append(id)
                    fds.append(pollfd(fd: waiter.fd, events: waiter.events, revents: 0))
                    if let deadline = waiter.deadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
                }
                return earliest
            }
            var timeout: Int32 = -1
            if let earliest {
                let left = clock.now.duration(to: earliest)
                // Rounded up, so a wait never ends a millisecond early and spins.
                let (seconds, attoseconds) = left.components
                timeout = left <= .zero ? 0 : Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            let count = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            if count < 0, errno != EINTR {
                // Only a bad array or no memory; pause a millisecond so a failing poll cannot spin a core.
                usleep(1000)
                continue
            }
            if fds[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeFD, &drain, drain.count) > 0 {}
            }
            let now = clock.now
            var resumed: [(CheckedContinuation<Outcome, Never>, Outcome)] = []
            state.withLock { state in
                for (index, id) in ids.enumerated() {
                    guard let waiter = state.waiters[id] else { continue }
                    let revents = fds[index + 1].revents
                    if revents != 0 {
                        // POLLERR, POLLHUP and POLLNVAL count as ready: the next call on the socket reports them.
                        state.waiters[id] = nil
                        resumed.append((waiter.continuation, .ready))
                    } else if let deadline = waiter.deadline, deadline <= now {
                        state.waiters[id] = nil
                        resumed.append((waiter.continuation, .timedOut))
                    }
                }
            }
            for (continuation, outcome) in resumed { continuation.resume(returning: outcome) }
        }
    }
}
