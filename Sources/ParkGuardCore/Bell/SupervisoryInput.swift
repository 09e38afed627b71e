/// A tamper switch or door contact: debounced, and reported as ``AlarmKind/tamper`` when it goes
/// active and ``AlarmKind/tamperRestored`` when it returns.
public struct SupervisoryInput: Sendable {
    public let config: InputConfig
    private var debouncer: LevelDebouncer

    public init(config: InputConfig) {
        self.config = config
        self.debouncer = LevelDebouncer(initial: false, window: config.debounce)
    }

    /// The input was requested and reads `active` at `now`.
    public mutating func start(active: Bool, now: MonotonicInstant) -> [LevelDebouncer.Change] {
        debouncer = LevelDebouncer(initial: false, window: config.debounce)
        return active ? debouncer.edge(to: true, at: now) : []
    }

    /// A logical edge from the line.
    public mutating func edge(active: Bool, at: MonotonicInstant) -> [LevelDebouncer.Change] {
        debouncer.edge(to: active, at: at)
    }

    /// Confirms the debounced level when due.
    public mutating func tick(now: MonotonicInstant) -> [LevelDebouncer.Change] {
        debouncer.settle(now: now).map { [$0] } ?? []
    }

    /// When ``tick(now:)`` must be called next.
    public var deadline: MonotonicInstant? { debouncer.deadline }

    /// The alarm kind for a change.
    public static func kind(of change: LevelDebouncer.Change) -> AlarmKind {
        change.active ? .tamper : .tamperRestored
    }
}
