#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import ParkGuardCore
import ServiceLifecycle
import SystemCrypto

/// What starts a self-test: the schedule, or the hub's `test` command (answered on
/// `cmd/test/result` once the test is done).
enum SelfTestTrigger: Sendable {
    case scheduled
    case command(Command, correlationData: [UInt8]?)
    /// `parkguardd doctor` through the control socket.
    case doctor

    var name: String {
        switch self {
        case .scheduled: "scheduled"
        case .command: "command"
        case .doctor: "doctor"
        }
    }
}

/// Runs the unit's whole self-test, on its schedule (`selfTest`) and when the hub asks, beside
/// the bell loop rather than in it: a test drive waits up to two seconds for the bell's line, and
/// the other bells' edges must not wait behind it. Steps: the outputs (half a second each), the
/// inputs at rest, each bell's test drive (circuit closed by a relay, the line must follow and
/// come back), the cameras' published health, a broker round trip and the certificate's expiry;
/// the report goes out retained on `selftest`, never as an alarm.
struct SelfTestService: Service {
    let config: AgentConfig
    let controller: AgentController
    let publisher: Publisher
    let clock: SystemClock
    let triggers: AsyncStream<SelfTestTrigger>
    let sink: AsyncStream<SelfTestTrigger>.Continuation
    let logger: Logger
    /// One self-test at a time, whoever asks (the schedule, the hub, the doctor): two would
    /// fight over the outputs and the test drives.
    let oneAtATime = OneAtATime()

