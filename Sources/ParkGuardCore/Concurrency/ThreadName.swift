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
