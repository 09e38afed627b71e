/// The retained state of a bell, published on `bell/{bell}/state`.
public enum BellState: String, Sendable, Equatable, Codable, CaseIterable {
    case idle, alarm, acknowledged, fault, disabled
}

/// What a bell event reports on `bell/{bell}/alarm`.
public enum AlarmKind: String, Sendable, Equatable, Codable, CaseIterable {
    /// The bell was pressed (always a new alarm, even while one is open).
    case press
    /// The press has lasted `holdAfter`.
    case hold
    /// The bell was released.
    case release
    /// The press has lasted `stuckAfter`: the contact is stuck, the bell is in `fault`.
    case stuck
    /// A stuck or faulty line is back to normal.
    case recovered
    /// The line itself failed (request refused, event stream broken).
    case lineFault
    /// A tamper switch or door on this bell opened.
    case tamper
    /// The tamper switch or door closed again.
    case tamperRestored
}

/// Local annunciation that a bell asks for; the runtime maps roles to configured outputs.
public enum OutputRequest: Sendable, Equatable {
    case on(OutputConfig.Role)
    case off(OutputConfig.Role)
}

/// The lifecycle of one bell: debounce, press/hold/release, stuck → fault → recovery, the hub's
/// acknowledgement, and the outputs that follow. Pure: it takes events with their monotonic time
/// and returns actions, to be carried out in order (a press's outputs come first); ``deadline``
/// says when ``tick(now:)`` must be called next.
public struct BellMachine: Sendable {
    /// What the runtime must do.
    public enum Action: Sendable, Equatable {
        /// Publish an alarm event of this kind (the line change happened at `at`).
        case alarm(AlarmKind, at: MonotonicInstant, detail: String?)
        /// Publish the new retained state.
        case state(BellState)
        /// Drive local outputs.
        case output(OutputRequest)
    }

    /// Why a command was refused.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case noOpenAlarm(BellState)
        case disabled
        public var description: String {
            switch self {
            case .noOpenAlarm(let state): "the bell has no open alarm (state is \(state.rawValue))"
            case .disabled: "the bell is disabled"
            }
        }
    }

    public let id: String
    public let timing: BellTiming
    public private(set) var state: BellState
    public private(set) var pressed: Bool
    private var debouncer: LevelDebouncer
    private var pressedSince: MonotonicInstant?
    private var holdReported = false
    private var stuck = false
    private var lineFaulted = false
    private var acknowledgedUntil: MonotonicInstant?

    /// - Parameters:
    ///   - enabled: a disabled bell ignores its line and stays `disabled`.
    public init(id: String, timing: BellTiming, enabled: Bool = true) {
        self.id = id
        self.timing = timing
        self.state = enabled ? .idle : .disabled
        self.pressed = false
        self.debouncer = LevelDebouncer(initial: false, window: timing.debounce)
    }

    /// The line was requested and reads `active` at `now`. A bell already pressed at start is a
    /// press: somebody may be holding it while the unit boots.
    public mutating func start(active: Bool, now: MonotonicInstant) -> [Action] {
        debouncer = LevelDebouncer(initial: false, window: timing.debounce)
        guard state != .disabled else { return [.state(.disabled)] }
        // The retained state itself goes out with every connect's snapshot.
        var actions: [Action] = []
        if active {
            actions += apply(LevelDebouncer.Change(active: true, at: now), detail: "active at start")
            _ = debouncer.edge(to: true, at: now)
        }
        return actions
    }

    /// A logical edge from the line (`active` = pressed).
    public mutating func edge(active: Bool, at: MonotonicInstant) -> [Action] {
        guard state != .disabled else { return [] }
        return debouncer.edge(to: active, at: at).flatMap { apply($0, detail: nil) }
    }

    /// Time has passed: confirms debounced levels, reports hold and stuck, ends acknowledgement.
    public mutating func tick(now: MonotonicInstant) -> [Action] {
        guard state != .disabled else { return [] }
        var actions: [Action] = []
        if let change = debouncer.settle(now: now) { actions += apply(change, detail: "level confirmed") }
        if pressed, let since = pressedSince {
            if !holdReported, now >= since + timing.holdAfter {
                holdReported = true
                actions.append(.alarm(.hold, at: since + timing.holdAfter, detail: nil))
            }
            if !stuck, now >= since + timing.stuckAfter {
                stuck = true
                actions.append(.alarm(.stuck, at: since + timing.stuckAfter,
                                      detail: "pressed for \(ConfigUnits.describe(timing.stuckAfter))"))
                actions.append(.output(.off(.siren)))
                actions.append(.output(.off(.strobe)))
                actions += move(to: .fault)
            }
        }
        if state == .acknowledged, let until = acknowledgedUntil, now >= until, !pressed {
            acknowledgedUntil = nil
            actions += move(to: .idle)
        }
        return actions
    }

    /// The next instant at which ``tick(now:)`` has something to do.
    public var deadline: MonotonicInstant? {
        var candidates: [MonotonicInstant] = []
        if let d = debouncer.deadline { candidates.append(d) }
        if pressed, let since = pressedSince {
            if !holdReported { candidates.append(since + timing.holdAfter) }
            if !stuck { candidates.append(since + timing.stuckAfter) }
        }
        if state == .acknowledged, !pressed, let until = acknowledgedUntil { candidates.append(until) }
        return candidates.min()
    }

    /// The control centre took the call.
    public mutating func acknowledge(now: MonotonicInstant) throws(Refusal) -> [Action] {
        guard state != .disabled else { throw .disabled }
        guard state == .alarm else { throw .noOpenAlarm(state) }
        acknowledgedUntil = now + timing.acknowledgedFor
        return [.output(.on(.callAccepted))] + move(to: .acknowledged)
    }

    /// Silence the siren (the strobe keeps flashing).
    public mutating func silence() throws(Refusal) -> [Action] {
        guard state != .disabled else { throw .disabled }
        return [.output(.off(.siren))]
    }

    /// The line failed (or came back, with `failed` false).
    public mutating func lineFault(_ failed: Bool, reason: String, now: MonotonicInstant) -> [Action] {
        guard state != .disabled, failed != lineFaulted else { return [] }
        lineFaulted = failed
        if failed { return [.alarm(.lineFault, at: now, detail: reason)] + move(to: .fault) }
        return [.alarm(.recovered, at: now, detail: reason)] + move(to: stuck ? .fault : .idle)
    }

    private mutating func apply(_ change: LevelDebouncer.Change, detail: String?) -> [Action] {
        if change.active {
            pressed = true
            pressedSince = change.at
            holdReported = false
            // The outputs first: the runtime carries actions out in order, and annunciation never
            // waits for the alarm's publish or its state.
            return [.output(.on(.strobe)), .output(.on(.siren)), .alarm(.press, at: change.at, detail: detail)]
                + move(to: lineFaulted ? .fault : .alarm)
        }
        pressed = false
        pressedSince = nil
        var actions: [Action] = [.alarm(.release, at: change.at, detail: detail)]
        if stuck {
            stuck = false
            actions.append(.alarm(.recovered, at: change.at, detail: "stuck contact released"))
            actions += move(to: lineFaulted ? .fault : .idle)
        }
        return actions
    }

    private mutating func move(to next: BellState) -> [Action] {
        guard next != state else { return [] }
        state = next
        return [.state(next)]
    }
}
