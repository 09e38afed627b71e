/// When a unit runs its scheduled self-test: every `every` from `at` local time, each unit at
/// its own point within `jitter` after it, so a fleet does not test (and publish) all at once.
/// Pure: the caller gives the wall time and the local time's offset from UTC. The slots are
/// fixed in calendar time, so a restart neither skips nor repeats one.
public struct SelfTestSchedule: Sendable, Equatable {
    /// Time between tests (1 hour to 90 days).
    public var every: Duration
    /// The local time of day of the first slot, in seconds after midnight.
    public var at: Int
    /// The window after `at` the units spread over.
    public var jitter: Duration

    public init(every: Duration, at: Int, jitter: Duration) {
        self.every = every
        self.at = at
        self.jitter = jitter
    }

    /// The default: weekly, from 03:00 local time, spread over an hour.
    public static let weekly = SelfTestSchedule(every: .seconds(7 * 86_400), at: 3 * 3600, jitter: .seconds(3600))

    /// The first slot of `unit` strictly after `now`.
    /// - Parameter utcOffsetSeconds: local time minus UTC now (`+32400` in Seoul).
    public func next(after now: WallTime, unit: String, utcOffsetSeconds: Int) -> WallTime {
        let everyMs = every.milliseconds
        // The anchor: 1970-01-01 at `at` local time, plus this unit's share of the jitter.
        let anchor = Int64(at) * 1000 - Int64(utcOffsetSeconds) * 1000 + offset(for: unit)
        let since = now.millisecondsSinceEpoch - anchor
        var slots = since >= 0 ? since / everyMs + 1 : -((-since) / everyMs)
        if anchor + slots * everyMs <= now.millisecondsSinceEpoch { slots += 1 }
        return WallTime(millisecondsSinceEpoch: anchor + slots * everyMs)
    }

    /// This unit's place in the jitter window: FNV-1a of its name, so it is the same on every
    /// start and differs between units.
    public func offset(for unit: String) -> Int64 {
        let window = jitter.milliseconds
        guard window > 0 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in unit.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(hash % UInt64(window))
    }

}
