#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread (as `ps -L`, `top -H`, `/proc/PID/task/*/comm` and the benchmark's
/// per-thread switch counts show it). Linux keeps 15 bytes. Written through
/// `/proc/thread-self/comm`: Glibc's `pthread_setname_np` is not visible to Swift.
public func nameCurrentThread(_ name: String) {
    #if canImport(Glibc)
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    #endif
}

/// Runs `body` on a new, detached OS thread named `name`: for the loops that block in `poll` or
/// `epoll_wait` (the GPIO reader, the network loop), which must not hold a thread of Swift's
/// cooperative pool. (Foundation's `Thread` does the same, at the price of full Foundation.)
public func detachThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    #if canImport(Glibc)
    final class Start: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(&thread, nil, { raw in
        let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
        nameCurrentThread(start.name)
        start.body()
        return nil
    }, start)
    // Only a system out of threads or memory refuses; the agent cannot run without its loops.
    precondition(created == 0, "pthread_create failed (\(created))")
    pthread_detach(thread)
    #endif
}
