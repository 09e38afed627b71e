/// Turns a parsed document into a validated ``AgentConfig``, or every error in it.
public enum AgentConfigDecoder {
    /// Validates `root` (parsed from `file`).
    /// - Throws: ``ConfigErrors`` with every problem found (at most `maxErrors` listed), each
    ///   naming file, line and key.
    public static func decode(_ root: ConfigNode, file: String, maxErrors: Int = ConfigLimits.standard.maxErrors) throws(ConfigErrors) -> AgentConfig {
        let sink = ConfigErrorSink(limit: maxErrors)
        var top = ConfigReader(file: file, path: "", node: root, sink: sink)
        if case .null = root.value {
            throw ConfigErrors([ConfigError(file: file, line: 0, key: "", message: "the file is empty")])
        }
        let site = top.identifier("site")
        let unit = top.identifier("unit")
        let broker = top.mapping("broker") { readBroker(&$0, site: site, unit: unit) }
        if broker == nil { top.fail(nil, "missing required key 'broker'") }
        let gpio = top.mapping("gpio", readGPIO)
        if gpio == nil { top.fail(nil, "missing required key 'gpio'") }
        let cameraHealth = top.mapping("cameraHealth", readCameraHealth) ?? CameraHealthConfig()
        let cameras = top.list("cameras", readCamera)
        let commands = top.mapping("commands", readCommands) ?? CommandSecurityConfig()
        let board = gpio?.board
        let bells = top.list("bells") { readBell(&$0, board: board) }
        let inputs = top.list("inputs") { readInput(&$0, board: board) }
        let outputs = top.list("outputs") { readOutput(&$0, board: board) }
        let heartbeat = top.duration("heartbeatInterval", default: .seconds(30), in: .seconds(1) ... .seconds(3600))
        let stateDirectory = top.string("stateDirectory", default: "/var/lib/parkguard") ?? "/var/lib/parkguard"
        let outbox = top.mapping("outbox") { r in
            OutboxConfig(
                path: r.string("path", default: nil) ?? stateDirectory + "/outbox",
                maxBytes: r.bytes("maxBytes", default: 16 << 20, in: 64 << 10 ... 4 << 30),
                maxRecords: r.int("maxRecords", default: 100_000, in: 10 ... 10_000_000) ?? 100_000)
        } ?? OutboxConfig(path: stateDirectory + "/outbox", maxBytes: 16 << 20, maxRecords: 100_000)
        let delivery = top.mapping("delivery", readDelivery) ?? DeliveryConfig()
        let logLevel = top.choice("logLevel", LogLevel.allCases.map { ($0.rawValue, $0) }, default: .info)
        let location = top.mapping("location", readLocation) ?? nil
        var controlSocket = top.string("controlSocket", default: AgentConfig.defaultControlSocket)
        if controlSocket == "off" {
            controlSocket = nil
        } else if let path = controlSocket, !path.hasPrefix("/") || path.utf8.count > 107 {
            top.fail("controlSocket", "must be an absolute path of at most 107 bytes (a Unix socket's limit), or 'off'")
        }
        let selfTest: SelfTestConfig? = top.mapping("selfTest", readSelfTest) ?? SelfTestConfig()
        let snapshots: SnapshotConfig? = top.mapping("snapshots", readSnapshots) ?? SnapshotConfig()
        top.finish()

        let config = AgentConfig(
            site: site, unit: unit,
            broker: broker ?? BrokerConfig.placeholder,
            gpio: gpio ?? GPIOConfig(backend: .sim(socket: ""), consumer: "parkguardd"),
            bells: bells, inputs: inputs, outputs: outputs, cameras: cameras, cameraHealth: cameraHealth, commands: commands,
            heartbeatInterval: heartbeat, stateDirectory: stateDirectory, outbox: outbox, delivery: delivery,
            logLevel: logLevel, location: location, controlSocket: controlSocket, selfTest: selfTest,
            snapshots: snapshots)
        crossCheck(config, root: root, file: file, sink: sink)
        if !sink.isEmpty { throw sink.thrown }
        return config
    }

