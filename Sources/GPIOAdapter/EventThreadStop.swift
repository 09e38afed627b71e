#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ParkGuardCore

/// How a libgpiod backend stops its event thread and waits for it, the same for both API
/// versions: the thread polls ``fd`` beside its lines and returns once it is readable;
/// ``stopAndJoin()`` makes it readable and waits for the thread to exit, so the lines are released
/// only after the thread's last read (never an fd that was closed, or reused for something else).
final class EventThreadStop: Sendable {
    /// The read end of the stop pipe, for the event thread's poll set.
    let fd: Int32
    private let writeEnd: Int32
    private let exited = DispatchSemaphore(value: 0)

    init() throws(GPIOError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw GPIOError(operation: "pipe", message: osError(errno)) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        (fd, writeEnd) = (fds[0], fds[1])
    }

    deinit {
        Glibc.close(fd)
        Glibc.close(writeEnd)
    }

    /// Runs `body` (given ``fd``) on the event thread, `pg-gpio`.
    func start(_ body: @escaping @Sendable (Int32) -> Void) {
        detachThread(named: "pg-gpio") { [self] in
            body(fd)
            exited.signal()
        }
    }

    /// Tells a started event thread to stop and waits until it has.
    func stopAndJoin() {
        var byte: UInt8 = 1
        _ = SystemCall.retrying { write(writeEnd, &byte, 1) }
        exited.wait()
    }
}
