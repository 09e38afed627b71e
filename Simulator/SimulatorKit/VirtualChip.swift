import Foundation
import ParkGuardCore

/// The simulator's GPIO chip. Inputs are contacts the control API presses and releases; the
/// agent sees logical edges stamped with `CLOCK_MONOTONIC`, like the kernel's. Outputs are
/// levels the agent drives; the control API reads them back.
public final class VirtualChip: Sendable {
    /// One line of the chip as the control API shows it.
    public struct LineInfo: Codable, Sendable, Equatable {
        public var line: Int
        /// Configured name (bell, input or output id) if the simulator knows the agent's config.
        public var name: String?
        public var role: String?
        /// `input`, `output`, or nil while nobody has requested the line.
        public var direction: String?
        public var consumer: String?
        /// Whether the contact on an input line is closed (the bell is pressed, the door open).
        public var active: Bool
        /// The physical level on the pin.
        public var level: Bool
        /// For outputs: whether the output is on (active-low per the agent's config applied).
        public var on: Bool?
        /// For outputs: when the agent last set the line, in `CLOCK_MONOTONIC` nanoseconds (the
        /// clock of the edges' `ts`), so press → output can be timed.
        public var drivenAt: UInt64?
        /// An injected wiring fault on an input (``WiringFault``).
        public var wiringFault: String?
    }

    /// What can be wrong with a bell's wiring, for the self-test to find.
    public enum WiringFault: String, Sendable, CaseIterable {
        /// The line never changes: presses and the test drive do nothing (a cut wire).
        case stuck
        /// The test drive's relay does not reach the bell; presses still work.
        case driveCut = "drive-cut"
        /// As `drive-cut`, and a person presses 0.3 s into the test drive and lets go 1.2 s later:
        /// a press the test must hand to the bell, at a moment a test can count on.
        case pressDuringTest = "press-during-test"
    }

    private struct Line {
        /// What the agent reads: the person's contact or the test drive, through the faults.
        var active = false
        /// The contact closed by a person (press, hold, bounce).
        var pressed = false
        /// The test drive's relay closes the circuit.
        var driven = false
        var fault: WiringFault?
        var direction: String?
        var activeLow = false
        var bias = "as-is"
        var owner: UInt64?
        var consumer: String?
        var outputLevel = false
        var drivenAt: UInt64?
        /// Edges numbered since the line was requested (libgpiod 2's `line_seqno`).
        var seq: UInt64 = 0
    }

    private struct State {
        var lines: [Line]
        var subscribers: [UInt64: AsyncStream<SimWire.Message>.Continuation] = [:]
        var consumers: [UInt64: String] = [:]
        var nextConnection: UInt64 = 1
    }

    public let label: String
    public let names: LineNames
    private let state: Locked<State>

    public init(label: String = "parkguard-sim", lineCount: Int = 64, names: LineNames = LineNames()) {
        self.label = label
        self.names = names
        state = Locked(State(lines: Array(repeating: Line(), count: lineCount)))
    }

    public var lineCount: Int { state.withLock { $0.lines.count } }

    // MARK: The agent's side

    /// A new agent connection; its edges arrive on the returned stream.
    public func connect() -> (id: UInt64, edges: AsyncStream<SimWire.Message>) {
        let (stream, continuation) = AsyncStream.makeStream(of: SimWire.Message.self)
        let id = state.withLock { state -> UInt64 in
            defer { state.nextConnection += 1 }
            state.subscribers[state.nextConnection] = continuation
            return state.nextConnection
        }
        return (id, stream)
    }

    /// The connection closed: its lines are released, like closing a line request fd.
    public func disconnect(_ connection: UInt64) {
        let continuation = state.withLock { state -> AsyncStream<SimWire.Message>.Continuation? in
            for index in state.lines.indices where state.lines[index].owner == connection {
                state.lines[index].owner = nil
                state.lines[index].direction = nil
                state.lines[index].consumer = nil
            }
            state.consumers[connection] = nil
            return state.subscribers.removeValue(forKey: connection)
        }
        continuation?.finish()
    }

