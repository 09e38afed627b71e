#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import GPIOAdapter
import Logging
import ParkGuardCore

/// The agent's brain: feeds line edges, time and commands to the core's state machines and
/// carries out what they return (drive outputs, publish). Outputs are driven first: the strobe
/// and siren never wait for the outbox's disk write or the network (DESIGN.md, alarm path 2).
///
/// It shares the ``Publisher``'s executor (the unit's MQTT network loop), so handing an alarm to
/// the publisher is a call on the same thread, not a hop.
public actor AgentController {
    public nonisolated var unownedExecutor: UnownedSerialExecutor { publisher.unownedExecutor }
    private let config: AgentConfig
    /// Where each bell is (its own location, else the unit's), for its alarms.
    private var bellLocations: [String: Location] = [:]
    private let topics: Topics
    private let clock: any AgentClock
    private let publisher: Publisher
    private let store: UnitStateStore
    private let logger: Logger
    private let version: String
    private let bootID: String
    private let cameraHealth: CameraHealthBoard
    private var gpio: (any GPIOBackend)?
    private var bells: [String: BellMachine] = [:]
    private var bellOrder: [String] = []
    private var bellByLine: [Int: String] = [:]
    private var supervisory: [Int: SupervisoryInput] = [:]
    private var outputs: OutputController
    private var linesUp = false
    /// Edge read → outputs switched, for telemetry.
    private var annunciation = AnnunciationWindow()
    /// Edges lost to the kernel buffer's overflow (``edgesLost(line:count:)``).
    private var edgesLostTotal: UInt64 = 0
    /// Whether the attached backend can see lost edges at all (libgpiod 2, the simulator).
    private var gpioCountsLostEdges = false
    /// Why the lines are not held, while they are not.
    private var gpioProblem: String? = "GPIO not opened yet"
    /// The control socket's `watch` clients: edges, bell states and alarms as they happen.
    private var watchers: [UInt64: @Sendable (ControlEvent) -> Void] = [:]
    private var nextWatcher: UInt64 = 0

    /// When the unit's TLS certificate expires, for its status (nil without one).
    private let certificateExpires: WallTime?
    /// Bells whose circuit a test drive closes now: their edges are the test's until it ends.
    private var testDrives: [String: TestDriveRecording] = [:]
    /// Tells the bell loop that ``deadline`` changed outside it (a self-test pulsed an output,
    /// a test drive handed edges to a bell), so its timer is set again.
    private var wake: (@Sendable () -> Void)?
    /// Where presses and releases of bells with linked cameras are told (``CameraMotion``).
    private var cameraMotion: AsyncStream<CameraMotion.Request>.Continuation?
    private var cameraSnapshots: AsyncStream<CameraSnapshots.Request>.Continuation?

    public init(config: AgentConfig, clock: any AgentClock, publisher: Publisher, store: UnitStateStore,
                version: String, bootID: String, cameraHealth: CameraHealthBoard = CameraHealthBoard(),
                certificateExpires: WallTime? = nil, logger: Logger) {
        self.certificateExpires = certificateExpires
        self.config = config
        self.cameraHealth = cameraHealth
        topics = config.topics
        self.clock = clock
        self.publisher = publisher
        self.store = store
        self.version = version
        self.bootID = bootID
        self.logger = logger
        outputs = OutputController(outputs: config.outputs)
        for bell in config.bells {
            bells[bell.id] = BellMachine(id: bell.id, timing: bell.timing, enabled: bell.enabled)
            bellOrder.append(bell.id)
            bellByLine[bell.setup.line] = bell.id
            bellLocations[bell.id] = bell.location ?? config.location
        }
        for input in config.inputs { supervisory[input.setup.line] = SupervisoryInput(config: input) }
    }

    /// The session number of this run.
    public var session: UInt64 { store.session }

    // MARK: Lines

    /// Requests every line on `backend` and starts the machines from the levels read.
    /// - Throws: ``GPIOError``; the caller reports a line fault and retries.
    public func attach(_ backend: any GPIOBackend) async throws(GPIOError) {
        for drive in outputs.initialDrives() {
            try await backend.requestOutput(line: drive.line, level: drive.level)
        }
        var levels: [Int: Bool] = [:]
        for bell in config.bells where bell.enabled { levels[bell.setup.line] = try await backend.requestInput(bell.setup) }
        for input in config.inputs { levels[input.setup.line] = try await backend.requestInput(input.setup) }
        gpio = backend
        gpioCountsLostEdges = backend.reportsLostEdges
        gpioProblem = nil
        let now = clock.now()
        let wasDown = !linesUp
        linesUp = true
        for id in bellOrder {
            guard var machine = bells[id], let line = config.bells.first(where: { $0.id == id })?.setup.line else { continue }
            var actions = machine.start(active: levels[line] ?? false, now: now)
            if wasDown { actions += machine.lineFault(false, reason: "GPIO lines requested", now: now) }
            bells[id] = machine
            await execute(actions, bell: id)
        }
        for (line, var input) in supervisory {
            let changes = input.start(active: levels[line] ?? false, now: now)
            supervisory[line] = input
            await report(changes, input: input.config)
        }
    }

    /// The GPIO backend failed: every bell goes to `fault` with a `lineFault` alarm.
    public func detach(reason: String) async {
        gpio?.close()
        gpio = nil
        gpioProblem = reason
        linesUp = false
        let now = clock.now()
        for id in bellOrder {
            guard var machine = bells[id] else { continue }
            let actions = machine.lineFault(true, reason: reason, now: now)
            bells[id] = machine
            await execute(actions, bell: id)
        }
    }

    /// One edge from the GPIO backend.
    public func handle(_ edge: LineEdge) async {
        if let id = bellByLine[edge.line] {
            if !testDrives.isEmpty, testDrives[id] != nil {
                // The test drive closes this bell's circuit now: the edge is recorded, and goes
                // to the bell afterwards unless it is exactly the test's (TestDriveRecording).
                testDrives[id]?.record(active: edge.active, at: edge.at)
            } else if var machine = bells[id] {
                let actions = machine.edge(active: edge.active, at: edge.at)
                bells[id] = machine
                await execute(actions, bell: id, readAt: edge.readAt)
            }
        } else if var input = supervisory[edge.line] {
            let changes = input.edge(active: edge.active, at: edge.at)
            supervisory[edge.line] = input
            await report(changes, input: input.config)
        }
        if !watchers.isEmpty {
            tell(ControlEvent(event: "edge", line: edge.line, bell: bellByLine[edge.line], active: edge.active, mono: edge.at.milliseconds))
        }
    }

    /// The GPIO backend saw a gap in a line's edge numbers: the kernel's event buffer overflowed
    /// and `count` edges of `line` were lost (libgpiod 2 only). The edges after the gap carry the
    /// line's true level, so the bell's machine goes on from them; the loss itself is counted in
    /// telemetry (`edgesLost`) and announced, so a missed press is never silent.
    public func edgesLost(line: Int, count: UInt64) async {
        edgesLostTotal += count
        let bell = bellByLine[line]
        let input = supervisory[line]?.config.id
        logger.critical("GPIO edges lost: the kernel's event buffer overflowed",
                        metadata: ["line": "\(line)", "count": "\(count)", "bell": "\(bell ?? input ?? "-")"])
        var data = ["line": String(line), "count": String(count), "total": String(edgesLostTotal)]
        data["bell"] = bell
        data["input"] = input
        await announce(.edgesLost, "\(count) edge(s) of line \(line)\(bell.map { " (bell \($0))" } ?? input.map { " (input \($0))" } ?? "") lost: the kernel's event buffer overflowed while the agent was not reading", data: data)
    }

    /// Edges the kernel dropped since the agent started (nil where the backend cannot tell).
    public var edgesLostFigure: UInt64? { gpioCountsLostEdges ? edgesLostTotal : nil }

    /// Time has passed: runs every machine's due work.
    public func tick() async {
        let now = clock.now()
        for id in bellOrder {
            guard var machine = bells[id], let due = machine.deadline, due <= now else { continue }
            let actions = machine.tick(now: now)
            bells[id] = machine
            await execute(actions, bell: id)
        }
        for (line, var input) in supervisory {
            guard let due = input.deadline, due <= now else { continue }
            let changes = input.tick(now: now)
            supervisory[line] = input
            await report(changes, input: input.config)
        }
        drive(outputs.tick(now: now))
    }

    /// The earliest instant at which ``tick()`` has work.
    public var deadline: MonotonicInstant? {
        (bells.values.compactMap(\.deadline) + supervisory.values.compactMap(\.deadline) + [outputs.deadline].compactMap { $0 }).min()
    }

    // MARK: Commands

    /// Carries out a validated command and returns its answer for `cmd/{name}/result`.
    public func perform(_ command: Command, correlationData: [UInt8]?) async -> Outgoing {
        let stamp = clock.stamp()
        let name = command.name.rawValue
        let correlationID = command.correlationID ?? correlationData.flatMap { String(validating: $0, as: UTF8.self) }
        logger.notice("command", metadata: ["command": "\(name)", "bell": "\(command.bell ?? "-")", "by": "\(command.by ?? "-")"])
        var payload: CommandResultPayload
        switch command.name {
        case .ack:
            let id = command.bell ?? ""
            do {
                guard var machine = bells[id] else { throw BellMachine.Refusal.disabled }
                let actions = try machine.acknowledge(now: clock.now())
                bells[id] = machine
                await execute(actions, bell: id)
                payload = CommandResultPayload(command: name, correlationID: correlationID, stamp: stamp, bell: id, state: machine.state)
            } catch {
                payload = CommandResultPayload(command: name, correlationID: correlationID, stamp: stamp, bell: id,
                                               state: bells[id]?.state, error: CommandError(field: "bell", "\(error)"))
            }
        case .silence:
            let targets = command.bell.map { [$0] } ?? bellOrder
            for id in targets {
                guard var machine = bells[id], let actions = try? machine.silence() else { continue }
                bells[id] = machine
                await execute(actions, bell: id)
            }
            payload = CommandResultPayload(command: name, correlationID: correlationID, stamp: stamp, bell: command.bell)
        case .test:
            // The bell loop hands `test` to the SelfTestService, which answers it when the test
            // is done; reaching this is a wiring mistake, answered rather than crashed on.
            payload = CommandResultPayload(command: name, correlationID: correlationID, stamp: stamp,
                                           error: CommandError(field: nil, "the self-test runs in its own service"))
        case .rebirth:
            for message in retainedSnapshot(awaitingReceipt: await publisher.awaitingReceipt) { await publisher.send(message) }
            // Whatever awaits a receipt goes again: the hub saw a gap and may have lost it.
            await publisher.resendAwaiting()
            payload = CommandResultPayload(command: name, correlationID: correlationID, stamp: stamp)
        }
        return .json(payload, topic: topics.commandResult(name), qos: 1, retain: false, kind: .result, correlationData: correlationData)
    }

    /// The answer to a command that failed validation or could not be taken; nothing else
    /// happens. Its `correlationId` is the MQTT 5 correlation data, else `correlationID` (a parsed
    /// command's), else the request payload's own (3.1.1).
    public func refuse(name: String, error: CommandError, correlationData: [UInt8]?, payload request: [UInt8] = [],
                       correlationID parsed: String? = nil) -> Outgoing {
        logger.warning("refused command", metadata: ["command": "\(name.prefix(64))", "error": "\(error)"])
        let correlationID = correlationData.flatMap { String(validating: $0, as: UTF8.self) } ?? parsed ?? CommandParser.correlationID(in: request)
        let payload = CommandResultPayload(command: String(name.prefix(64)), correlationID: correlationID, stamp: clock.stamp(), error: error)
        let topicName = Identifier.isValid(name) ? name : "invalid"
        return .json(payload, topic: topics.commandResult(topicName), qos: 1, retain: false, kind: .result, correlationData: correlationData)
    }

    /// Reads every enabled bell and every input at rest.
    public func readInputs() async -> [SelfTestReport.InputCheck] {
        var inputChecks: [SelfTestReport.InputCheck] = []
        for bell in config.bells where bell.enabled {
            inputChecks.append(await check(line: bell.setup.line, id: bell.id, kind: "bell",
                                           activeProblem: "reads pressed at rest (stuck contact or wiring short?)"))
        }
        for input in config.inputs {
            inputChecks.append(await check(line: input.setup.line, id: input.id, kind: input.kind.rawValue,
                                           activeProblem: "reads open"))
        }
        return inputChecks
    }

    // MARK: Test drives

    /// Sets what tells the bell loop that ``deadline`` changed outside it.
    public func setWake(_ wake: @escaping @Sendable () -> Void) { self.wake = wake }

    func setCameraMotion(_ sink: AsyncStream<CameraMotion.Request>.Continuation) { cameraMotion = sink }
    func setCameraSnapshots(_ sink: AsyncStream<CameraSnapshots.Request>.Continuation) { cameraSnapshots = sink }

    /// Closes `bell`'s circuit with its test drive; until ``endTestDrive(_:)`` the bell's edges
    /// are recorded for the test. Refused (with the reason) when the bell is not idle and settled,
    /// the lines are down, or another drive runs.
    public func beginTestDrive(_ bell: BellConfig) -> String? {
        guard let drive = bell.testDrive, let output = config.outputs.first(where: { $0.id == drive }) else { return "no test drive" }
        guard let gpio else { return "GPIO is not available" }
        guard testDrives.isEmpty else { return "another test drive runs" }
        guard let machine = bells[bell.id], machine.state == .idle, machine.deadline == nil else {
            return "not tested: the bell is \(bells[bell.id]?.state.rawValue ?? "unknown") or still settling"
        }
        testDrives[bell.id] = TestDriveRecording(drivenAt: clock.now())
        do { try gpio.set(line: output.line, level: !output.activeLow) } catch {
            testDrives[bell.id] = nil
            return "cannot drive \(drive): \(error)"
        }
        return nil
    }

    /// Opens the test drive's contact again.
    public func releaseTestDrive(_ bell: BellConfig) {
        guard let drive = bell.testDrive, let output = config.outputs.first(where: { $0.id == drive }) else { return }
        testDrives[bell.id]?.release(at: clock.now())
        do { try gpio?.set(line: output.line, level: output.activeLow) } catch {
            logger.error("cannot release the test drive", metadata: ["output": "\(drive)", "error": "\(error)"])
        }
    }

    /// What the running drive of `bell` has recorded so far.
    public func testDriveProgress(_ bell: String) -> TestDriveRecording? { testDrives[bell] }

    /// Ends `bell`'s test drive. Unless the line did exactly what the drive made it do, every
    /// recorded edge goes to the bell's machine in order, with its own time: a press during the
    /// test raises its alarm (late by at most the test), never vanishes. The bell stays masked
    /// until the replay is done, so an edge that arrives meanwhile is replayed after it.
    public func endTestDrive(_ bell: BellConfig) async -> TestDriveRecording? {
        guard let recording = testDrives[bell.id] else { return nil }
        if recording.mustReplay {
            logger.warning("edges during a test drive handed to the bell", metadata: ["bell": "\(bell.id)", "edges": "\(recording.edges.count)"])
            var index = 0
            while let edges = testDrives[bell.id]?.edges, index < edges.count, var machine = bells[bell.id] {
                let edge = edges[index]
                index += 1
                let actions = machine.edge(active: edge.active, at: edge.at)
                bells[bell.id] = machine
                await execute(actions, bell: bell.id, readAt: clock.now())
            }
        }
        let final = testDrives.removeValue(forKey: bell.id) ?? recording
        wake?()
        return final
    }

    /// Every camera's published health now.
    public func cameraChecks() -> [SelfTestResultPayload.CameraCheck] {
        config.cameras.filter(\.probe).map { SelfTestResultPayload.CameraCheck(id: $0.id, status: cameraHealth.status(of: $0.id)) }
    }

    /// Pulses each of `chosen` (every output but the test drives when nil) that is not on for
    /// an alarm for half a second and reads it back.
    public func testOutputs(_ chosen: [OutputConfig]? = nil) async -> [SelfTestReport.OutputCheck] {
        let now = clock.now()
        var outputChecks: [SelfTestReport.OutputCheck] = []
        for output in chosen ?? config.outputs.filter({ $0.role != .testDrive }) {
            guard let gpio else {
                outputChecks.append(.init(id: output.id, role: output.role.rawValue, ok: false, detail: "GPIO is not available"))
                continue
            }
            if outputs.isOn(output.id) {
                outputChecks.append(.init(id: output.id, role: output.role.rawValue, ok: true, detail: "on for an alarm; not pulsed"))
                continue
            }
            let driveOn = outputs.pulse(output, for: .milliseconds(500), now: now)
            do {
                try gpio.set(line: driveOn.line, level: driveOn.level)
                let readBack = try await gpio.read(line: output.line)
                let ok = readBack == driveOn.level
                outputChecks.append(.init(id: output.id, role: output.role.rawValue, ok: ok,
                                          detail: ok ? nil : "read back \(readBack ? "high" : "low") after driving \(driveOn.level ? "high" : "low")"))
            } catch {
                outputChecks.append(.init(id: output.id, role: output.role.rawValue, ok: false, detail: error.description))
            }
        }
        // The pulses end at the controller's deadline: the bell loop must set its timer for it.
        wake?()
        return outputChecks
    }

    // MARK: Control socket

    /// The unit as `status` on the control socket reports it: every line read now.
    public func controlStatus() async -> ControlStatus {
        var lines: [ControlStatus.Line] = []
        func read(_ line: Int) async -> (Bool?, String?) {
            guard let gpio else { return (nil, gpioProblem ?? "GPIO is not available") }
            do { return (try await gpio.read(line: line), nil) } catch { return (nil, error.description) }
        }
        for bell in config.bells {
            guard bell.enabled else {
                lines.append(.init(kind: "bell", id: bell.id, line: bell.setup.line, active: nil, state: bells[bell.id]?.state, problem: "disabled"))
                continue
            }
            let (active, problem) = await read(bell.setup.line)
            lines.append(.init(kind: "bell", id: bell.id, line: bell.setup.line, active: active, state: bells[bell.id]?.state, problem: problem))
        }
        for input in config.inputs {
            let (active, problem) = await read(input.setup.line)
            lines.append(.init(kind: input.kind.rawValue, id: input.id, line: input.setup.line, active: active, problem: problem))
        }
        for output in config.outputs {
            lines.append(.init(kind: output.role.rawValue, id: output.id, line: output.line, active: outputs.isOn(output.id)))
        }
        return ControlStatus(site: config.site, unit: config.unit, version: version, session: store.session, gpio: gpio != nil,
                             gpioProblem: gpio == nil ? (gpioProblem ?? "GPIO is not available") : nil,
                             brokerConnected: await publisher.isConnected, brokerDetail: await publisher.linkNote,
                             queued: await publisher.held, awaitingReceipt: await publisher.awaitingReceipt, lines: lines)
    }

    /// Adds a `watch` client; it is told every edge, bell state and alarm until ``unwatch(_:)``.
    public func watch(_ sink: @escaping @Sendable (ControlEvent) -> Void) -> UInt64 {
        nextWatcher += 1
        watchers[nextWatcher] = sink
        return nextWatcher
    }

    public func unwatch(_ id: UInt64) {
        watchers[id] = nil
    }

    private func tell(_ event: ControlEvent) {
        for sink in watchers.values { sink(event) }
    }

    private func check(line: Int, id: String, kind: String, activeProblem: String) async -> SelfTestReport.InputCheck {
        guard let gpio else { return .init(id: id, kind: kind, active: nil, ok: false, detail: "GPIO is not available") }
        do {
            let active = try await gpio.read(line: line)
            return .init(id: id, kind: kind, active: active, ok: !active, detail: active ? activeProblem : nil)
        } catch {
            return .init(id: id, kind: kind, active: nil, ok: false, detail: error.description)
        }
    }

    // MARK: Publishing

    /// Status `online`, every retained bell state and camera health, for each CONNACK and for `rebirth`.
    public func retainedSnapshot(awaitingReceipt: Int? = nil) -> [Outgoing] {
        let stamp = clock.stamp()
        var messages: [Outgoing] = [statusMessage(online: true, stamp: stamp, awaitingReceipt: awaitingReceipt)]
        for id in bellOrder {
            guard let machine = bells[id] else { continue }
            messages.append(.json(BellStatePayload(bell: id, state: machine.state, stamp: stamp),
                                  topic: topics.bellState(id), qos: 1, retain: true, kind: .retainedState))
        }
        return messages + cameraHealth.messages()
    }

    /// The `status` message; offline with `reason` for the Last Will and clean shutdown.
    public nonisolated func statusMessage(online: Bool, stamp: Stamp, reason: String? = nil, session: UInt64? = nil,
                                          awaitingReceipt: Int? = nil) -> Outgoing {
        var payload = StatusPayload(online: online, site: config.site, unit: config.unit, version: version, bootID: bootID,
                                    session: session ?? store.session, stamp: stamp, reason: reason)
        payload.awaitingReceipt = awaitingReceipt
        payload.location = config.location
        payload.certificateExpires = certificateExpires?.rfc3339
        return .json(payload, topic: topics.status, qos: 1, retain: true, kind: .retainedState)
    }

    /// Announces what the publisher noticed about receipts (overdue, finally received).
    public func announce(_ notices: [ReceiptNotice]) async {
        for notice in notices {
            let seconds = Double(notice.waited.milliseconds) / 1000
            var data = ["id": notice.alarmID, "waitedSeconds": seconds.fixed(1)]
            data["seq"] = notice.seq.map(String.init)
            data["bell"] = notice.bell
            switch notice.kind {
            case .overdue:
                logger.error("alarm still awaits the hub's receipt", metadata: ["id": "\(notice.alarmID)", "waited": "\(data["waitedSeconds"]!) s"])
                await announce(.receiptOverdue, "alarm \(notice.alarmID) has waited \(data["waitedSeconds"]!) s for the hub's receipt", data: data)
            case .received:
                logger.notice("overdue alarm receipted", metadata: ["id": "\(notice.alarmID)", "waited": "\(data["waitedSeconds"]!) s"])
                await announce(.receiptReceived, "alarm \(notice.alarmID) was receipted after \(data["waitedSeconds"]!) s", data: data)
            }
        }
    }

    /// Publishes an `event`.
    public func announce(_ event: EventPayload.Name, _ message: String, data: [String: String]? = nil) async {
        await publisher.send(.json(EventPayload(event: event, message: message, session: store.session, stamp: clock.stamp(), data: data),
                                   topic: topics.event, qos: 1, retain: false, kind: .event))
    }

    /// Edge read → outputs switched over the recent presses (nil before the first).
    public var annunciationFigures: TelemetryPayload.Annunciation? { annunciation.figures }

    /// Carries out a machine's actions; `readAt` is when the edge that caused them was read.
    private func execute(_ actions: [BellMachine.Action], bell id: String, readAt: MonotonicInstant? = nil) async {
        let stateAfter = bells[id]?.state ?? .idle
        let cameras = config.bells.first { $0.id == id }?.cameras ?? []
        // Annunciation first, then the messages in the machine's order.
        var drives: [OutputController.Drive] = []
        for case .output(let request) in actions {
            drives += outputs.apply(request, bell: id, now: clock.now())
        }
        drive(drives)
        if let readAt, !drives.isEmpty, actions.contains(where: { if case .alarm(.press, _, _) = $0 { true } else { false } }) {
            annunciation.record(readAt.duration(to: clock.now()))
        }
        for action in actions {
            switch action {
            case .alarm(let kind, let at, let detail):
                let alarm = await publishAlarm(bell: id, kind: kind, state: stateAfter, at: at, detail: detail, input: nil, cameras: cameras)
                // The cameras turn, and their pictures are taken, after the alarm is on its way,
                // without waiting for them.
                if let cameraSnapshots, kind == .press, !cameras.isEmpty {
                    cameraSnapshots.yield(.pressed(alarm: alarm, cameras: cameras.map(\.id)))
                }
                if let cameraMotion, !cameras.isEmpty {
                    if kind == .press { cameraMotion.yield(.pressed(bell: id, alarm: alarm, links: cameras)) }
                    // `recovered` also follows a re-attach with the bell still held: only a released bell lets go.
                    if kind == .release || (kind == .recovered && bells[id]?.pressed == false) {
                        cameraMotion.yield(.released(bell: id, links: cameras))
                    }
                }
                if !watchers.isEmpty { tell(ControlEvent(event: "alarm", bell: id, kind: kind, mono: at.milliseconds)) }
            case .state(let state):
                await publisher.send(.json(BellStatePayload(bell: id, state: state, stamp: clock.stamp()),
                                           topic: topics.bellState(id), qos: 1, retain: true, kind: .retainedState))
                if !watchers.isEmpty { tell(ControlEvent(event: "state", bell: id, state: state, mono: clock.now().milliseconds)) }
            case .output:
                break
            }
        }
    }

    private func report(_ changes: [LevelDebouncer.Change], input: InputConfig) async {
        for change in changes {
            let cameras = config.bells.first { $0.id == input.bell }?.cameras ?? []
            await publishAlarm(bell: input.bell, kind: SupervisoryInput.kind(of: change), state: bells[input.bell]?.state ?? .idle,
                               at: change.at, detail: input.kind == .door ? (change.active ? "door open" : "door closed") : nil,
                               input: input.id, cameras: cameras)
        }
    }

    @discardableResult
    private func publishAlarm(bell: String, kind: AlarmKind, state: BellState, at: MonotonicInstant, detail: String?,
                              input: String?, cameras: [CameraLink]) async -> String {
        let id = AlarmID.make()
        var payload = AlarmPayload(id: id, seq: store.takeSeq(), session: store.session, site: config.site, unit: config.unit,
                                   bell: bell, kind: kind, state: state, input: input, detail: detail, stamp: clock.stamp(),
                                   edge: at, cameras: cameras.map { CameraLink(id: $0.id, preset: $0.preset, health: cameraHealth.status(of: $0.id)) })
        payload.location = bellLocations[bell]
        var message = Outgoing.json(payload, topic: topics.bellAlarm(bell), qos: 1, retain: false, kind: .alarm, alarmID: id)
        message.alarmSeq = payload.seq
        message.alarmBell = bell
        await publisher.send(message)
        // Logged once handed over and written to the outbox: a logged alarm is never lost.
        let level: Logger.Level = kind == .press || kind == .lineFault || kind == .stuck || kind == .tamper ? .critical : .notice
        logger.log(level: level, "bell \(kind.rawValue)", metadata: ["bell": "\(bell)", "id": "\(id)", "seq": "\(payload.seq)"])
        return id
    }

    private func drive(_ drives: [OutputController.Drive]) {
        guard !drives.isEmpty else { return }
        guard let gpio else {
            logger.error("cannot drive outputs: GPIO is not available", metadata: ["outputs": "\(drives.map(\.output))"])
            return
        }
        for drive in drives {
            do { try gpio.set(line: drive.line, level: drive.level) } catch {
                logger.error("cannot drive output", metadata: ["output": "\(drive.output)", "error": "\(error)"])
            }
        }
    }
}
