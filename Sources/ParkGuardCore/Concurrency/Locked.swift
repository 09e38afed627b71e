#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value reached only under a lock: the one lock type of every thread that is not an actor
/// (the outbox's writer, the MQTT network loops, the GPIO readers, the simulator's servers).
///
/// Why not `Synchronization.Mutex`: on Linux its contended path hands the lock over in the
/// kernel (`FUTEX_LOCK_PI`), which ThreadSanitizer cannot see, so every contended section was
/// reported as a race and a real one would drown in them (`Tests/Sanitizers/run`). A
/// `pthread_mutex_t` is what ThreadSanitizer models; uncontended, glibc takes it with one atomic
/// compare-and-swap, as `Mutex` does.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    // @unchecked: `value` is read and written only inside `withLock`, under `mutex`; `mutex`
    // itself is set once in init and never replaced.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init: \(status)")
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock; never call `withLock` of the same lock inside.
    public func withLock<Result: ~Copyable, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
