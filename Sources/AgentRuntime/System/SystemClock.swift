import CSystemClock
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore

/// The clocks the agent reads: `CLOCK_MONOTONIC` for every interval (the kernel's GPIO timestamps
/// use it too), the wall clock for payload times, and the kernel's NTP status for `clockSynced`.
public protocol AgentClock: Sendable {
    func now() -> MonotonicInstant
    func stamp() -> Stamp
}

/// The real clocks of this machine.
public struct SystemClock: AgentClock {
    public init() {}

    public func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    public func stamp() -> Stamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let wall = WallTime(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
        return Stamp(wall: wall, mono: now(), clockSynced: Self.clockSynced())
    }

    /// Whether the kernel considers the clock synchronised (NTP cleared `STA_UNSYNC`).
    public static func clockSynced() -> Bool {
        parkguard_clock_synced() != 0
    }
}
