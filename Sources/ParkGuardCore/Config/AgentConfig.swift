/// The agent's whole configuration, validated: every value here is in range and every
/// cross-reference (a bell's cameras, an output's bells, an input's bell) resolves.
public struct AgentConfig: Sendable, Equatable {
    public var site: String
    public var unit: String
    public var broker: BrokerConfig
    public var gpio: GPIOConfig
    public var bells: [BellConfig]
    public var inputs: [InputConfig]
    public var outputs: [OutputConfig]
    public var cameras: [CameraConfig]
    public var cameraHealth: CameraHealthConfig
    public var commands: CommandSecurityConfig
    public var heartbeatInterval: Duration
    public var stateDirectory: String
    public var outbox: OutboxConfig
    public var delivery: DeliveryConfig = DeliveryConfig()
    public var logLevel: LogLevel
    /// Where the unit is; each bell without a location of its own is reported here.
    public var location: Location? = nil
    /// The daemon's local control socket (for `parkguardd doctor`); `nil` when `controlSocket: off`.
    public var controlSocket: String? = AgentConfig.defaultControlSocket
    /// The scheduled self-test; `nil` when `selfTest: {every: off}`.
    public var selfTest: SelfTestConfig? = SelfTestConfig()
    /// The pictures taken with an alarm; `nil` when `snapshots: {enabled: false}`.
    public var snapshots: SnapshotConfig? = SnapshotConfig()

    public static let defaultControlSocket = "/run/parkguard/control.sock"

    /// The topic root `parkguard/v1/{site}/{unit}`.
    public var topics: Topics { Topics(site: site, unit: unit) }
}

/// Log verbosity, named as in syslog/journald.
public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    case debug, info, notice, warning, error
}

/// Where and how the agent reaches the district broker.
public struct BrokerConfig: Sendable, Equatable {
    public enum ProtocolVersion: String, Sendable, Equatable { case mqtt5, mqtt311 }
    public var host: String
    public var port: Int
    public var protocolVersion: ProtocolVersion
    public var keepalive: Duration
    public var clientID: String
    public var username: String?
    public var passwordFile: String?
    public var tls: TLSConfig?
    public var reconnectInitial: Duration
    public var reconnectMax: Duration
    /// Upper bound of QoS 1 messages handed to the broker and not yet acknowledged.
    public var maxInflight: Int
}

/// Files for mutual TLS to the broker.
public struct TLSConfig: Sendable, Equatable {
    public var caFile: String
    public var certFile: String?
    public var keyFile: String?
    public var verifyHostname: Bool
}

/// Which GPIO backend the agent uses.
public struct GPIOConfig: Sendable, Equatable {
    public enum Backend: Sendable, Equatable {
        /// libgpiod on a real chip, opened by label (`pinctrl-bcm2711`) or path (`/dev/gpiochip0`).
        case gpiod(chip: String)
        /// The simulator's virtual chip on a Unix socket.
        case sim(socket: String)
    }
    public var backend: Backend
    /// Consumer label shown by `gpioinfo`.
    public var consumer: String
    /// The board profile named by `gpio.board`, whose header pins `pin:` refers to.
    public var board: BoardProfile?

    public init(backend: Backend, consumer: String, board: BoardProfile? = nil) {
        self.backend = backend
        self.consumer = consumer
        self.board = board
    }
}

/// Electrical setup of one input line.
public struct LineSetup: Sendable, Equatable {
    public enum Bias: String, Sendable, Equatable, CaseIterable {
        case asIs = "as-is", disabled, pullUp = "pull-up", pullDown = "pull-down"
    }
    public var line: Int
    public var activeLow: Bool
    public var bias: Bias
    public init(line: Int, activeLow: Bool, bias: Bias) {
        self.line = line
        self.activeLow = activeLow
        self.bias = bias
    }
}

