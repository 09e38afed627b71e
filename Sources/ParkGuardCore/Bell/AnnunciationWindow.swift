/// How quickly the unit switched its outputs after reading a press's edge: the time from the GPIO
/// reader taking the edge to the last output `set` it caused, over the most recent presses.
/// Pure: the caller measures with its clock and records.
public struct AnnunciationWindow: Sendable, Equatable {
    /// Samples kept (a ring): enough for a p99 over a day of a busy park, small enough to sort at
    /// every heartbeat.
    public static let capacity = 1024
    private var samples: [Duration] = []
    private var next = 0
    /// Every sample recorded since start, including those the ring no longer holds.
    public private(set) var recorded: UInt64 = 0

    public init() {}

    public mutating func record(_ duration: Duration) {
        recorded += 1
        if samples.count < Self.capacity {
            samples.append(duration)
        } else {
            samples[next] = duration
            next = (next + 1) % Self.capacity
        }
    }

    /// The figures for telemetry; nil before the first press.
    public var figures: TelemetryPayload.Annunciation? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func rank(_ p: Double) -> Duration { sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))] }
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
        return TelemetryPayload.Annunciation(presses: recorded, window: sorted.count, p50Ms: ms(rank(0.5)), p99Ms: ms(rank(0.99)),
                                             maxMs: ms(sorted.last!))
    }
}