    /// Answers one request of the wire protocol.
    public func handle(_ request: SimWire.Request, from connection: UInt64) -> SimWire.Message {
        func fail(_ message: String) -> SimWire.Message { SimWire.Message(ev: .error, id: request.id, line: request.line, message: message) }
        return state.withLock { state -> SimWire.Message in
            if request.op == .hello {
                state.consumers[connection] = request.consumer
                return SimWire.Message(ev: .ok, id: request.id, chip: label, lines: state.lines.count)
            }
            guard let offset = request.line else { return fail("'line' is required for \(request.op.rawValue)") }
            guard state.lines.indices.contains(offset) else {
                return fail("line \(offset) does not exist (the chip has \(state.lines.count) lines)")
            }
            var line = state.lines[offset]
            switch request.op {
            case .hello:
                return fail("unreachable")
            case .request:
                if let owner = line.owner, owner != connection {
                    return fail("line \(offset) is busy (requested by '\(line.consumer ?? "?")')")
                }
                guard let direction = request.direction, direction == "input" || direction == "output" else {
                    return fail("'direction' must be input or output")
                }
                if let bias = request.bias, !LineSetup.Bias.allCases.map(\.rawValue).contains(bias) {
                    return fail("'bias' must be one of as-is, disabled, pull-up, pull-down")
                }
                line.owner = connection
                line.seq = 0
                line.consumer = state.consumers[connection]
                line.direction = direction
                line.activeLow = request.activeLow ?? false
                line.bias = request.bias ?? "as-is"
                if direction == "output" { line.outputLevel = request.value ?? false }
                state.lines[offset] = line
                return SimWire.Message(ev: .ok, id: request.id, line: offset,
                                       value: direction == "input" ? line.active : line.outputLevel)
            case .set:
                guard line.owner == connection, line.direction == "output" else {
                    return fail("line \(offset) is not requested as an output by this connection")
                }
                guard let value = request.value else { return fail("'value' is required for set") }
                let now = Self.monotonicNow()
                state.lines[offset].outputLevel = value
                state.lines[offset].drivenAt = now
                // A test drive closes (or opens) its bell's circuit like a press would.
                if let bell = names.drives[offset], state.lines.indices.contains(bell) {
                    let driven = value != (names.byLine[offset]?.activeLow ?? false)
                    if driven, !state.lines[bell].driven, state.lines[bell].fault == .pressDuringTest {
                        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { [self] in _ = try? setContact(line: bell, active: true) }
                        DispatchQueue.global().asyncAfter(deadline: .now() + 1.5) { [self] in _ = try? setContact(line: bell, active: false) }
                    }
                    state.lines[bell].driven = driven
                    Self.settle(&state, line: bell, at: now)
                }
                return SimWire.Message(ev: .ok, id: request.id, line: offset, value: value)
            case .get:
                guard line.owner == connection else { return fail("line \(offset) is not requested by this connection") }
                return SimWire.Message(ev: .ok, id: request.id, line: offset,
                                       value: line.direction == "input" ? line.active : line.outputLevel)
            }
        }
    }

    // MARK: The control side

    /// Closes (`true`) or opens the contact on an input line; the owner sees an edge if the
    /// logical level changed.
    @discardableResult
    /// - Parameter at: when the edge happened (`CLOCK_MONOTONIC` ns, not in the future); now when
    ///   `nil`. A bounce train is stamped on its own timeline, so a simulator that was scheduled late
    ///   does not stretch it into separate presses.
    public func setContact(line offset: Int, active: Bool, at stamp: UInt64? = nil) throws(SimError) -> Bool {
        let now = min(stamp ?? .max, Self.monotonicNow())
        return try state.withLock { state throws(SimError) -> Bool in
            guard state.lines.indices.contains(offset) else { throw SimError.noSuchLine(offset) }
            if state.lines[offset].direction == "output" { throw SimError.notAnInput(offset) }
            state.lines[offset].pressed = active
            return Self.settle(&state, line: offset, at: now)
        }
    }