    /// `selfTest: {every: 7d, at: "03:00", jitter: 1h, cycleOutputs: [strobe-1]}`; `every: off` turns it off.
    static func readSelfTest(_ r: inout ConfigReader) -> SelfTestConfig? {
        let defaults = SelfTestSchedule.weekly
        if r.isScalar("every"), r.string("every", default: nil)?.lowercased() == "off" {
            return nil
        }
        let every = r.duration("every", default: defaults.every, in: .seconds(3600) ... .seconds(90 * 86_400))
        var at = defaults.at
        if let text = r.string("at", default: nil) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.count == 2 ? Int($0) : nil }
            if parts.count == 2 || parts.count == 3, let hour = parts[0], let minute = parts[1], let second = parts.count == 3 ? parts[2] : 0,
               (0 ..< 24).contains(hour), (0 ..< 60).contains(minute), (0 ..< 60).contains(second) {
                at = (hour * 60 + minute) * 60 + second
            } else {
                r.fail("at", "must be a local time of day as HH:MM or HH:MM:SS (\"03:00\"), got \(ConfigLimits.quote(text))")
            }
        }
        let jitter = r.duration("jitter", default: defaults.jitter, in: .zero ... .seconds(90 * 86_400))
        if jitter >= every { r.fail("jitter", "must be shorter than every (\(ConfigUnits.describe(every)))") }
        return SelfTestConfig(schedule: SelfTestSchedule(every: every, at: at, jitter: jitter), cycleOutputs: r.strings("cycleOutputs"))
    }

    /// `snapshots: {enabled: true, settle: 3s, maxBytes: 256KiB, maxWidth: 1280, queueBytes: 4MiB}`.
    static func readSnapshots(_ r: inout ConfigReader) -> SnapshotConfig? {
        let defaults = SnapshotConfig()
        let enabled = r.bool("enabled", default: true)
        let config = SnapshotConfig(
            settle: r.duration("settle", default: defaults.settle, in: .zero ... .seconds(60)),
            maxBytes: r.bytes("maxBytes", default: defaults.maxBytes, in: 16 << 10 ... 4 << 20),
            maxWidth: r.int("maxWidth", default: defaults.maxWidth, in: 160 ... 4096) ?? defaults.maxWidth,
            queueBytes: r.bytes("queueBytes", default: defaults.queueBytes, in: 64 << 10 ... 256 << 20))
        if config.queueBytes < config.maxBytes { r.fail("queueBytes", "must hold at least one picture of maxBytes") }
        return enabled ? config : nil
    }

    static func readDelivery(_ r: inout ConfigReader) -> DeliveryConfig {
        let defaults = DeliveryConfig()
        let retireOn = r.choice("retireOn", [("receipt", DeliveryConfig.RetireOn.receipt), ("puback", .puback)], default: defaults.retireOn)
        let timeout = r.duration("receiptTimeout", default: defaults.receiptTimeout, in: .seconds(1) ... .seconds(600))
        let maximum = r.duration("receiptTimeoutMax", default: defaults.receiptTimeoutMax, in: .seconds(1) ... .seconds(3600))
        if maximum < timeout { r.fail("receiptTimeoutMax", "must not be shorter than receiptTimeout") }
        let overdue = r.duration("receiptOverdue", default: defaults.receiptOverdue, in: .seconds(1) ... .seconds(86400))
        return DeliveryConfig(retireOn: retireOn, receiptTimeout: timeout, receiptTimeoutMax: maximum, receiptOverdue: overdue)
    }

    static func readBroker(_ r: inout ConfigReader, site: String, unit: String) -> BrokerConfig {
        let host = r.string("host")
        let port = r.int("port", default: 1883, in: 1 ... 65535) ?? 1883
        let version = r.choice("protocol", [("mqtt5", BrokerConfig.ProtocolVersion.mqtt5), ("mqtt311", .mqtt311)], default: .mqtt5)
        let keepalive = r.duration("keepalive", default: .seconds(30), in: .seconds(5) ... .seconds(3600))
        let clientID = r.string("clientId", default: nil) ?? "parkguard-\(site)-\(unit)"
        if clientID.isEmpty || clientID.utf8.count > 128 { r.fail("clientId", "must be 1 to 128 characters") }
        let username = r.string("username", default: nil)
        let passwordFile = r.string("passwordFile", default: nil)
        let tls = r.mapping("tls") { t in
            TLSConfig(caFile: t.string("caFile"), certFile: t.string("certFile", default: nil),
                      keyFile: t.string("keyFile", default: nil),
                      verifyHostname: t.bool("verifyHostname", default: true))
        }
        if let tls, (tls.certFile == nil) != (tls.keyFile == nil) {
            r.fail("tls", "certFile and keyFile go together: give both or neither")
        }
        let initial = r.duration("reconnectInitial", default: .seconds(1), in: .milliseconds(100) ... .seconds(60))
        let max = r.duration("reconnectMax", default: .seconds(60), in: .seconds(1) ... .seconds(3600))
        if max < initial { r.fail("reconnectMax", "must not be shorter than reconnectInitial") }
        let inflight = r.int("maxInflight", default: 20, in: 1 ... 65535) ?? 20
        return BrokerConfig(host: host, port: port, protocolVersion: version, keepalive: keepalive,
                            clientID: clientID, username: username, passwordFile: passwordFile, tls: tls,
                            reconnectInitial: initial, reconnectMax: max, maxInflight: inflight)
    }

    static func readGPIO(_ r: inout ConfigReader) -> GPIOConfig {
        let backendName = r.choice("backend", [("gpiod", "gpiod"), ("sim", "sim")], default: "gpiod")
        let consumer = r.string("consumer", default: "parkguardd") ?? "parkguardd"
        let board = r.choice("board", BoardProfile.all.map { ($0.name, Optional($0)) }, default: nil)
        switch backendName {
        case "sim":
            let socket = r.string("socket", default: "/run/parkguard-sim/gpio.sock") ?? ""
            _ = r.string("chip", default: nil).map { _ in r.fail("chip", "is for the gpiod backend; the sim backend takes 'socket'") }
            return GPIOConfig(backend: .sim(socket: socket), consumer: consumer, board: board)
        default:
            // A board profile names the chip that carries its header; 'chip' overrides it.
            let chip = board != nil ? (r.string("chip", default: nil) ?? board!.chip) : r.string("chip")
            _ = r.string("socket", default: nil).map { _ in r.fail("socket", "is for the sim backend; the gpiod backend takes 'chip'") }
            return GPIOConfig(backend: .gpiod(chip: chip), consumer: consumer, board: board)
        }
    }

    /// `line: N`, or `pin: N` (a physical header pin of the board profile).
    static func readLine(_ r: inout ConfigReader, board: BoardProfile?) -> Int {
        guard r.has("pin") else { return r.int("line", default: nil, in: 0 ... 1023) ?? 0 }
        let pin = r.int("pin", default: nil, in: 1 ... 200) ?? 0
        if r.has("line") {
            _ = r.int("line", default: nil, in: 0 ... 1023)
            r.fail("pin", "give either 'line' (chip offset) or 'pin' (header pin), not both")
            return 0
        }
        guard let board else {
            r.fail("pin", "header pins need a board profile: set gpio.board (\(BoardProfile.all.map(\.name).joined(separator: ", "))), or give 'line'")
            return 0
        }
        switch board.line(forPin: pin) {
        case .success(let line): return line
        case .failure(let error):
            r.fail("pin", error.description)
            return 0
        }
    }

    static func readSetup(_ r: inout ConfigReader, board: BoardProfile?) -> LineSetup {
        LineSetup(line: readLine(&r, board: board),
                  activeLow: r.bool("activeLow", default: true),
                  bias: r.choice("bias", LineSetup.Bias.allCases.map { ($0.rawValue, $0) }, default: .pullUp))
    }

    static func readCamera(_ r: inout ConfigReader) -> CameraConfig {
        let id = r.identifier("id")
        let host = r.string("host")
        if host.isEmpty || host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) {
            r.fail("host", "must be a host name or IP address, without scheme, path or credentials")
        }
        func endpoint(_ e: inout ConfigReader, port: Int, path: String) -> CameraConfig.Endpoint {
            let endpoint = CameraConfig.Endpoint(port: e.int("port", default: port, in: 1 ... 65535) ?? port,
                                                 path: e.string("path", default: path) ?? path)
            if !endpoint.path.hasPrefix("/") || endpoint.path.contains(where: { $0 == " " || $0.isNewline }) {
                e.fail("path", "must start with '/' and contain no spaces")
            }
            return endpoint
        }
        func endpoint(_ key: String, port: Int, path: String) -> CameraConfig.Endpoint? {
            r.mapping(key) { endpoint(&$0, port: port, path: path) }
        }
        // `rtsp: false` turns RTSP off; a mapping sets port, path and the flow check.
        let defaultRTSP = CameraConfig.Endpoint(port: 554, path: "/")
        var flowCheck: CameraConfig.FlowCheck?
        let rtsp = r.isScalar("rtsp") ? (r.bool("rtsp", default: true) ? defaultRTSP : nil)
            : (r.mapping("rtsp") { e in
                let rtsp = endpoint(&e, port: 554, path: "/")
                flowCheck = e.mapping("flowCheck", readFlowCheck)
                return rtsp
            } ?? defaultRTSP)
        let onvif = endpoint("onvif", port: 80, path: "/onvif/device_service")
        let snapshot = endpoint("snapshot", port: 80, path: "/snapshot.jpg")
        let username = r.string("username", default: nil)
        let passwordFile = r.string("passwordFile", default: nil)
        if passwordFile != nil, username == nil { r.fail("passwordFile", "needs 'username' too") }
        let interval = r.duration("interval", default: .seconds(30), in: .seconds(1) ... .seconds(86400))
        let probe = r.bool("probe", default: true)
        if probe, rtsp == nil, onvif == nil, snapshot == nil {
            r.fail(nil, "has nothing to probe: enable rtsp, onvif or snapshot, or set 'probe: false'")
        }
        return CameraConfig(id: id, host: host, rtsp: rtsp, onvif: onvif, snapshot: snapshot, username: username,
                            passwordFile: passwordFile, interval: interval, probe: probe, flowCheck: flowCheck)
    }

    static func readFlowCheck(_ r: inout ConfigReader) -> CameraConfig.FlowCheck {
        let defaults = CameraConfig.FlowCheck()
        let check = CameraConfig.FlowCheck(
            every: r.duration("every", default: defaults.every, in: .seconds(10) ... .seconds(86400)),
            listen: r.duration("listen", default: defaults.listen, in: .milliseconds(500) ... .seconds(30)),
            maxBytes: r.bytes("maxBytes", default: defaults.maxBytes, in: 64 << 10 ... 64 << 20))
        if check.listen >= check.every { r.fail("listen", "must be shorter than 'every'") }
        return check
    }

    static func readCommands(_ r: inout ConfigReader) -> CommandSecurityConfig {
        var keys: [String: String] = [:]
        for (hub, file) in r.list("hubKeys", { k in (k.identifier("hub"), k.string("keyFile")) }) where !hub.isEmpty {
            if keys[hub] != nil { r.fail("hubKeys", "hub \(ConfigLimits.quote(hub)) is listed twice") }
            keys[hub] = file
        }
        let names = Command.Name.allCases.map(\.rawValue)
        let required = r.strings("requireSignature") ?? (keys.isEmpty ? [] : ["silence", "test"])
        for name in required where !names.contains(name) {
            r.fail("requireSignature", "\(ConfigLimits.quote(name)) is not a command (\(names.joined(separator: ", ")))")
        }
        if !required.isEmpty, keys.isEmpty { r.fail("requireSignature", "needs at least one entry in hubKeys to verify with") }
        let skew = r.duration("maxSkew", default: .seconds(300), in: .seconds(5) ... .seconds(86400))
        return CommandSecurityConfig(hubKeys: keys, requireSignature: Set(required), maxSkew: skew)
    }

    static func readCameraHealth(_ r: inout ConfigReader) -> CameraHealthConfig {
        let defaults = CameraHealthPolicy()
        let policy = CameraHealthPolicy(
            failuresToDown: r.int("failuresToDown", default: defaults.failuresToDown, in: 1 ... 100) ?? defaults.failuresToDown,
            successesToUp: r.int("successesToUp", default: defaults.successesToUp, in: 1 ... 100) ?? defaults.successesToUp,
            slowAfter: r.duration("slowAfter", default: defaults.slowAfter, in: .milliseconds(10) ... .seconds(60)),
            maxClockDrift: r.duration("maxClockDrift", default: defaults.maxClockDrift, in: .milliseconds(100) ... .seconds(86400)),
            blackBelow: Double(r.int("blackBelow", default: Int(defaults.blackBelow), in: 0 ... 255) ?? Int(defaults.blackBelow)))
        let config = CameraHealthConfig(
            concurrency: r.int("concurrency", default: 4, in: 1 ... 256) ?? 4,
            reportInterval: r.duration("reportInterval", default: .seconds(300), in: .seconds(1) ... .seconds(86400)),
            connectTimeout: r.duration("connectTimeout", default: .seconds(3), in: .milliseconds(50) ... .seconds(60)),
            stepTimeout: r.duration("stepTimeout", default: .seconds(5), in: .milliseconds(50) ... .seconds(120)),
            policy: policy)
        if config.policy.slowAfter >= config.stepTimeout { r.fail("slowAfter", "must be shorter than stepTimeout") }
        return config
    }

    static func readBell(_ r: inout ConfigReader, board: BoardProfile?) -> BellConfig {
        let id = r.identifier("id")
        let setup = readSetup(&r, board: board)
        let debounce = r.duration("debounce", default: .milliseconds(30), in: .milliseconds(1) ... .seconds(1))
        let hold = r.duration("holdAfter", default: .seconds(3), in: .milliseconds(100) ... .seconds(600))
        let stuck = r.duration("stuckAfter", default: .seconds(120), in: .seconds(1) ... .seconds(86400))
        let acked = r.duration("acknowledgedFor", default: .seconds(120), in: .seconds(1) ... .seconds(86400))
        if stuck <= hold { r.fail("stuckAfter", "must be longer than holdAfter (\(ConfigUnits.describe(hold)))") }
        if hold <= debounce { r.fail("holdAfter", "must be longer than debounce (\(ConfigUnits.describe(debounce)))") }
        let enabled = r.bool("enabled", default: true)
        let cameras = r.list("cameras") { c in
            let link = CameraLink(id: c.identifier("id"), preset: c.string("preset", default: nil), home: c.string("home", default: nil),
                                  returnAfter: c.duration("returnAfter", default: CameraLink.defaultReturnAfter, in: .seconds(5) ... .seconds(86400)))
            for (key, name) in [("preset", link.preset), ("home", link.home)] {
                if let name, name.isEmpty || name.utf8.count > 64 || name.contains(where: { $0.isNewline || $0 == "<" || $0 == "&" }) {
                    c.fail(key, "must be a preset name of 1 to 64 characters, without line breaks, '<' or '&'")
                }
            }
            if link.home != nil, link.preset == nil { c.fail("home", "needs 'preset' too: a camera the press does not turn has nothing to return from") }
            return link
        }
        let location = r.mapping("location", readLocation) ?? nil
        let testDrive = r.string("testDrive", default: nil)
        return BellConfig(id: id, setup: setup,
                          timing: BellTiming(debounce: debounce, holdAfter: hold, stuckAfter: stuck, acknowledgedFor: acked),
                          enabled: enabled, cameras: cameras, location: location, testDrive: testDrive)
    }

    /// `location: {latitude: 37.5665, longitude: 126.978, description: "north gate"}`.
    static func readLocation(_ r: inout ConfigReader) -> Location? {
        let latitude = r.number("latitude", in: -90 ... 90)
        let longitude = r.number("longitude", in: -180 ... 180)
        let description = r.string("description", default: nil)
        // A number already refused is reported once, not again as a missing half.
        if r.has("latitude") && latitude == nil || r.has("longitude") && longitude == nil { return nil }
        let location = Location(latitude: latitude, longitude: longitude, description: description)
        if let problem = location.problem {
            r.fail(nil, problem)
            return nil
        }
        return location
    }

    static func readInput(_ r: inout ConfigReader, board: BoardProfile?) -> InputConfig {
        InputConfig(id: r.identifier("id"),
                    kind: r.choice("kind", InputConfig.Kind.allCases.map { ($0.rawValue, $0) }, default: .tamper),
                    setup: readSetup(&r, board: board),
                    debounce: r.duration("debounce", default: .milliseconds(50), in: .milliseconds(1) ... .seconds(5)),
                    bell: r.identifier("bell"))
    }

    static func readOutput(_ r: inout ConfigReader, board: BoardProfile?) -> OutputConfig {
        let id = r.identifier("id")
        let role = r.choice("role", OutputConfig.Role.allCases.map { ($0.rawValue, $0) }, default: .strobe)
        if !r.has("role") { r.fail(nil, "missing required key 'role' (strobe, siren, callAccepted or testDrive)") }
        return OutputConfig(id: id, role: role,
                            line: readLine(&r, board: board),
                            activeLow: r.bool("activeLow", default: false),
                            duration: r.duration("duration", default: .seconds(60), in: .milliseconds(100) ... .seconds(86400)),
                            bells: r.strings("bells") ?? [])
    }

    /// Checks that need the whole document: unique ids, lines used once, links resolve.
    static func crossCheck(_ config: AgentConfig, root: ConfigNode, file: String, sink: ConfigErrorSink) {
        func lineOf(_ list: String, _ index: Int, _ key: String? = nil) -> Int {
            guard case .mapping(let entries) = root.value,
                  let seq = entries.first(where: { $0.key == list })?.value,
                  case .sequence(let items) = seq.value, index < items.count else { return 0 }
            guard let key, case .mapping(let fields) = items[index].value,
                  let field = fields.first(where: { $0.key == key }) else { return items[index].line }
            return field.value.line
        }
        func report(_ list: String, _ index: Int, _ key: String, _ message: String) {
            sink.add(ConfigError(file: file, line: lineOf(list, index, key), key: "\(list)[\(index)].\(key)", message: message))
        }
        var lines: [Int: String] = [:]
        func claim(_ line: Int, by owner: String, _ list: String, _ index: Int) {
            if let previous = lines[line] {
                report(list, index, "line", "line \(line) is already used by \(previous)")
            } else {
                lines[line] = owner
            }
        }
        let bellIDs = Set(config.bells.map(\.id))
        let cameraIDs = Set(config.cameras.map(\.id))
        var seen: Set<String> = []
        for (i, bell) in config.bells.enumerated() {
            if !seen.insert(bell.id).inserted { report("bells", i, "id", "bell id '\(bell.id)' is used twice") }
            claim(bell.setup.line, by: "bell \(bell.id)", "bells", i)
            for camera in bell.cameras where !cameraIDs.isEmpty && !cameraIDs.contains(camera.id) {
                report("bells", i, "cameras", "camera \(ConfigLimits.quote(camera.id)) is not in the cameras list")
            }
        }
        seen = []
        for (i, input) in config.inputs.enumerated() {
            if !seen.insert(input.id).inserted { report("inputs", i, "id", "input id '\(input.id)' is used twice") }
            claim(input.setup.line, by: "input \(input.id)", "inputs", i)
            if !input.bell.isEmpty, !bellIDs.contains(input.bell) {
                report("inputs", i, "bell", "no bell has the id \(ConfigLimits.quote(input.bell))")
            }
        }
        seen = []
        for (i, output) in config.outputs.enumerated() {
            if !seen.insert(output.id).inserted { report("outputs", i, "id", "output id '\(output.id)' is used twice") }
            claim(output.line, by: "output \(output.id)", "outputs", i)
            for bell in output.bells where !bellIDs.contains(bell) {
                report("outputs", i, "bells", "no bell has the id \(ConfigLimits.quote(bell))")
            }
        }
        var driven: [String: String] = [:]
        for (i, bell) in config.bells.enumerated() {
            guard let drive = bell.testDrive else { continue }
            guard let output = config.outputs.first(where: { $0.id == drive }) else {
                report("bells", i, "testDrive", "no output has the id \(ConfigLimits.quote(drive))")
                continue
            }
            if output.role != .testDrive {
                report("bells", i, "testDrive", "output \(ConfigLimits.quote(drive)) has role \(output.role.rawValue); a test drive needs role testDrive")
            } else if let other = driven[drive] {
                report("bells", i, "testDrive", "output \(ConfigLimits.quote(drive)) already drives bell \(ConfigLimits.quote(other))")
            }
            driven[drive] = bell.id
        }
        for (i, output) in config.outputs.enumerated() where output.role == .testDrive && !output.bells.isEmpty {
            report("outputs", i, "bells", "a testDrive output is named by its bell's testDrive key, not by bells")
        }
        let outputIDs = Set(config.outputs.map(\.id))
        for name in config.selfTest?.cycleOutputs ?? [] {
            if !outputIDs.contains(name) {
                sink.add(ConfigError(file: file, line: 0, key: "selfTest.cycleOutputs", message: "no output has the id \(ConfigLimits.quote(name))"))
            } else if config.outputs.contains(where: { $0.id == name && $0.role == .testDrive }) {
                sink.add(ConfigError(file: file, line: 0, key: "selfTest.cycleOutputs",
                                     message: "\(ConfigLimits.quote(name)) is a test drive: it closes a bell's circuit, and only its bell's test switches it"))
            }
        }
        seen = []
        for (i, camera) in config.cameras.enumerated() where !seen.insert(camera.id).inserted {
            report("cameras", i, "id", "camera id '\(camera.id)' is used twice")
        }
        if config.bells.isEmpty, sink.isEmpty {
            sink.add(ConfigError(file: file, line: 0, key: "bells", message: "at least one bell must be configured"))
        }
    }
}

/// Every error found in one configuration file.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    /// The errors listed, at most ``ConfigLimits/maxErrors``.
    public var errors: [ConfigError]
    /// How many more were found and not listed.
    public var more: Int
    public init(_ errors: [ConfigError], more: Int = 0) {
        self.errors = errors
        self.more = more
    }
    /// Every error found, listed or not.
    public var count: Int { errors.count + more }
    public var description: String {
        let listed = errors.map(\.description)
        guard more > 0 else { return listed.joined(separator: "\n") }
        return (listed + ["\(errors.first?.file ?? "configuration"): and \(more) more error\(more == 1 ? "" : "s")"]).joined(separator: "\n")
    }
}

extension BrokerConfig {
    static let placeholder = BrokerConfig(
        host: "", port: 1883, protocolVersion: .mqtt5, keepalive: .seconds(30), clientID: "", username: nil,
        passwordFile: nil, tls: nil, reconnectInitial: .seconds(1), reconnectMax: .seconds(60), maxInflight: 20)
}
