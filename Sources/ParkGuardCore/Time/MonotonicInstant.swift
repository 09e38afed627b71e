/// A point on the kernel's `CLOCK_MONOTONIC`, in nanoseconds since boot.
///
/// GPIO edge events carry this clock (Linux ≥ 5.7), so the bell logic measures debounce, hold
/// and stuck intervals on it and never on the wall clock, which jumps when NTP syncs.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since boot.
    public var nanoseconds: UInt64

    /// Creates an instant from nanoseconds since boot.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// Milliseconds since boot, the `mono` field of every payload.
    public var milliseconds: UInt64 { nanoseconds / 1_000_000 }

    /// The instant `duration` later (or earlier, for a negative duration; clamped at boot).
    public func advanced(by duration: Duration) -> MonotonicInstant {
        let delta = duration.nanoseconds
        if delta >= 0 { return MonotonicInstant(nanoseconds: nanoseconds &+ UInt64(delta)) }
        let back = UInt64(-delta)
        return MonotonicInstant(nanoseconds: back > nanoseconds ? 0 : nanoseconds - back)
    }

    /// The signed duration from `self` to `other`.
    public func duration(to other: MonotonicInstant) -> Duration {
        if other.nanoseconds >= nanoseconds {
            return .nanoseconds(Int64(other.nanoseconds - nanoseconds))
        }
        return .nanoseconds(-Int64(nanoseconds - other.nanoseconds))
    }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public static func + (lhs: MonotonicInstant, rhs: Duration) -> MonotonicInstant { lhs.advanced(by: rhs) }

    public var description: String { "mono+\(milliseconds)ms" }
}

extension Duration {
    /// The whole duration in nanoseconds (saturating far beyond any interval this project uses).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The whole duration in milliseconds.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