/// A camera a bell is linked to, with the PTZ preset to point it at the bell. In an alarm it
/// also carries the camera's health at the moment of the alarm.
public struct CameraLink: Sendable, Equatable, Codable {
    public var id: String
    /// The PTZ preset (by name) the camera turns to when the bell is pressed.
    public var preset: String?
    /// The camera's published health when the alarm was raised; `nil` before its first probe
    /// or for a camera that is not probed.
    public var health: CameraStatus?
    /// The preset the camera goes back to `returnAfter` the bell's release (no other bell holding
    /// it); `nil`: it stays where the press turned it. Configuration only, not in the contract.
    public var home: String?
    public var returnAfter: Duration

    public static let defaultReturnAfter = Duration.seconds(120)

    public init(id: String, preset: String? = nil, health: CameraStatus? = nil, home: String? = nil,
                returnAfter: Duration = CameraLink.defaultReturnAfter) {
        self.id = id
        self.preset = preset
        self.health = health
        self.home = home
        self.returnAfter = returnAfter
    }

    private enum CodingKeys: String, CodingKey { case id, preset, health }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try container.decode(String.self, forKey: .id), preset: try container.decodeIfPresent(String.self, forKey: .preset),
                  health: try container.decodeIfPresent(CameraStatus.self, forKey: .health))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(preset, forKey: .preset)
        try container.encodeIfPresent(health, forKey: .health)
    }
}

/// One emergency bell.
public struct BellConfig: Sendable, Equatable {
    public var id: String
    public var setup: LineSetup
    public var timing: BellTiming
    public var enabled: Bool
    public var cameras: [CameraLink]
    /// Where the bell is, when it is not where the unit is.
    public var location: Location? = nil
    /// The `testDrive` output wired to close this bell's circuit, for the self-test.
    public var testDrive: String? = nil
}

/// Where a unit or a bell is, for the control room: WGS 84 coordinates and a short description
/// a person finds it by ("north gate, beside the toilets"). Either may be absent, not both.
public struct Location: Sendable, Equatable, Codable {
    public var latitude: Double?
    public var longitude: Double?
    public var description: String?

    /// The longest description, in bytes.
    public static let maxDescriptionBytes = 120

    public init(latitude: Double? = nil, longitude: Double? = nil, description: String? = nil) {
        self.latitude = latitude
        self.longitude = longitude
        self.description = description
    }

    /// This location if it is one, else nil: a consumer drops a location outside the contract
    /// and keeps the message it came with (an alarm is never refused for where it says it is).
    public var usable: Location? { problem == nil ? self : nil }

    /// Why this is not a location, or nil: coordinates in range and both or neither, a
    /// description of 1 to ``maxDescriptionBytes`` bytes without control characters, at least one.
    public var problem: String? {
        if (latitude == nil) != (longitude == nil) { return "latitude and longitude go together" }
        if let latitude, !(latitude.isFinite && (-90 ... 90).contains(latitude)) { return "latitude must be from -90 to 90" }
        if let longitude, !(longitude.isFinite && (-180 ... 180).contains(longitude)) { return "longitude must be from -180 to 180" }
        if let description {
            if description.isEmpty || description.utf8.count > Self.maxDescriptionBytes {
                return "description must be 1 to \(Self.maxDescriptionBytes) bytes"
            }
            if description.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "description has a control character" }
        }
        if latitude == nil, description == nil { return "give latitude and longitude, a description, or both" }
        return nil
    }
}

/// The time thresholds of a bell's state machine.
public struct BellTiming: Sendable, Equatable {
    /// How long the line must stay quiet before a level counts as stable.
    public var debounce: Duration
    /// A press held this long is reported as `hold`.
    public var holdAfter: Duration
    /// A press held this long is a stuck contact: a `fault`, not an endless alarm.
    public var stuckAfter: Duration
    /// After the hub's `ack`, the bell stays `acknowledged` this long (and until released).
    public var acknowledgedFor: Duration

    public init(debounce: Duration, holdAfter: Duration, stuckAfter: Duration, acknowledgedFor: Duration) {
        self.debounce = debounce
        self.holdAfter = holdAfter
        self.stuckAfter = stuckAfter
        self.acknowledgedFor = acknowledgedFor
    }
}

