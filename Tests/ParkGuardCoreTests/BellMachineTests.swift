import ParkGuardCore
import Testing

private func t(_ milliseconds: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: 5_000_000_000 + milliseconds * 1_000_000) }

private let timing = BellTiming(debounce: .milliseconds(30), holdAfter: .seconds(3), stuckAfter: .seconds(60),
                                acknowledgedFor: .seconds(120))

private func alarms(_ actions: [BellMachine.Action]) -> [AlarmKind] {
    actions.compactMap { if case .alarm(let kind, _, _) = $0 { kind } else { nil } }
}

private func states(_ actions: [BellMachine.Action]) -> [BellState] {
    actions.compactMap { if case .state(let state) = $0 { state } else { nil } }
}

@Suite("Bell lifecycle")
struct BellMachineTests {
    @Test("a press raises an alarm and switches strobe and siren on at once")
    func pressRaisesAlarm() {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        let actions = bell.edge(active: true, at: t(100))
        #expect(alarms(actions) == [.press])
        #expect(actions.contains(.output(.on(.strobe))))
        #expect(actions.contains(.output(.on(.siren))))
        #expect(states(actions) == [.alarm])
        #expect(bell.state == .alarm)
    }

    @Test("a press's first actions are the outputs: the strobe and siren come before the alarm and the state")
    func outputsComeFirst() {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        let actions = bell.edge(active: true, at: t(100))
        let firstOther = actions.firstIndex { if case .output = $0 { false } else { true } } ?? actions.count
        #expect(firstOther == 2, "outputs first, then the rest: \(actions)")
        #expect(actions[firstOther...].allSatisfy { if case .output = $0 { false } else { true } })
    }

    @Test("a bouncing press is one press and one release")
    func bouncingPressIsOnePress() {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        var kinds: [AlarmKind] = []
        for i in 0 ..< 9 { kinds += alarms(bell.edge(active: i % 2 == 0, at: t(100 + UInt64(i)))) }
        kinds += alarms(bell.tick(now: t(200)))
        for i in 0 ..< 5 { kinds += alarms(bell.edge(active: i % 2 == 1, at: t(700 + UInt64(i)))) }
        kinds += alarms(bell.tick(now: t(800)))
        #expect(kinds == [.press, .release])
    }

    @Test("holding reports hold once; holding past stuckAfter is a fault that silences the siren")
    func holdThenStuck() throws {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        _ = bell.edge(active: true, at: t(0))
        #expect(bell.deadline == t(30))
        _ = bell.tick(now: t(30))
        #expect(bell.deadline == t(3000))
        #expect(alarms(bell.tick(now: t(3000))) == [.hold])
        #expect(alarms(bell.tick(now: t(4000))).isEmpty, "hold is reported once")
        let stuck = bell.tick(now: t(60000))
        #expect(alarms(stuck) == [.stuck])
        #expect(stuck.contains(.output(.off(.siren))))
        #expect(bell.state == .fault)
        #expect(bell.deadline == nil, "a stuck bell raises no endless alarm")
        let released = bell.edge(active: false, at: t(70000))
        #expect(alarms(released) == [.release, .recovered])
        #expect(bell.state == .idle)
    }

    @Test("ack moves an open alarm to acknowledged and lights call-accepted; it returns to idle after acknowledgedFor")
    func acknowledgeLifecycle() throws {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        _ = bell.edge(active: true, at: t(0))
        _ = bell.edge(active: false, at: t(500))
        _ = bell.tick(now: t(600))
        let acked = try bell.acknowledge(now: t(1000))
        #expect(acked.contains(.output(.on(.callAccepted))))
        #expect(bell.state == .acknowledged)
        #expect(bell.deadline == t(121_000))
        #expect(states(bell.tick(now: t(121_000))) == [.idle])
    }

    @Test("ack without an open alarm is refused and changes nothing")
    func ackWithoutAlarmRefused() {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        #expect(throws: BellMachine.Refusal.noOpenAlarm(.idle)) { try bell.acknowledge(now: t(10)) }
        #expect(bell.state == .idle)
    }

