#if canImport(Glibc)
import Glibc
#endif
import CameraProbe
import FoundationEssentials
import GPIOAdapter
import Logging
import MQTTAdapter
import ParkGuardCore
import SystemCrypto

/// What `parkguardd doctor` was asked to do.
public struct DoctorOptions: Sendable {
    public var configPath: String
    /// Switch each output on for half a second and read it back.
    public var switchOutputs: Bool
    /// Ask the installer to press each bell and show the press, its debounce and its release.
    public var pressTest: Bool
    /// How long to wait for each bell's press.
    public var pressTimeout: Duration
    /// How long the broker may take to accept the unit's identity.
    public var brokerTimeout: Duration

    public init(configPath: String, switchOutputs: Bool, pressTest: Bool, pressTimeout: Duration = .seconds(30),
                brokerTimeout: Duration = .seconds(10)) {
        self.configPath = configPath
        self.switchOutputs = switchOutputs
        self.pressTest = pressTest
        self.pressTimeout = pressTimeout
        self.brokerTimeout = brokerTimeout
    }
}

/// `parkguardd doctor`: proves a unit works, for the installer on site. It asks the running
/// daemon over its control socket (the daemon holds the GPIO lines), or, when none runs, opens
/// the lines itself. Every finding is a ``DoctorCheck``; `show` gets each line of the screen as
/// it is found (prompts included), so a terminal sees the press as it happens.
public struct UnitDoctor: Sendable {
    let config: AgentConfig
    let options: DoctorOptions
    let show: @Sendable (String) -> Void
    /// Lines typed on the terminal (Enter skips a bell); `nil` when nobody types.
    let keyboard: AsyncStream<String>?

    public init(config: AgentConfig, options: DoctorOptions, keyboard: AsyncStream<String>?, show: @escaping @Sendable (String) -> Void) {
        self.config = config
        self.options = options
        self.keyboard = keyboard
        self.show = show
    }

    private static let width = 18

    public func run() async -> DoctorReport {
        let status: ControlStatus?
        var reachProblem: DoctorCheck?
        if let path = config.controlSocket {
            do throws(ControlSocketClient.Unreachable) {
                status = try await ControlSocketClient.ask(path: path, .status, as: ControlStatus.self)
            } catch {
                status = nil
                if case .notRunning = error {} else {
                    reachProblem = DoctorCheck("daemon", .failed, "cannot ask the running daemon: \(error)",
                                               advice: "run the doctor as root (sudo parkguardd doctor) or stop the daemon first")
                }
            }
        } else {
            status = nil
        }
        var report = DoctorReport(site: config.site, unit: config.unit, version: ParkGuardVersion.current, daemonRunning: status != nil)
        show(report.screenHeader)
        func add(_ check: DoctorCheck, shown: Bool = false) {
            report.checks.append(check)
            if !shown { show(check.screenLines(width: Self.width)) }
        }
        add(DoctorCheck("configuration", .ok, "\(options.configPath): \(config.bells.count) bell(s), \(config.inputs.count) input(s), "
            + "\(config.outputs.count) output(s), \(config.cameras.count) camera(s)"))
        if let reachProblem { add(reachProblem) }
        add(stateDirectory())
        add(outbox(status))
        add(clock())
        if let certificate = certificate() { add(certificate) }
        add(await broker(status))
        var backend: (any GPIOBackend)?
        if let status {
            for check in lines(from: status) { add(check) }
        } else if reachProblem == nil {
            let (opened, checks) = await openLines()
            backend = opened
            for check in checks { add(check) }
        }
        if options.switchOutputs {
            for check in await switchOutputs(running: status != nil, backend: backend) { add(check) }
        } else if !config.outputs.isEmpty {
            add(DoctorCheck("outputs", .skipped, "not switched (--outputs switches each on for half a second and runs the test drives)"))
        }
        if options.pressTest, status != nil || backend != nil {
            for check in await pressTest(running: status != nil, backend: backend) { add(check, shown: true) }
        }
        backend?.close()
        for check in await cameras() { add(check) }
        show(report.screenVerdict)
        return report
    }

