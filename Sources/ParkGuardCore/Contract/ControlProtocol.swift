#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// The running daemon's local control socket (`controlSocket` in the configuration): one request
/// per connection, a JSON object on one line; the answer is one JSON line, or for `watch` one
/// line per event until the time is up or the client hangs up. Local only: a Unix socket that
/// root and the service's group may open. It asks and tests; it never acknowledges, silences or
/// changes what an alarm does.
public enum ControlRequest: Sendable, Equatable {
    /// The unit's state: lines and their levels, the broker session, the outbox.
    case status
    /// Pulses each output that no alarm holds on and reads it back (the self-test's output part).
    case outputs
    /// Runs the whole self-test once (outputs, inputs, test drives, broker) and publishes it, as
    /// the schedule does; answers with the report.
    case selfTest
    /// Streams edges, bell states and alarms for `seconds`.
    case watch(seconds: Int)

    /// A request line is at most this long (newline excluded).
    public static let maxLineBytes = 512
    public static let maxWatchSeconds = 600

    /// Parses one request line.
    /// - Throws: ``ControlRefusal`` with a short reason; nothing is carried out.
    public static func parse(_ line: [UInt8]) throws(ControlRefusal) -> ControlRequest {
        guard line.count <= maxLineBytes else { throw ControlRefusal("request is \(line.count) bytes; at most \(maxLineBytes)") }
        guard String(validating: line, as: UTF8.self) != nil else { throw ControlRefusal("request is not UTF-8") }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(line)) } catch {
            throw ControlRefusal("request is not JSON")
        }
        guard case .object(let fields) = value else { throw ControlRefusal("request must be a JSON object, got \(value.typeName)") }
        guard case .string(let name)? = fields["request"] else { throw ControlRefusal("request: missing or not a string") }
        let known = ["status", "outputs", "selftest", "watch"]
        let allowed: Set<String> = name == "watch" ? ["request", "seconds"] : ["request"]
        if let extra = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ControlRefusal("\(extra.prefix(32)): not a field of '\(name.prefix(32))'")
        }
        switch name {
        case "status": return .status
        case "outputs": return .outputs
        case "selftest": return .selfTest
        case "watch":
            guard case .number(let seconds)? = fields["seconds"], seconds == seconds.rounded(),
                  seconds >= 1, seconds <= Double(maxWatchSeconds) else {
                throw ControlRefusal("seconds: a whole number from 1 to \(maxWatchSeconds) is required")
            }
            return .watch(seconds: Int(seconds))
        default:
            throw ControlRefusal("request: unknown '\(name.prefix(32))'; known: \(known.joined(separator: ", "))")
        }
    }

    /// The request as the doctor sends it.
    public var line: String {
        switch self {
        case .status: #"{"request":"status"}"#
        case .outputs: #"{"request":"outputs"}"#
        case .selfTest: #"{"request":"selftest"}"#
        case .watch(let seconds): #"{"request":"watch","seconds":\#(seconds)}"#
        }
    }
}

/// Why a control request was refused; sent back as `{"error": ...}`.
public struct ControlRefusal: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var error: String
    public init(_ error: String) { self.error = error }
    public var description: String { error }
}

/// The answer to `status`.
public struct ControlStatus: Codable, Sendable, Equatable {
    public struct Line: Codable, Sendable, Equatable {
        /// `bell`, `tamper`, `door` or an output role.
        public var kind: String
        public var id: String
        public var line: Int
        /// The logical level read now (`nil` when it could not be read).
        public var active: Bool?
        /// A bell's state.
        public var state: BellState?
        /// Why the level could not be read.
        public var problem: String?
        public init(kind: String, id: String, line: Int, active: Bool?, state: BellState? = nil, problem: String? = nil) {
            self.kind = kind
            self.id = id
            self.line = line
            self.active = active
            self.state = state
            self.problem = problem
        }
    }
    public var site: String
    public var unit: String
    public var version: String
    public var session: UInt64
    /// Whether the GPIO lines are held; why not when they are not.
    public var gpio: Bool
    public var gpioProblem: String?
    /// Whether the MQTT session is up (CONNACK accepted), and the last thing it reported.
    public var brokerConnected: Bool
    public var brokerDetail: String
    /// Alarms and other messages the outbox still holds.
    public var queued: Int
    public var awaitingReceipt: Int
    public var lines: [Line]

    public init(site: String, unit: String, version: String, session: UInt64, gpio: Bool, gpioProblem: String?,
                brokerConnected: Bool, brokerDetail: String, queued: Int, awaitingReceipt: Int, lines: [Line]) {
        self.site = site
        self.unit = unit
        self.version = version
        self.session = session
        self.gpio = gpio
        self.gpioProblem = gpioProblem
        self.brokerConnected = brokerConnected
        self.brokerDetail = brokerDetail
        self.queued = queued
        self.awaitingReceipt = awaitingReceipt
        self.lines = lines
    }
}

/// One line of a `watch` answer.
public struct ControlEvent: Codable, Sendable, Equatable {
    /// `edge` (a raw level change, before debounce), `state` (a bell's state), `alarm` (what the
    /// control room receives) or `end`.
    public var event: String
    public var line: Int?
    public var bell: String?
    public var active: Bool?
    public var state: BellState?
    public var kind: AlarmKind?
    /// `CLOCK_MONOTONIC` milliseconds, for the time between a press and its release.
    public var mono: UInt64?

    public init(event: String, line: Int? = nil, bell: String? = nil, active: Bool? = nil, state: BellState? = nil,
                kind: AlarmKind? = nil, mono: UInt64? = nil) {
        self.event = event
        self.line = line
        self.bell = bell
        self.active = active
        self.state = state
        self.kind = kind
        self.mono = mono
    }
}