    @Test("a new press while acknowledged is a new alarm")
    func pressAfterAck() throws {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        _ = bell.edge(active: true, at: t(0))
        _ = bell.edge(active: false, at: t(200))
        _ = bell.tick(now: t(300))
        _ = try bell.acknowledge(now: t(400))
        let again = bell.edge(active: true, at: t(5000))
        #expect(alarms(again) == [.press])
        #expect(bell.state == .alarm)
    }

    @Test("a bell pressed when the unit starts is reported as a press")
    func pressedAtStart() {
        var bell = BellMachine(id: "b1", timing: timing)
        let actions = bell.start(active: true, now: t(0))
        #expect(alarms(actions) == [.press])
        #expect(bell.state == .alarm)
    }

    @Test("a disabled bell ignores its line and commands")
    func disabledBell() {
        var bell = BellMachine(id: "b1", timing: timing, enabled: false)
        #expect(states(bell.start(active: false, now: t(0))) == [.disabled])
        #expect(bell.edge(active: true, at: t(10)).isEmpty)
        #expect(throws: BellMachine.Refusal.disabled) { try bell.silence() }
    }

    @Test("a line fault moves the bell to fault and recovery back to idle")
    func lineFault() {
        var bell = BellMachine(id: "b1", timing: timing)
        _ = bell.start(active: false, now: t(0))
        let failed = bell.lineFault(true, reason: "chip gone", now: t(10))
        #expect(alarms(failed) == [.lineFault])
        #expect(bell.state == .fault)
        #expect(bell.lineFault(true, reason: "chip gone", now: t(20)).isEmpty, "reported once")
        let back = bell.lineFault(false, reason: "lines requested", now: t(30))
        #expect(alarms(back) == [.recovered])
        #expect(bell.state == .idle)
    }
}

@Suite("Tamper and outputs")
struct SupervisoryAndOutputTests {
    @Test("a tamper switch opening reports tamper, closing reports tamperRestored, debounced")
    func tamper() {
        let config = InputConfig(id: "t1", kind: .tamper, setup: LineSetup(line: 5, activeLow: true, bias: .pullUp),
                                 debounce: .milliseconds(50), bell: "b1")
        var input = SupervisoryInput(config: config)
        #expect(input.start(active: false, now: t(0)).isEmpty)
        let opened = input.edge(active: true, at: t(10)) + input.edge(active: false, at: t(11)) + input.edge(active: true, at: t(12))
        #expect(opened.map(SupervisoryInput.kind) == [.tamper])
        #expect(input.tick(now: t(62)).isEmpty)
        let closed = input.edge(active: false, at: t(1000))
        #expect(closed.map(SupervisoryInput.kind) == [.tamperRestored])
    }

    @Test("outputs switch on for their duration, only for their bells, and honour active-low")
    func outputs() {
        let strobe = OutputConfig(id: "s", role: .strobe, line: 1, activeLow: true, duration: .seconds(10), bells: ["b1"])
        let siren = OutputConfig(id: "z", role: .siren, line: 2, activeLow: false, duration: .seconds(5), bells: [])
        var controller = OutputController(outputs: [strobe, siren])
        #expect(controller.initialDrives().map(\.level) == [true, false], "off is high for an active-low output")
        #expect(controller.apply(.on(.strobe), bell: "b2", now: t(0)).isEmpty, "b2 does not drive b1's strobe")
        let on = controller.apply(.on(.strobe), bell: "b1", now: t(0)) + controller.apply(.on(.siren), bell: "b2", now: t(0))
        #expect(on.map(\.level) == [false, true])
        #expect(controller.deadline == t(5000))
        #expect(controller.tick(now: t(5000)).map(\.output) == ["z"])
        #expect(controller.tick(now: t(10000)).map(\.output) == ["s"])
        #expect(controller.deadline == nil)
        #expect(controller.apply(.off(.siren), bell: nil, now: t(11000)).isEmpty, "switching off what is off drives nothing")
    }

    @Test("reconnect backoff doubles up to the maximum with jitter in the upper half")
    func backoff() {
        var backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8))
        let waits = (0 ..< 6).map { _ in backoff.next { 0.0 } }
        #expect(waits == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4)])
        #expect(backoff.next { 0.999_999 } <= .seconds(8))
        backoff.reset()
        #expect(backoff.next { 1.0 } == .seconds(1))
    }
}