    // MARK: Files, clock, certificate

    private func stateDirectory() -> DoctorCheck {
        let directory = config.stateDirectory
        var existing = stat()
        if stat(directory, &existing) != 0, errno == ENOENT {
            let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            return access(parent.isEmpty ? "/" : parent, W_OK) == 0
                ? DoctorCheck("state directory", .warning, "\(directory) does not exist yet",
                              advice: "the daemon makes it at its first start (systemd's StateDirectory=parkguard)")
                : DoctorCheck("state directory", .failed, "\(directory) does not exist and cannot be made",
                              advice: "install the package (its service makes /var/lib/parkguard) or create the directory for the service user")
        }
        let probe = directory + "/.doctor-\(getpid())"
        let started = ContinuousClock.now
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            return DoctorCheck("state directory", .failed, "\(directory): cannot write (\(String(cString: strerror(errno))))",
                               advice: "the directory must exist and be writable by the service user (systemd's StateDirectory=parkguard makes it)")
        }
        let block = [UInt8](repeating: 0, count: 4096)
        let wrote = write(fd, block, block.count) == block.count && fsync(fd) == 0
        let error = errno
        close(fd)
        unlink(probe)
        let elapsed = ContinuousClock.now - started
        guard wrote else {
            return DoctorCheck("state directory", .failed, "\(directory): write and fsync failed (\(String(cString: strerror(error))))",
                               advice: "the storage may be full or failing: check `dmesg` for I/O errors")
        }
        var info = statvfs()
        let free = statvfs(directory, &info) == 0 ? Int64(info.f_bavail) * Int64(info.f_frsize) : -1
        let freeText = free >= 0 ? ", \(megabytes(free)) free" : ""
        if free >= 0, free < 64 << 20 {
            return DoctorCheck("state directory", .warning, "\(directory) writable\(freeText)",
                               advice: "less than 64 MB free: the outbox needs room to keep alarms while the link is down")
        }
        return DoctorCheck("state directory", .ok, "\(directory) writable, fsync \(milliseconds(elapsed)) ms\(freeText)")
    }

    private func outbox(_ status: ControlStatus?) -> DoctorCheck {
        var info = stat()
        let size = stat(config.outbox.path, &info) == 0 ? Int64(info.st_size) : 0
        let limit = Int64(config.outbox.maxBytes)
        let held = status.map { ", \($0.queued) message(s) held, \($0.awaitingReceipt) alarm(s) awaiting the hub's receipt" } ?? ""
        if size > limit * 3 / 4 {
            return DoctorCheck("outbox", .warning, "\(megabytes(size)) of \(megabytes(limit))\(held)",
                               advice: "the outbox is filling: the unit has not delivered for a while; check the broker link")
        }
        return DoctorCheck("outbox", .ok, "\(megabytes(size)) of \(megabytes(limit))\(held)")
    }

    private func clock() -> DoctorCheck {
        SystemClock.clockSynced()
            ? DoctorCheck("clock", .ok, "synchronised (NTP)")
            : DoctorCheck("clock", .warning, "not synchronised: alarm times carry clockSynced=false",
                          advice: "check NTP: `timedatectl timesync-status`; the unit needs to reach a time server")
    }

    private func certificate() -> DoctorCheck? {
        guard let tls = config.broker.tls, let certFile = tls.certFile else { return nil }
        let facts: UnitCertificate
        do throws(UnitCertificate.Unreadable) { facts = try UnitCertificate.inspect(certificate: certFile, caFile: tls.caFile) } catch {
            return DoctorCheck("certificate", .failed, error.description, advice: "install the unit's bundle again (parkguard-provision unit create)")
        }
        let days = "\(facts.daysLeft) day\(facts.daysLeft == 1 ? "" : "s") left (until \(facts.expires))"
        if let problem = facts.chainProblem {
            return DoctorCheck("certificate", .failed, "\(facts.subject): \(problem)",
                               advice: facts.daysLeft < 0 ? "the certificate has expired: renew it (parkguard-provision unit renew)"
                                   : "the certificate does not chain to \(tls.caFile): install the bundle made for this unit")
        }
        if facts.daysLeft <= 30 {
            return DoctorCheck("certificate", .warning, "\(facts.subject), \(days)",
                               advice: "renew it before it expires: the broker refuses an expired certificate")
        }
        return DoctorCheck("certificate", .ok, "\(facts.subject), \(days), chains to the CA")
    }

    // MARK: Broker

    private func broker(_ status: ControlStatus?) async -> DoctorCheck {
        let target = "\(config.broker.host):\(config.broker.port)\(config.broker.tls == nil ? "" : " over TLS")"
        if let status {
            return status.brokerConnected
                ? DoctorCheck("broker", .ok, "\(target): the daemon's session is up")
                : DoctorCheck("broker", .failed, "\(target): the daemon is not connected: \(status.brokerDetail)",
                              advice: "check the network, the broker's address and port, and the unit's certificate")
        }
        let broker = config.broker
        let password: String?
        do { password = try Agent.readSecret(broker.passwordFile, key: "broker.passwordFile") } catch {
            return DoctorCheck("broker", .failed, "\(error)")
        }
        // Its own client id and no will: the hub sees neither an offline status nor the unit's
        // session taken over.
        let settings = MQTTSettings(
            host: broker.host, port: broker.port, clientID: String((broker.clientID + "-doctor").prefix(64)), mqtt5: broker.protocolVersion == .mqtt5,
            keepalive: broker.keepalive, username: broker.username, password: password, caFile: broker.tls?.caFile,
            certFile: broker.tls?.certFile, keyFile: broker.tls?.keyFile, verifyHostname: broker.tls?.verifyHostname ?? true,
            reconnectInitial: broker.reconnectInitial, reconnectMax: broker.reconnectMax, maxInflight: broker.maxInflight, will: nil)
        let client: MosquittoClient
        do throws(MQTTError) { client = try MosquittoClient(settings: settings, logger: Logger(label: "doctor", factory: { _ in SwiftLogNoOpLogHandler() })) } catch {
            return DoctorCheck("broker", .failed, "\(target): \(error)", advice: "check the TLS files named under broker.tls")
        }
        let started = ContinuousClock.now
        client.start()
        let outcome: DoctorCheck = await withTaskGroup(of: DoctorCheck?.self) { group in
            group.addTask {
                for await event in client.events {
                    switch event {
                    case .connected(0, _):
                        return DoctorCheck("broker", .ok, "\(target): accepted the unit's identity in \(milliseconds(ContinuousClock.now - started)) ms")
                    case .connected(_, let text):
                        return DoctorCheck("broker", .failed, "\(target) refused the connection: \(text)",
                                           advice: "the broker does not accept this unit's identity: check its certificate or password and the broker's ACL")
                    case .connectFailed(let error, _):
                        return DoctorCheck("broker", .failed, "\(target): \(error)",
                                           advice: "check the network, the broker's address and port, and for TLS the CA file and the host name")
                    default: continue
                    }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: options.brokerTimeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? DoctorCheck("broker", .failed, "\(target): no answer within \(text(options.brokerTimeout))",
                                        advice: "a firewall may drop the connection: check that the port is open from the park")
        }
        await client.stop()
        return outcome
    }

    // MARK: Lines

    private func where_(_ line: Int) -> String { WiringHint.line(line, board: config.gpio.board) }

    /// Bells and inputs as the daemon reads them now.
    private func lines(from status: ControlStatus) -> [DoctorCheck] {
        guard status.gpio else {
            return [DoctorCheck("gpio", .failed, "the daemon holds no lines: \(status.gpioProblem ?? "unknown")",
                                advice: "check the GPIO chip named under gpio and the udev rule that gives the gpio group its devices")]
        }
        return status.lines.compactMap { line in
            switch line.kind {
            case "bell":
                return bellCheck(id: line.id, line: line.line, active: line.active, problem: line.problem)
            case InputConfig.Kind.tamper.rawValue, InputConfig.Kind.door.rawValue:
                return inputCheck(id: line.id, kind: line.kind, line: line.line, active: line.active, problem: line.problem)
            default:
                return nil
            }
        }
    }

    private func bellCheck(id: String, line: Int, active: Bool?, problem: String?) -> DoctorCheck {
        if problem == "disabled" { return DoctorCheck("bell \(id)", .skipped, "\(where_(line)): disabled in the configuration") }
        guard let active else {
            return DoctorCheck("bell \(id)", .failed, "\(where_(line)): cannot be read: \(problem ?? "unknown")")
        }
        guard !active else {
            let setup = config.bells.first { $0.id == id }?.setup
            return DoctorCheck("bell \(id)", .failed, "\(where_(line)) reads pressed at rest",
                               advice: "a stuck button or a short: check the bell's wiring to \(where_(line))"
                                   + (setup.map { ", \(WiringHint.pull($0)) and activeLow (\($0.activeLow))" } ?? ""))
        }
        return DoctorCheck("bell \(id)", .ok, "\(where_(line)) reads released")
    }

    private func inputCheck(id: String, kind: String, line: Int, active: Bool?, problem: String?) -> DoctorCheck {
        guard let active else {
            return DoctorCheck("\(kind) \(id)", .failed, "\(where_(line)): cannot be read: \(problem ?? "unknown")")
        }
        return active
            ? DoctorCheck("\(kind) \(id)", .warning, "\(where_(line)) reads open",
                          advice: kind == "tamper" ? "close the enclosure; if it is closed, check the tamper switch's wiring to \(where_(line))"
                              : "close the door; if it is closed, check the contact's wiring to \(where_(line))")
            : DoctorCheck("\(kind) \(id)", .ok, "\(where_(line)) reads closed")
    }

    /// Opens the configured chip and requests every line as the daemon would.
    private func openLines() async -> ((any GPIOBackend)?, [DoctorCheck]) {
        let backend: any GPIOBackend
        do throws(GPIOError) {
            switch config.gpio.backend {
            case .gpiod(let chip): backend = try GPIODChip(chip: chip, consumer: config.gpio.consumer + "-doctor")
            case .sim(let socket): backend = try await SimGPIOClient(socketPath: socket, consumer: config.gpio.consumer + "-doctor")
            }
        } catch {
            return (nil, [DoctorCheck("gpio", .failed, "cannot open the chip: \(error)",
                                      advice: "check gpio.chip (gpiodetect lists the chips) and that this user may open /dev/gpiochip*")])
        }
        var checks: [DoctorCheck] = []
        for output in config.outputs {
            do throws(GPIOError) { try await backend.requestOutput(line: output.line, level: output.activeLow) } catch {
                checks.append(DoctorCheck("output \(output.id)", .failed, "\(where_(output.line)): \(error)",
                                          advice: busyAdvice(error)))
            }
        }
        for bell in config.bells {
            guard bell.enabled else {
                checks.append(bellCheck(id: bell.id, line: bell.setup.line, active: nil, problem: "disabled"))
                continue
            }
            do throws(GPIOError) {
                checks.append(bellCheck(id: bell.id, line: bell.setup.line, active: try await backend.requestInput(bell.setup), problem: nil))
            } catch {
                checks.append(DoctorCheck("bell \(bell.id)", .failed, "\(where_(bell.setup.line)): \(error)", advice: busyAdvice(error)))
            }
        }
        for input in config.inputs {
            do throws(GPIOError) {
                checks.append(inputCheck(id: input.id, kind: input.kind.rawValue, line: input.setup.line,
                                         active: try await backend.requestInput(input.setup), problem: nil))
            } catch {
                checks.append(DoctorCheck("\(input.kind.rawValue) \(input.id)", .failed, "\(where_(input.setup.line)): \(error)",
                                          advice: busyAdvice(error)))
            }
        }
        return (backend, checks)
    }

    private func busyAdvice(_ error: GPIOError) -> String {
        error.message.lowercased().contains("busy")
            ? "another process holds the line: is parkguardd running without its control socket (controlSocket: off)?"
            : "check the line number (gpioinfo lists the chip's lines)"
    }

    // MARK: Outputs

    private func switchOutputs(running: Bool, backend: (any GPIOBackend)?) async -> [DoctorCheck] {
        if running, let path = config.controlSocket {
            // The daemon runs its whole self-test once (as the schedule does) and publishes it.
            do throws(ControlSocketClient.Unreachable) {
                let report = try await ControlSocketClient.ask(path: path, .selfTest, as: SelfTestResultPayload.self, timeout: .seconds(60))
                return report.outputs.map(outputCheck) + report.testDrives.map(driveCheck)
                    + [DoctorCheck("self-test", report.passed ? .ok : .failed,
                                   report.passed ? "the daemon's self-test passed; its report went to the hub"
                                       : "the daemon's self-test found problems; its report went to the hub")]
            } catch {
                return [DoctorCheck("outputs", .failed, "the daemon did not run its self-test: \(error)")]
            }
        }
        guard let backend else { return [] }
        var checks: [DoctorCheck] = []
        for output in config.outputs where output.role != .testDrive {
            let on = !output.activeLow
            do throws(GPIOError) {
                try backend.set(line: output.line, level: on)
                let readOn = try await backend.read(line: output.line)
                try? await Task.sleep(for: .milliseconds(500))
                try backend.set(line: output.line, level: !on)
                let readOff = try await backend.read(line: output.line)
                checks.append(readOn == on && readOff == !on
                    ? DoctorCheck("output \(output.id)", .ok, "\(output.role.rawValue) on \(where_(output.line)) switched on and off")
                    : DoctorCheck("output \(output.id)", .failed, "\(where_(output.line)) read back \(readOn ? "high" : "low") after driving \(on ? "high" : "low")",
                                  advice: "check the driver or relay on \(where_(output.line)) and its supply"))
            } catch {
                checks.append(DoctorCheck("output \(output.id)", .failed, "\(where_(output.line)): \(error)"))
            }
        }
        for bell in config.bells where bell.enabled {
            guard let drive = bell.testDrive, let output = config.outputs.first(where: { $0.id == drive }) else { continue }
            checks.append(driveCheck(await testDrive(bell, output: output, backend: backend)))
        }
        return checks
    }

    private func outputCheck(_ check: SelfTestReport.OutputCheck) -> DoctorCheck {
        let line = config.outputs.first { $0.id == check.id }?.line
        if check.ok, let detail = check.detail { return DoctorCheck("output \(check.id)", .skipped, "\(check.role): \(detail)") }
        return check.ok
            ? DoctorCheck("output \(check.id)", .ok, "\(check.role) switched on and off, read back")
            : DoctorCheck("output \(check.id)", .failed, "\(check.role): \(check.detail ?? "failed")",
                          advice: line.map { "check the driver or relay on \(where_($0)) and its supply" })
    }

    private func driveCheck(_ check: SelfTestResultPayload.TestDriveCheck) -> DoctorCheck {
        let area = "test drive \(check.bell)"
        if check.ok, let detail = check.detail { return DoctorCheck(area, .skipped, detail) }
        return check.ok
            ? DoctorCheck(area, .ok, "\(check.output) closed the bell's circuit; the line followed in \(check.responseMs ?? 0) ms and came back")
            : DoctorCheck(area, .failed, check.detail ?? "failed",
                          advice: "check the relay or optocoupler of \(check.output) and its wiring across the bell's contact")
    }

    /// Closes `bell`'s circuit with its test drive (the doctor holds the lines) and watches the line.
    private func testDrive(_ bell: BellConfig, output: OutputConfig, backend: any GPIOBackend) async -> SelfTestResultPayload.TestDriveCheck {
        let started = ContinuousClock.now
        func waitFor(_ active: Bool) async -> Duration? {
            let from = ContinuousClock.now
            while ContinuousClock.now - from < .seconds(1) {
                if (try? await backend.read(line: bell.setup.line)) == active { return ContinuousClock.now - started }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return nil
        }
        do throws(GPIOError) { try backend.set(line: output.line, level: !output.activeLow) } catch {
            return .init(bell: bell.id, output: output.id, ok: false, responseMs: nil, detail: "cannot drive \(output.id): \(error)")
        }
        let followed = await waitFor(true)
        try? backend.set(line: output.line, level: output.activeLow)
        guard let followed else {
            return .init(bell: bell.id, output: output.id, ok: false, responseMs: nil,
                         detail: "\(where_(bell.setup.line)) did not follow the test drive within 1 s")
        }
        guard await waitFor(false) != nil else {
            return .init(bell: bell.id, output: output.id, ok: false, responseMs: milliseconds(followed),
                         detail: "\(where_(bell.setup.line)) stayed active after the test drive opened: a stuck contact or a welded relay")
        }
        return .init(bell: bell.id, output: output.id, ok: true, responseMs: milliseconds(followed), detail: nil)
    }

    // MARK: Press test

    /// What happens while the installer is asked to press a bell.
    private enum PressInput: Sendable {
        case edge(line: Int, active: Bool, at: MonotonicInstant)
        /// The daemon reported the press as an alarm (it debounced it).
        case alarm(bell: String, kind: AlarmKind)
        case skip
        case timeUp
        /// The bell machine's deadline (its debounce) has come.
        case tick
        /// Ends a drain: what came before it is stale.
        case marker
        case failed(String)
    }

    private func pressTest(running: Bool, backend: (any GPIOBackend)?) async -> [DoctorCheck] {
        if running {
            show("  The daemon is running: each press below reaches the control room as an alarm. Tell them before you press.")
        }
        let (inputs, sink) = AsyncStream.makeStream(of: PressInput.self, bufferingPolicy: .bufferingNewest(1024))
        if let backend {
            do throws(GPIOError) {
                try backend.startEvents { event in
                    switch event {
                    case .edge(let edge): sink.yield(.edge(line: edge.line, active: edge.active, at: edge.at))
                    case .edgesLost: break  // the edges that follow carry the line's level
                    case .failed(let error): sink.yield(.failed(error.description))
                    }
                }
            } catch {
                return [DoctorCheck("press test", .failed, "cannot watch the lines: \(error)")]
            }
        }
        let keys = keyboard.map { keyboard in Task { for await _ in keyboard { sink.yield(.skip) } } }
        defer { keys?.cancel() }
        var iterator = inputs.makeAsyncIterator()
        var checks: [DoctorCheck] = []
        for bell in config.bells where bell.enabled {
            show("  Press bell \(bell.id) on \(where_(bell.setup.line)) now and let go; Enter skips (\(text(options.pressTimeout)))")
            // Edges or presses from before the prompt are not this bell's answer.
            let watch: Task<Void, Never>? = running ? Task {
                guard let path = config.controlSocket else { return }
                do throws(ControlSocketClient.Unreachable) {
                    try await ControlSocketClient.exchange(path: path, .watch(seconds: Int(options.pressTimeout.components.seconds) + 1),
                                                           timeout: options.pressTimeout + .seconds(5)) { line in
                        guard let event = try? JSONDecoder().decode(ControlEvent.self, from: Data(line)) else { return true }
                        switch event.event {
                        case "edge":
                            if let number = event.line, let active = event.active {
                                sink.yield(.edge(line: number, active: active, at: MonotonicInstant(nanoseconds: (event.mono ?? 0) * 1_000_000)))
                            }
                        case "alarm":
                            if let bell = event.bell, let kind = event.kind { sink.yield(.alarm(bell: bell, kind: kind)) }
                        case "end":
                            return false
                        default: break
                        }
                        return true
                    }
                } catch {
                    sink.yield(.failed("the daemon's watch failed: \(error)"))
                }
            } : nil
            let timer = Task {
                try? await Task.sleep(for: options.pressTimeout)
                if !Task.isCancelled { sink.yield(.timeUp) }
            }
            let check = await awaitPress(bell, running: running, iterator: &iterator, sink: sink)
            show(check.screenLines(width: Self.width))
            checks.append(check)
            timer.cancel()
            watch?.cancel()
            // Whatever the cancelled helpers still post belongs to this bell, not the next one.
            try? await Task.sleep(for: .milliseconds(100))
            await drain(&iterator, sink: sink)
        }
        return checks
    }

    /// Reads and drops what is already queued (up to a marker posted now).
    private func drain(_ iterator: inout AsyncStream<PressInput>.Iterator, sink: AsyncStream<PressInput>.Continuation) async {
        sink.yield(.marker)
        while let input = await iterator.next() {
            if case .marker = input { return }
        }
    }

    private func awaitPress(_ bell: BellConfig, running: Bool, iterator: inout AsyncStream<PressInput>.Iterator,
                            sink: AsyncStream<PressInput>.Continuation) async -> DoctorCheck {
        let area = "press \(bell.id)"
        let line = bell.setup.line
        let clock = SystemClock()
        // Without the daemon, the core's own bell machine judges the press, as the daemon would.
        var machine = BellMachine(id: bell.id, timing: bell.timing)
        _ = machine.start(active: false, now: clock.now())
        var pressedAt: MonotonicInstant?
        var counted = false
        var tickTimer: Task<Void, Never>?
        defer { tickTimer?.cancel() }
        func judge(_ actions: [BellMachine.Action]) {
            for case .alarm(.press, _, _) in actions where !counted {
                counted = true
                show("    counted as a press (debounce \(text(bell.timing.debounce)))")
            }
            tickTimer?.cancel()
            if let due = machine.deadline {
                let wait = clock.now().duration(to: due)
                tickTimer = Task {
                    try? await Task.sleep(for: max(.zero, wait) + .milliseconds(1))
                    if !Task.isCancelled { sink.yield(.tick) }
                }
            }
        }
        while let input = await iterator.next() {
            switch input {
            case .marker:
                continue
            case .skip:
                return DoctorCheck(area, .skipped, "skipped at the installer's request")
            case .tick:
                if !running { judge(machine.tick(now: clock.now())) }
            case .timeUp:
                if pressedAt != nil, !counted {
                    return DoctorCheck(area, .failed, "\(where_(line)) went active but never counted as a press",
                                       advice: "a contact that only flickers: check the button and its wiring (debounce \(text(bell.timing.debounce)))")
                }
                if counted {
                    return DoctorCheck(area, .failed, "pressed and counted, but not released within \(text(options.pressTimeout))",
                                       advice: "a button that stays closed: check it and the wiring to \(where_(line))")
                }
                return DoctorCheck(area, .failed, "no edge on \(where_(line)) within \(text(options.pressTimeout))",
                                   advice: "check the bell's wiring to \(where_(line)) and \(WiringHint.pull(bell.setup))")
            case .failed(let reason):
                return DoctorCheck(area, .failed, reason)
            case .alarm(let id, let kind):
                guard running, id == bell.id, kind == .press, !counted else { continue }
                counted = true
                // The daemon tells the alarm before the edge that caused it (its siren and
                // alarm come first): the press is shown first all the same.
                if pressedAt == nil {
                    show("    pressed: edge on \(where_(line))")
                    pressedAt = clock.now()
                }
                show("    counted as a press: the daemon sent the alarm (debounce \(text(bell.timing.debounce)))")
            case .edge(let number, let active, let at):
                guard number == line else {
                    if active, let other = config.bells.first(where: { $0.setup.line == number }) {
                        show("    (that was bell \(other.id) on \(where_(number)), not \(bell.id))")
                    }
                    continue
                }
                if active {
                    if pressedAt == nil {
                        show("    pressed: edge on \(where_(line))")
                        pressedAt = at
                    }
                    if !running { judge(machine.edge(active: true, at: at)) }
                    continue
                }
                if !running {
                    judge(machine.tick(now: at))
                    judge(machine.edge(active: false, at: at))
                }
                guard let start = pressedAt else { continue }
                let held = milliseconds(start.duration(to: at))
                if counted {
                    show("    released after \(held) ms")
                    return DoctorCheck(area, .ok, "pressed, counted as a press (debounce \(text(bell.timing.debounce))), released after \(held) ms")
                }
                show("    released after \(held) ms, too short to count (debounce \(text(bell.timing.debounce))); press again")
                pressedAt = nil
            }
        }
        return DoctorCheck(area, .failed, "the lines stopped reporting")
    }

    // MARK: Cameras

    private func cameras() async -> [DoctorCheck] {
        let probed = config.cameras.filter(\.probe)
        guard !probed.isEmpty else { return [] }
        var found: [String: CameraCredentials] = [:]
        for (index, camera) in config.cameras.enumerated() {
            guard let username = camera.username else { continue }
            let secret = (try? Agent.readSecret(camera.passwordFile, key: "cameras[\(index)].passwordFile")) ?? nil
            found[camera.id] = CameraCredentials(username: username, password: secret ?? "")
        }
        let credentials = found
        let prober = CameraProber(connectTimeout: config.cameraHealth.connectTimeout, stepTimeout: config.cameraHealth.stepTimeout)
        let policy = config.cameraHealth.policy
        let results = await withTaskGroup(of: (Int, DoctorCheck).self) { group in
            for (index, camera) in probed.enumerated() {
                group.addTask {
                    let started = ContinuousClock.now
                    // The doctor checks the video flow too, wherever it is configured.
                    let report = await prober.probe(camera, credentials: credentials[camera.id], flowCheck: true)
                    var tracker = CameraHealthTracker(camera: camera.id, policy: policy)
                    let (status, reasons) = tracker.classify(report)
                    let why = reasons.map(\.detail).joined(separator: "; ")
                    let took = " (probed in \(milliseconds(ContinuousClock.now - started)) ms)"
                    let check = switch status {
                    case .ok: DoctorCheck("camera \(camera.id)", .ok, "\(camera.host): \(Self.answered(report))\(took)")
                    case .offline: DoctorCheck("camera \(camera.id)", .failed, "\(camera.host): \(why)\(took)",
                                               advice: "check the camera's power, network cable and address, and its credentials")
                    default: DoctorCheck("camera \(camera.id)", .warning, "\(camera.host) \(status.rawValue): \(why)\(took)",
                                         advice: "the camera answers but not well: see the reasons")
                    }
                    return (index, check)
                }
            }
            var all: [(Int, DoctorCheck)] = []
            for await result in group { all.append(result) }
            return all
        }
        return results.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

extension UnitDoctor {
    /// What a good probe found, as an installer reads it: "stream, ONVIF and snapshot answer;
    /// video flows at 10.0 frame/s, 812 kbit/s".
    static func answered(_ report: CameraProbeReport) -> String {
        var parts: [String] = []
        if case .success? = report.rtsp { parts.append("stream") }
        if case .success? = report.onvif { parts.append("ONVIF") }
        if case .success? = report.snapshot { parts.append("snapshot") }
        var text = parts.count > 1 ? parts.dropLast().joined(separator: ", ") + " and " + parts.last! + " answer" : (parts.first ?? "camera") + " answers"
        if case .success(let flow)? = report.flow {
            text += "; video flows at \(flow.framesPerTenSeconds / 10).\(flow.framesPerTenSeconds % 10) frame/s, \(flow.kilobitsPerSecond) kbit/s"
        }
        return text
    }
}

private func milliseconds(_ duration: Duration) -> Int { Int(duration.milliseconds) }

private func megabytes(_ bytes: Int64) -> String {
    if bytes >= 10 << 30 { return "\(bytes >> 30) GB" }
    return bytes >= 10 << 20 ? "\(bytes >> 20) MB" : (Double(bytes) / 1_048_576).fixed(1) + " MB"
}

/// "20 ms", "30 s": a configured duration as an installer reads it.
private func text(_ duration: Duration) -> String {
    let ms = milliseconds(duration)
    return ms < 1000 || ms % 1000 != 0 ? "\(ms) ms" : "\(ms / 1000) s"
}