/// A supervisory input: a tamper switch in a bell housing or a cabinet door.
public struct InputConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable { case tamper, door }
    public var id: String
    public var kind: Kind
    public var setup: LineSetup
    public var debounce: Duration
    /// The bell whose `alarm` topic reports this input.
    public var bell: String

    public init(id: String, kind: Kind, setup: LineSetup, debounce: Duration, bell: String) {
        self.id = id
        self.kind = kind
        self.setup = setup
        self.debounce = debounce
        self.bell = bell
    }
}

/// A local annunciation output.
public struct OutputConfig: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable, CaseIterable {
        case strobe, siren, callAccepted
        /// Closes a bell's circuit (relay or optocoupler) for the self-test; no alarm drives it.
        case testDrive
    }
    public var id: String
    public var role: Role
    public var line: Int
    public var activeLow: Bool
    /// How long the output stays on after it is switched on.
    public var duration: Duration
    /// The bells that drive this output (all bells when the config names none).
    public var bells: [String]

    public init(id: String, role: Role, line: Int, activeLow: Bool, duration: Duration, bells: [String]) {
        self.id = id
        self.role = role
        self.line = line
        self.activeLow = activeLow
        self.duration = duration
        self.bells = bells
    }
}

/// A CCTV camera in the park: where to probe it and with which credentials.
public struct CameraConfig: Sendable, Equatable {
    /// A TCP service of the camera: port and request path.
    public struct Endpoint: Sendable, Equatable {
        public var port: Int
        public var path: String
        public init(port: Int, path: String) {
            self.port = port
            self.path = path
        }
    }

    /// The video flow check after DESCRIBE: SETUP and PLAY over RTSP/TCP interleaved, RTP for
    /// at most `listen` and `maxBytes`, TEARDOWN; run by one probe every `every`.
    public struct FlowCheck: Sendable, Equatable {
        public var every: Duration
        public var listen: Duration
        public var maxBytes: Int
        public init(every: Duration = .seconds(600), listen: Duration = .seconds(3), maxBytes: Int = 4 << 20) {
            self.every = every
            self.listen = listen
            self.maxBytes = maxBytes
        }
    }

    public var id: String
    public var host: String
    /// RTSP (OPTIONS, DESCRIBE); `nil` when `rtsp: false`.
    public var rtsp: Endpoint?
    /// `rtsp.flowCheck`; `nil` when not configured (off).
    public var flowCheck: FlowCheck?
    /// ONVIF device service; `nil` when not configured.
    public var onvif: Endpoint?
    /// HTTP snapshot (JPEG); `nil` when not configured.
    public var snapshot: Endpoint?
    public var username: String?
    /// File holding the camera password (0600); never logged.
    public var passwordFile: String?
    /// Time between probes (jittered by ±10 %).
    public var interval: Duration
    /// Whether the camera is probed at all (a linked camera may be left unprobed).
    public var probe: Bool

    public init(id: String, host: String, rtsp: Endpoint? = Endpoint(port: 554, path: "/"), onvif: Endpoint? = nil,
                snapshot: Endpoint? = nil, username: String? = nil, passwordFile: String? = nil,
                interval: Duration = .seconds(30), probe: Bool = true, flowCheck: FlowCheck? = nil) {
        self.id = id
        self.host = host
        self.rtsp = rtsp
        self.flowCheck = rtsp == nil ? nil : flowCheck
        self.onvif = onvif
        self.snapshot = snapshot
        self.username = username
        self.passwordFile = passwordFile
        self.interval = interval
        self.probe = probe
    }
}

/// How camera probing is scheduled and judged.
public struct CameraHealthConfig: Sendable, Equatable {
    /// Probes running at once, over all cameras.
    public var concurrency: Int
    /// Every camera's health is republished this often even when unchanged.
    public var reportInterval: Duration
    public var connectTimeout: Duration
    /// Limit for each request/response step (OPTIONS, DESCRIBE, ONVIF, snapshot).
    public var stepTimeout: Duration
    public var policy: CameraHealthPolicy

    public init(concurrency: Int = 4, reportInterval: Duration = .seconds(300), connectTimeout: Duration = .seconds(3),
                stepTimeout: Duration = .seconds(5), policy: CameraHealthPolicy = CameraHealthPolicy()) {
        self.concurrency = concurrency
        self.reportInterval = reportInterval
        self.connectTimeout = connectTimeout
        self.stepTimeout = stepTimeout
        self.policy = policy
    }
}

