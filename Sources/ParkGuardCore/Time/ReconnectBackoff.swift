/// Exponential reconnect backoff with full jitter: the n-th wait is uniform in
/// `[base/2, base]` with `base = min(max, initial · 2ⁿ)`, so a fleet that lost its broker at
/// once does not come back at once. Pure: the random source is injected.
public struct ReconnectBackoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    public private(set) var attempt = 0

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before the next attempt; `unit` draws from `[0, 1)`.
    public mutating func next(unit: () -> Double) -> Duration {
        let base = min(Double(maximum.nanoseconds), Double(initial.nanoseconds) * Double(1 << min(attempt, 30)))
        attempt += 1
        let jittered = base / 2 + base / 2 * unit()
        return .nanoseconds(Int64(jittered))
    }

    /// The connection came up: start again from `initial`.
    public mutating func reset() { attempt = 0 }
}
