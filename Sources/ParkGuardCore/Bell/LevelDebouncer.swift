/// Leading-edge debounce of one input line.
///
/// A change is reported on the first edge after the line was stable for `window`, so a press
/// costs no debounce latency. Edges inside the window are ignored, and the window slides with
/// every edge: only when the line has been quiet for a whole window is its level *confirmed*.
/// If the confirmed level differs from the last reported one (a bounce train that ended on the
/// other level, or a glitch), that change is reported then. A lockout alone would miss it.
public struct LevelDebouncer: Sendable, Equatable {
    /// A reported change of the debounced level.
    public struct Change: Sendable, Equatable {
        /// The new level (`true` = active).
        public var active: Bool
        /// When the change happened on the line.
        public var at: MonotonicInstant

        public init(active: Bool, at: MonotonicInstant) {
            self.active = active
            self.at = at
        }
    }

    /// The level last reported.
    public private(set) var reported: Bool
    /// The level the line is at now, as far as edges tell.
    public private(set) var raw: Bool
    /// When the window closes and the level is confirmed; `nil` while stable.
    public private(set) var deadline: MonotonicInstant?
    private var lastEdge: MonotonicInstant?
    public let window: Duration

    /// - Parameters:
    ///   - initial: the level read when the line was requested.
    ///   - window: how long the line must stay quiet to count as stable.
    public init(initial: Bool, window: Duration) {
        reported = initial
        raw = initial
        self.window = window
    }

    /// Feeds one edge: the line went to `active` at `at`. Returns the changes to report, in order
    /// (a confirmation that was due before this edge comes first).
    public mutating func edge(to active: Bool, at: MonotonicInstant) -> [Change] {
        var changes: [Change] = []
        if let confirmed = settle(now: at) { changes.append(confirmed) }
        raw = active
        lastEdge = at
        if deadline == nil, active != reported {
            reported = active
            changes.append(Change(active: active, at: at))
        }
        deadline = at + window
        return changes
    }

    /// Closes the window if it is due at `now`; returns the confirmed change, if any.
    public mutating func settle(now: MonotonicInstant) -> Change? {
        guard let due = deadline, now >= due else { return nil }
        deadline = nil
        guard raw != reported else { return nil }
        reported = raw
        return Change(active: raw, at: lastEdge ?? due)
    }
}