/// Which commands must carry a hub signature, and the hubs' public keys.
public struct CommandSecurityConfig: Sendable, Equatable {
    /// Hub name → PEM public key file (written by `parkguard-provision hub create` as `hub.pub`).
    public var hubKeys: [String: String]
    /// Commands refused unless signed by one of `hubKeys`.
    public var requireSignature: Set<String>
    public var maxSkew: Duration

    public init(hubKeys: [String: String] = [:], requireSignature: Set<String> = [], maxSkew: Duration = .seconds(300)) {
        self.hubKeys = hubKeys
        self.requireSignature = requireSignature
        self.maxSkew = maxSkew
    }
}

/// Where unsent messages wait and how much they may take.
/// When an alarm leaves the outbox, and how alarms awaiting the hub's receipt are resent.
public struct DeliveryConfig: Sendable, Equatable {
    /// What retires an alarm from the outbox.
    public enum RetireOn: String, Sendable, Equatable {
        /// The hub's receipt (the alarm is committed in the control room's log): the default.
        case receipt
        /// The broker's PUBACK, for consumers that send no receipts.
        case puback
    }
    public var retireOn: RetireOn
    /// First wait for a receipt after the PUBACK before the alarm is published again.
    public var receiptTimeout: Duration
    /// The wait doubles per attempt up to this.
    public var receiptTimeoutMax: Duration
    /// An alarm waiting longer than this is announced on `event` (once, and again when receipted).
    public var receiptOverdue: Duration

    public init(retireOn: RetireOn = .receipt, receiptTimeout: Duration = .seconds(10), receiptTimeoutMax: Duration = .seconds(120),
                receiptOverdue: Duration = .seconds(60)) {
        self.retireOn = retireOn
        self.receiptTimeout = receiptTimeout
        self.receiptTimeoutMax = receiptTimeoutMax
        self.receiptOverdue = receiptOverdue
    }
}

/// `snapshots`: the JPEG each linked camera gives right after a press, and again once its PTZ
/// move has settled, published with the alarm's id behind every alarm.
public struct SnapshotConfig: Sendable, Equatable {
    /// After a camera accepted its move to the bell's preset, the wait before the second picture.
    public var settle: Duration
    /// The largest picture published; a larger one is scaled down (and its quality lowered) to fit.
    public var maxBytes: Int
    /// The widest picture published, in pixels; a wider one is scaled down.
    public var maxWidth: Int
    /// The bytes of pictures held for the broker at most (memory only, never in the outbox);
    /// beyond, the oldest picture is dropped, counted and announced.
    public var queueBytes: Int

    public init(settle: Duration = .seconds(3), maxBytes: Int = 256 << 10, maxWidth: Int = 1280, queueBytes: Int = 4 << 20) {
        self.settle = settle
        self.maxBytes = maxBytes
        self.maxWidth = maxWidth
        self.queueBytes = queueBytes
    }
}

public struct OutboxConfig: Sendable, Equatable {
    public var path: String
    public var maxBytes: Int
    public var maxRecords: Int
}

/// `selfTest`: when the unit tests itself, and which outputs the test switches.
public struct SelfTestConfig: Sendable, Equatable {
    public var schedule: SelfTestSchedule = .weekly
    /// The outputs the scheduled test switches on for half a second; `nil` = every output but
    /// the sirens (a siren at 03:00 wakes the park's neighbours) and the test drives (they have
    /// their own step).
    public var cycleOutputs: [String]? = nil

    public init(schedule: SelfTestSchedule = .weekly, cycleOutputs: [String]? = nil) {
        self.schedule = schedule
        self.cycleOutputs = cycleOutputs
    }

    /// The outputs of `outputs` the test cycles.
    public func cycled(_ outputs: [OutputConfig]) -> [OutputConfig] {
        // A test drive closes a bell's circuit: only its bell's own test may switch it.
        if let cycleOutputs { return outputs.filter { cycleOutputs.contains($0.id) && $0.role != .testDrive } }
        return outputs.filter { $0.role != .siren && $0.role != .testDrive }
    }
}
