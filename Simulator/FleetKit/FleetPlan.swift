import Foundation

/// What a fleet run looks like: how many units, where the broker is, how fast they start, what
/// they report, and the press scenario.
public struct FleetPlan: Sendable, Codable {
    public var units: Int
    /// The number of the first unit, so several fleet processes can share one site.
    public var firstUnit: Int
    public var site: String
    public var brokerHost: String
    public var brokerPort: Int
    /// Directory under which each unit gets its state directory and outbox.
    public var stateDirectory: String
    /// Units are started evenly over this many seconds.
    public var rampSeconds: Double
    public var heartbeatSeconds: Int
    /// Simulated cameras shared by the fleet; unit `i` probes camera `i % cameras` (0: none).
    public var cameras: Int
    public var cameraIntervalSeconds: Int
    /// Presses per second over the whole fleet, at random units, from the end of the ramp.
    public var pressRate: Double
    /// Seconds after the ramp when a storm presses `stormFraction` of the units at once (nil: none).
    public var stormAfterSeconds: Double?
    public var stormFraction: Double
    /// How long a press is held.
    public var holdMilliseconds: Int
    /// Seconds from the end of the ramp to the end of the run (presses stop `drainSeconds` earlier).
    public var durationSeconds: Double
    public var drainSeconds: Double
    public var seed: UInt64
    /// Log level of every unit's logger.
    public var unitLogLevel: String
    /// What retires the units' alarms (`receipt` or `puback`), and the receipt timeouts.
    public var retireOn: String = "receipt"
    public var receiptTimeoutMilliseconds: Int = 10_000
    public var receiptTimeoutMaxMilliseconds: Int = 120_000
    /// After the run, wait up to this long for every unit to hold no alarm (all receipted).
    public var settleSeconds: Double = 0
    /// Where to append, every half second, the wall time (ms since the epoch) and the number of
    /// alarms the units hold, so a test can time the recovery after a fault it caused.
    public var progressPath: String?
    /// Mutual TLS for every unit: a directory holding one bundle per unit, `DIR/<unit>/tls/`
    /// with `ca.crt`, `unit.crt` and `unit.key`, as `parkguard-provision unit create --out
    /// DIR/<unit>` writes them (nil: plain MQTT). The broker host must then be the name in the
    /// broker's certificate.
    public var tlsBundles: String?

    public init(units: Int, firstUnit: Int = 0, site: String = "fleet", brokerHost: String = "127.0.0.1", brokerPort: Int, stateDirectory: String,
                rampSeconds: Double? = nil, heartbeatSeconds: Int = 30, cameras: Int = 16, cameraIntervalSeconds: Int = 300,
                pressRate: Double = 2, stormAfterSeconds: Double? = nil, stormFraction: Double = 0.1, holdMilliseconds: Int = 300,
                durationSeconds: Double = 60, drainSeconds: Double = 5, seed: UInt64 = 1, unitLogLevel: String = "error") {
        self.units = units
        self.firstUnit = firstUnit
        self.site = site
        self.brokerHost = brokerHost
        self.brokerPort = brokerPort
        self.stateDirectory = stateDirectory
        self.rampSeconds = rampSeconds ?? max(1, Double(units) / 500)
        self.heartbeatSeconds = heartbeatSeconds
        self.cameras = cameras
        self.cameraIntervalSeconds = cameraIntervalSeconds
        self.pressRate = pressRate
        self.stormAfterSeconds = stormAfterSeconds
        self.stormFraction = stormFraction
        self.holdMilliseconds = holdMilliseconds
        self.durationSeconds = durationSeconds
        self.drainSeconds = drainSeconds
        self.seed = seed
        self.unitLogLevel = unitLogLevel
    }

    /// The unit id of unit `index`.
    public static func unitID(_ index: Int) -> String { "u" + String(format: "%05d", index) }

    /// The unit id of the fleet's `local`-th unit.
    func unitID(local: Int) -> String { Self.unitID(firstUnit + local) }

    /// The flow-style `tls` key of `unit`'s broker block (empty without ``tlsBundles``).
    private func tlsBlock(_ unit: String) -> String {
        guard let tlsBundles else { return "" }
        // Single-quoted: a path may hold what flow YAML gives a meaning to (`,`, `{`, `#`).
        func path(_ file: String) -> String { "'" + "\(tlsBundles)/\(unit)/tls/\(file)".replacingOccurrences(of: "'", with: "''") + "'" }
        return ", tls: {caFile: \(path("ca.crt")), certFile: \(path("unit.crt")), keyFile: \(path("unit.key"))}"
    }

    /// Unit `index`'s agent configuration, as a YAML file a field unit could run (its GPIO is
    /// replaced by an in-process chip; the socket path is never opened).
    func agentYAML(index: Int, cameraPorts: [(rtsp: Int, http: Int)]) -> String {
        let unit = unitID(local: index)
        var cameraBlock = ""
        var bellCameras = ""
        if !cameraPorts.isEmpty {
            let ports = cameraPorts[index % cameraPorts.count]
            let camera = "cam-\(index % cameraPorts.count)"
            cameraBlock = """
            cameras:
              - id: \(camera)
                host: 127.0.0.1
                rtsp: {port: \(ports.rtsp), path: /stream1}
                onvif: {port: \(ports.http), path: /onvif/device_service}
                snapshot: {port: \(ports.http), path: /snapshot.jpg}
                interval: \(cameraIntervalSeconds)s
            cameraHealth: {reportInterval: 1h}
            """
            bellCameras = ", cameras: [{id: \(camera)}]"
        }
        return """
        site: \(site)
        unit: \(unit)
        broker: {host: \(brokerHost), port: \(brokerPort), clientId: \(site)-\(unit), reconnectInitial: 1s, reconnectMax: 30s\(tlsBlock(unit))}
        gpio: {backend: sim, socket: /nonexistent/in-process}
        bells:
          - {id: b1, line: 1, debounce: 20ms\(bellCameras)}
          - {id: b2, line: 2}
          - {id: b3, line: 3}
          - {id: b4, line: 4}
        outputs:
          - {id: strobe, role: strobe, line: 20, duration: 1s}
        heartbeatInterval: \(heartbeatSeconds)s
        delivery: {retireOn: \(retireOn), receiptTimeout: \(receiptTimeoutMilliseconds)ms, receiptTimeoutMax: \(receiptTimeoutMaxMilliseconds)ms}
        stateDirectory: \(stateDirectory)/\(unit)
        logLevel: \(unitLogLevel)
        \(cameraBlock)
        """
    }
}