    /// How long a test drive waits for the line to follow (and to come back).
    static let driveWait: Duration = .seconds(1)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let selfTest = config.selfTest {
                    group.addTask { await schedule(selfTest.schedule) }
                }
                for await trigger in triggers {
                    await runOnce(trigger)
                }
            }
        }
    }

    /// Posts `.scheduled` at each slot of the schedule.
    private func schedule(_ schedule: SelfTestSchedule) async {
        let unit = "\(config.site)/\(config.unit)"
        var from = clock.stamp().wall
        while !Task.isCancelled {
            var due = schedule.next(after: from, unit: unit, utcOffsetSeconds: TimeZone.current.secondsFromGMT())
            logger.info("next self-test", metadata: ["due": "\(due.rfc3339)"])
            // Woken at least hourly: the slot is worked out again with the time zone's offset of
            // the moment (a daylight-saving change moves it), and the time left with the wall
            // clock of the moment (NTP may have set it).
            while !Task.isCancelled {
                due = schedule.next(after: from, unit: unit, utcOffsetSeconds: TimeZone.current.secondsFromGMT())
                let left = Duration.milliseconds(due.millisecondsSinceEpoch - clock.stamp().wall.millisecondsSinceEpoch)
                if left <= .zero { break }
                try? await Task.sleep(for: min(left, .seconds(3600)))
            }
            if Task.isCancelled { return }
            sink.yield(.scheduled)
            from = due
        }
    }

    /// Runs one self-test, publishes what it found and returns it.
    @discardableResult
    func runOnce(_ trigger: SelfTestTrigger) async -> SelfTestResultPayload {
        await oneAtATime.enter()
        let payload = await test(trigger)
        await oneAtATime.leave()
        return payload
    }

    private func test(_ trigger: SelfTestTrigger) async -> SelfTestResultPayload {
        let scheduled = if case .scheduled = trigger { true } else { false }
        logger.notice("self-test", metadata: ["trigger": "\(trigger.name)"])
        // The hub's `test` switches every output it was always switched; the schedule spares the
        // sirens at night unless `cycleOutputs` names them.
        let outputs = await controller.testOutputs(scheduled ? (config.selfTest ?? SelfTestConfig()).cycled(config.outputs) : nil)
        let inputs = await controller.readInputs()
        var drives: [SelfTestResultPayload.TestDriveCheck] = []
        for bell in config.bells where bell.enabled && bell.testDrive != nil {
            drives.append(await testDrive(bell))
        }
        let cameras = await controller.cameraChecks()
        let broker: SelfTestResultPayload.BrokerCheck
        if let rtt = await publisher.measureRoundTrip(timeout: .seconds(5)) {
            broker = .init(ok: true, roundTripMs: Self.ms(rtt), detail: nil)
        } else {
            broker = .init(ok: false, roundTripMs: nil,
                           detail: await publisher.isConnected ? "no PUBACK within 5 s" : "not connected (\(await publisher.linkNote))")
        }
        var certificate: SelfTestResultPayload.CertificateCheck?
        if let file = config.broker.tls?.certFile, let facts = try? UnitCertificate.inspect(certificate: file, caFile: nil),
           let expires = facts.expiresAt {
            certificate = .init(expires: expires.rfc3339, daysLeft: facts.daysLeft)
        }
        let stamp = clock.stamp()
        let next = config.selfTest.map {
            $0.schedule.next(after: stamp.wall, unit: "\(config.site)/\(config.unit)", utcOffsetSeconds: TimeZone.current.secondsFromGMT())
        }
        let report = SelfTestReport(outputs: outputs, inputs: inputs)
        let payload = SelfTestResultPayload(site: config.site, unit: config.unit, session: await controller.session,
                                            trigger: trigger.name, report: report, testDrives: drives,
                                            cameras: cameras, broker: broker, certificate: certificate, nextDue: next, stamp: stamp)
        let topics = config.topics
        await publisher.send(.json(payload, topic: topics.selfTest, qos: 1, retain: true, kind: .retainedState))
        let summary = payload.passed ? "self-test passed" : "self-test found problems: " + payload.problems.prefix(8).joined(separator: "; ")
        await controller.announce(.selfTest, summary)
        if payload.passed { logger.notice("\(summary)") } else { logger.error("\(summary)") }
        if case .command(let command, let correlationData) = trigger {
            let correlationID = command.correlationID ?? correlationData.flatMap { String(validating: $0, as: UTF8.self) }
            var result = CommandResultPayload(command: command.name.rawValue, correlationID: correlationID, stamp: stamp, selfTest: report)
            result.ok = payload.passed
            await publisher.send(.json(result, topic: topics.commandResult(command.name.rawValue), qos: 1, retain: false, kind: .result,
                                       correlationData: correlationData))
        }
        return payload
    }

    /// Closes `bell`'s circuit with its test drive and watches the line follow and come back.
    /// It runs in a task of its own, which does not inherit a shutdown's cancellation: the drive
    /// is always released and the bell handed back after at most twice ``driveWait``.
    private func testDrive(_ bell: BellConfig) async -> SelfTestResultPayload.TestDriveCheck {
        await Task { await drive(bell) }.value
    }

    private func drive(_ bell: BellConfig) async -> SelfTestResultPayload.TestDriveCheck {
        let output = bell.testDrive ?? ""
        if let refusal = await controller.beginTestDrive(bell) {
            // A bell with an open alarm is not tested now; that is not a wiring fault.
            return .init(bell: bell.id, output: output, ok: refusal.hasPrefix("not tested"), responseMs: nil, detail: refusal)
        }
        let started = clock.now()
        while clock.now() < started + Self.driveWait, await controller.testDriveProgress(bell.id)?.activeAt == nil {
            try? await Task.sleep(for: .milliseconds(5))
        }
        await controller.releaseTestDrive(bell)
        let released = clock.now()
        while clock.now() < released + Self.driveWait, let progress = await controller.testDriveProgress(bell.id),
              progress.activeAt != nil, progress.inactiveAt == nil {
            try? await Task.sleep(for: .milliseconds(5))
        }
        guard let recording = await controller.endTestDrive(bell) else {
            return .init(bell: bell.id, output: output, ok: false, responseMs: nil, detail: "the test drive was interrupted")
        }
        let response = recording.activeAt.map { Self.ms(recording.drivenAt.duration(to: $0)) }
        switch recording.verdict {
        case .healthy(let time):
            return .init(bell: bell.id, output: output, ok: true, responseMs: Self.ms(time), detail: nil)
        case .noResponse:
            return .init(bell: bell.id, output: output, ok: false, responseMs: nil,
                         detail: "line \(bell.setup.line) did not follow the test drive within \(Self.ms(Self.driveWait)) ms: check the bell's wiring and the relay on \(output)")
        case .disturbed(let what):
            return .init(bell: bell.id, output: output, ok: false, responseMs: response,
                         detail: "line \(bell.setup.line): \(what); its edges went to the bell as presses")
        }
    }

    static func ms(_ duration: Duration) -> Int { Int(duration.milliseconds) }
}

/// A lock for async code: callers enter in turn, in the order they arrived.
actor OneAtATime {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}
