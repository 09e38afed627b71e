#if canImport(Glibc)
import Glibc
#endif

/// Why a socket operation did not complete: the adapter's one mapping of `errno` values and
/// deadlines to words a caller can act on.
public struct SocketError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The deadline passed first.
        case timeout
        /// The waiting task was cancelled.
        case cancelled
        /// Nobody listens there (`ECONNREFUSED`).
        case refused
        /// The peer reset the connection or went away while we wrote (`ECONNRESET`, `EPIPE`).
        case reset
        /// No such socket file or name (`ENOENT`, a name that does not resolve).
        case notFound
        /// The caller may not use it (`EACCES`, `EPERM`).
        case denied
        /// No route, host down, network down.
        case unreachable
        /// Anything else.
        case other
    }

    public var kind: Kind
    /// The `errno` value, or 0 when the error is not a system call's.
    public var code: Int32
    public var description: String

    public init(_ kind: Kind, code: Int32 = 0, _ description: String) {
        self.kind = kind
        self.code = code
        self.description = description
    }

    /// The error of a system call `call` that failed with `code`.
    public static func system(_ call: String, _ code: Int32) -> SocketError {
        let kind: Kind = switch code {
        case ECONNREFUSED: .refused
        case ECONNRESET, EPIPE, ECONNABORTED: .reset
        case ENOENT: .notFound
        case EACCES, EPERM: .denied
        case ENETUNREACH, EHOSTUNREACH, ENETDOWN, EHOSTDOWN, EADDRNOTAVAIL: .unreachable
        case ETIMEDOUT: .timeout
        default: .other
        }
        return SocketError(kind, code: code, "\(call): \(String(cString: strerror(code)))")
    }
}

/// Calls `body` again while it fails with `EINTR`; returns its last result, with `errno` as that
/// call left it.
func retryingEINTR<Result: BinaryInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result < 0, errno == EINTR { continue }
        return result
    }
}