    /// A kernel event-buffer overflow, as libgpiod 2 shows one: `count` edges of input `line`
    /// happened and were dropped while the agent was not reading. The level is unchanged (the
    /// kernel keeps the newest edges); the next edge's number jumps by `count`.
    public func dropEdges(line offset: Int, count: UInt64) throws(SimError) {
        try state.withLock { state throws(SimError) in
            guard state.lines.indices.contains(offset) else { throw SimError.noSuchLine(offset) }
            if state.lines[offset].direction == "output" { throw SimError.notAnInput(offset) }
            state.lines[offset].seq += count
        }
    }

    /// Injects (or, with `nil`, clears) a wiring fault on input `line`.
    public func setWiring(line offset: Int, fault: WiringFault?) throws(SimError) {
        try state.withLock { state throws(SimError) in
            guard state.lines.indices.contains(offset) else { throw SimError.noSuchLine(offset) }
            if state.lines[offset].direction == "output" { throw SimError.notAnInput(offset) }
            state.lines[offset].fault = fault
            Self.settle(&state, line: offset, at: Self.monotonicNow())
        }
    }

    /// Brings the level the agent reads in line with the contact, the drive and the faults;
    /// tells the line's owner of an edge. Returns whether the level changed.
    @discardableResult
    private static func settle(_ state: inout State, line offset: Int, at now: UInt64) -> Bool {
        var line = state.lines[offset]
        let active = switch line.fault {
        case .stuck: line.active
        case .driveCut, .pressDuringTest: line.pressed
        case nil: line.pressed || line.driven
        }
        guard active != line.active else { return false }
        line.active = active
        line.seq += 1
        state.lines[offset] = line
        if line.direction == "input", let owner = line.owner {
            state.subscribers[owner]?.yield(SimWire.Message(ev: .edge, line: offset, value: active, rising: active, ts: now, seq: line.seq))
        }
        return true
    }

    /// When the agent last set output `line` (`CLOCK_MONOTONIC` ns), and to which level.
    public func lastDrive(line offset: Int) -> (level: Bool, at: UInt64)? {
        state.withLock { state in
            guard state.lines.indices.contains(offset), let at = state.lines[offset].drivenAt else { return nil }
            return (state.lines[offset].outputLevel, at)
        }
    }

    /// Every line, named where the agent's config names it.
    public func lines() -> [LineInfo] {
        state.withLock { state in
            state.lines.enumerated().map { offset, line in
                let known = names.byLine[offset]
                let level = line.direction == "output" ? line.outputLevel : (line.active != !line.activeLow)
                var on: Bool?
                if line.direction == "output" || known?.role.isOutput == true {
                    on = line.outputLevel != (known?.activeLow ?? false)
                }
                return LineInfo(line: offset, name: known?.name, role: known?.role.rawValue, direction: line.direction,
                                consumer: line.consumer, active: line.active, level: level, on: on,
                                drivenAt: line.direction == "output" ? line.drivenAt : nil, wiringFault: line.fault?.rawValue)
            }
        }
    }

    /// `CLOCK_MONOTONIC` now, in nanoseconds: the clock the kernel stamps GPIO edges with.
    public static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// What the simulator can refuse.
public enum SimError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchLine(Int)
    case notAnInput(Int)
    case unknownName(String)
    case unknownCamera(String)
    case badRequest(String)

    public var description: String {
        switch self {
        case .noSuchLine(let line): "line \(line) does not exist"
        case .notAnInput(let line): "line \(line) is an output; only inputs can be pressed"
        case .unknownName(let name): "no bell, input, output or line called '\(name)'"
        case .unknownCamera(let id): "no simulated camera called '\(id)' (cameras come from the agent config given to serve)"
        case .badRequest(let message): message
        }
    }
}
