#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// The adapter's one helper for system calls and libgpiod calls that set `errno`: it retries a
/// call interrupted by a signal (`EINTR`), and names the error of one that failed.
enum SystemCall {
    /// Calls `body` again while it fails with `EINTR`; returns its last result, with `errno` as
    /// that call left it.
    static func retrying<Result: BinaryInteger>(_ body: () -> Result) -> Result {
        while true {
            let result = body()
            if result < 0, errno == EINTR { continue }
            return result
        }
    }
}

/// The text of an `errno` value.
func osError(_ code: Int32) -> String { String(cString: strerror(code)) }
