import Foundation
import ParkGuardTestKit
import Testing

/// `parkguardd doctor` against a simulated unit: the real daemon binary, the real simulator, a
/// real broker (and, secured, the provisioned district's certificates).
@Suite("Doctor", .serialized)
struct DoctorTests {
    /// One check of the JSON report.
    struct Finding: CustomStringConvertible {
        var verdict = "absent"
        var summary = ""
        var advice = ""
        var description: String { "\(verdict): \(summary) -> \(advice)" }
    }

    /// Runs `parkguardd doctor --json` for `unit`; returns the exit status and the checks by area.
    func doctor(_ unit: Unit, _ arguments: String...) async throws -> (status: Int32, running: Bool?, checks: [String: Finding]) {
        let result = try await run(Products.path("parkguardd"), ["doctor", "--config", unit.configPath, "--json"] + arguments)
        guard let report = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] else {
            throw HarnessError("doctor printed no JSON report: \(result.output) \(result.error)")
        }
        var checks: [String: Finding] = [:]
        for check in report["checks"] as? [[String: Any]] ?? [] {
            checks[check["area"] as? String ?? "?"] = Finding(verdict: check["verdict"] as? String ?? "?", summary: check["summary"] as? String ?? "",
                                                              advice: check["advice"] as? String ?? "")
        }
        return (result.status, report["daemonRunning"] as? Bool, checks)
    }

    func failures(_ checks: [String: Finding]) -> String {
        checks.filter { $0.value.verdict != "ok" }.map { "\($0.key) \($0.value)" }.sorted().joined(separator: "\n")
    }

    /// Gives bell b1 a test drive on line 23.
    static func withTestDrive(_ config: String) -> String {
        config.replacingOccurrences(of: "  - id: b1\n", with: "  - id: b1\n    testDrive: drive-b1\n")
            .replacingOccurrences(of: "outputs:\n", with: "outputs:\n  - {id: drive-b1, role: testDrive, line: 23}\n")
    }

    @Test("with the daemon stopped the doctor opens the lines itself, switches the outputs, runs the test drive, reaches the broker with the unit's certificate and exits 0",
          .enabled(if: Products.built("parkguard-provision"), "the unit's certificate comes from parkguard-provision, which a unit-side build leaves out"))
    func stoppedUnitPasses() async throws {
        let unit = try await Unit(startAgent: false, secured: true, edit: Self.withTestDrive)
        let (status, running, checks) = try await doctor(unit, "--outputs")
        #expect(running == false)
        // Never started: the daemon makes its state directory at its first start.
        #expect(checks["state directory", default: Finding()].summary.hasSuffix("does not exist yet"))
        for area in ["configuration", "outbox", "certificate", "broker", "bell b1", "bell b2", "bell b3", "bell b4",
                     "tamper t1", "output strobe", "output siren", "output accepted-b1", "test drive b1", "camera cam-1"] {
            #expect(checks[area, default: Finding()].verdict == "ok", "\(area): \(checks[area, default: Finding()])")
        }
        let certificate = checks["certificate", default: Finding()].summary
        #expect(certificate.contains("days left") && certificate.contains("chains to the CA"), "\(certificate)")
        #expect(checks["broker", default: Finding()].summary.contains("accepted the unit's identity"))
        #expect(status == 0, "\(failures(checks))")
        // The doctor gives the lines back: the daemon can take them after it.
        let consumers = try await unit.lines().compactMap { $0["consumer"] as? String }
        #expect(consumers.isEmpty, "lines still held: \(consumers)")
        try await unit.start()
    }

    @Test("a bell that reads pressed at rest fails the doctor with exit 1 and names the line to check")
    func bellPressedAtRestFails() async throws {
        let unit = try await Unit(startAgent: false)
        try await unit.sim("press", "b2")
        let (status, _, checks) = try await doctor(unit)
        #expect(status == 1)
        let bell = checks["bell b2", default: Finding()]
        #expect(bell.verdict == "failed")
        #expect(bell.summary == "line 2 reads pressed at rest")
        #expect(bell.advice.contains("wiring to line 2"), "\(bell)")
        #expect(checks["bell b1", default: Finding()].verdict == "ok")
    }

    @Test("a broker that does not answer fails the broker check and says what to check")
    func unreachableBrokerFails() async throws {
        let unit = try await Unit(startAgent: false)
        try await unit.broker.stop()
        let (status, _, checks) = try await doctor(unit)
        #expect(status == 1)
        let broker = checks["broker", default: Finding()]
        #expect(broker.verdict == "failed")
        #expect(broker.advice.contains("address and port"), "\(broker)")
    }

    @Test("with the daemon running the doctor asks it over the control socket; the daemon keeps its lines and its session")
    func runningUnit() async throws {
        let unit = try await Unit()
        let statuses = unit.subscriber.messages.filter { $0.topic == "\(unit.root)/status" }.count
        let (status, running, checks) = try await doctor(unit, "--outputs")
        #expect(running == true)
        #expect(status == 0, "\(failures(checks))")
        #expect(checks["broker", default: Finding()].summary.contains("the daemon's session is up"))
        for area in ["bell b1", "bell b4", "tamper t1", "output strobe", "output siren", "output accepted-b1"] {
            #expect(checks[area, default: Finding()].verdict == "ok", "\(area): \(checks[area, default: Finding()])")
        }
        // Still the daemon's lines, and no new status: its session was not disturbed.
        #expect(try await unit.lines().filter { $0["consumer"] as? String == "parkguardd" }.count == 8)
        #expect(unit.subscriber.messages.filter { $0.topic == "\(unit.root)/status" }.count == statuses)
        // A bad request on the socket is refused with a reason; the daemon carries on.
        let answer = try await run("/usr/bin/python3", ["-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'{"request":"reboot"}\\n')
            print(s.recv(4096).decode())
            """, unit.controlSocket])
        #expect(answer.output.contains(#""error":"request: unknown 'reboot'"#), "\(answer)")
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press")
    }

    @Test("the control socket serves four clients at once, refuses a fifth, a request over 512 bytes and a silent client; a watcher gets the daemon's events; the daemon carries on")
    func controlSocketBounds() async throws {
        let unit = try await Unit()
        let client = try Child("/usr/bin/python3", ["-c", """
            import socket, sys, time
            path = sys.argv[1]
            def connect():
                s = socket.socket(socket.AF_UNIX); s.settimeout(15); s.connect(path); return s
            def answer(s):
                data = b''
                while not data.endswith(b'\\n'):
                    chunk = s.recv(65536)
                    if not chunk: break
                    data += chunk
                return data.decode().strip()
            def closed(s):
                while s.recv(65536): pass
            silent = [connect() for _ in range(4)]
            time.sleep(0.3)
            print('fifth', answer(connect()))
            # Each place is free once the daemon has hung up on its client.
            for s in silent: print('silent', answer(s)); closed(s)
            long = connect(); long.sendall(b'x' * 70000); print('long', answer(long))
            watcher = connect(); watcher.sendall(b'{"request":"watch","seconds":30}\\n')
            print('watch', answer(watcher))
            print('ready', flush=True)
            print('event', answer(watcher), flush=True)
            """, unit.controlSocket], in: unit.directory, name: "control-client")
        #expect(try await eventually(timeout: .seconds(20)) { client.stdout.contains("ready") }, "\(client.stdout) \(client.stderr)")
        try await unit.sim("press", "b1")
        #expect(try await client.exitStatus(within: .seconds(20)) == 0, "\(client.stderr)")
        let answer = client.stdout
        let lines = answer.split(separator: "\n").map(String.init)
        #expect(lines.first { $0.hasPrefix("fifth") }?.contains("busy: 4 clients are connected") == true, "\(answer)")
        #expect(lines.filter { $0.hasPrefix("silent") && $0.contains("no request within") }.count == 4, "\(answer)")
        #expect(lines.first { $0.hasPrefix("long") }?.contains("request is longer than 512 bytes") == true, "\(answer)")
        #expect(lines.first { $0.hasPrefix("watch") }?.contains("watching") == true, "\(answer)")
        #expect(lines.first { $0.hasPrefix("event") } != nil, "\(answer)")
        _ = try await unit.alarm("press")
        try await unit.sim("release", "b1")
        _ = try await unit.alarm("release")
        let (status, running, checks) = try await doctor(unit)
        #expect(running == true && status == 0, "\(failures(checks))")
    }

    @Test("with the daemon running, --outputs runs the daemon's whole self-test: a test drive whose wire is cut fails the doctor, and the report reaches the hub's topic")
    func runningSelfTest() async throws {
        let unit = try await Unit(edit: Self.withTestDrive)
        try await unit.sim("wiring", "b1", "--fault", "drive-cut")
        let (status, _, checks) = try await doctor(unit, "--outputs")
        #expect(status == 1)
        let drive = checks["test drive b1", default: Finding()]
        #expect(drive.verdict == "failed" && drive.summary.contains("line 1 did not follow the test drive"), "\(drive)")
        #expect(checks["self-test", default: Finding()].verdict == "failed")
        let report = try await unit.subscriber.wait("the doctor's self-test report") { $0.topic == "\(unit.root)/selftest" }
        #expect(report.string("trigger") == "doctor" && report.object?["passed"] as? Bool == false)
        #expect(unit.alarms().isEmpty, "the test drive raised no alarm")
    }

    @Test("a press while a test drive holds the bell's circuit is not lost: its edges go to the bell and the alarm is raised")
    func pressDuringTestDrive() async throws {
        let unit = try await Unit(edit: Self.withTestDrive)
        // The relay's wire is cut, and a person presses 0.3 s into the test drive for 1.2 s.
        try await unit.sim("wiring", "b1", "--fault", "press-during-test")
        let doctor = try Child(Products.path("parkguardd"), ["doctor", "--config", unit.configPath, "--json", "--outputs"],
                               in: unit.directory, name: "doctor")
        let status = try await doctor.exitStatus(within: .seconds(30))
        #expect(status == 1)
        let press = try await unit.alarm("press")
        #expect(press.string("bell") == "b1")
        let report = try await unit.subscriber.wait("the self-test report") { $0.topic == "\(unit.root)/selftest" }
        let drive = (report.object?["testDrives"] as? [[String: Any]])?.first
        #expect(drive?["ok"] as? Bool == false && (drive?["detail"] as? String ?? "").contains("went to the bell"), "\(drive ?? [:])")
    }

    @Test("on a terminal the doctor asks for each press and shows it, its debounce and its release; an unpressed bell fails",
          arguments: [false, true])
    func interactivePresses(daemonRunning: Bool) async throws {
        let unit = try await Unit(startAgent: daemonRunning)
        let command = "\(Products.path("parkguardd")) doctor --config \(unit.configPath) --press-timeout 8"
        // script(1) gives the doctor a pseudo-terminal, as an installer's ssh session does.
        let screen = try Child("/usr/bin/script", ["-qfec", command, "/dev/null"], in: unit.directory, name: "doctor-\(daemonRunning)",
                               withInput: true)
        func waitFor(_ text: String, timeout: Duration = .seconds(20)) async throws {
            guard try await eventually(timeout: timeout, { screen.stdout.contains(text) }) else {
                throw HarnessError("the doctor's screen never showed '\(text)':\n\(screen.stdout)")
            }
        }
        try await waitFor("Press bell b1")
        try await unit.sim("click", "b1", "--ms", "400")
        try await waitFor("ok    press b1")
        // b2 is left alone: its check fails when the time is up.
        try await waitFor("Press bell b2")
        try await waitFor("FAIL  press b2", timeout: .seconds(30))
        for bell in ["b3", "b4"] {
            try await waitFor("Press bell \(bell)")
            screen.type("\n")
            try await waitFor("skip  press \(bell)")
        }
        // Nothing more to type. Debian 13's script(1) (util-linux 2.41) waits for the end of its
        // input before it exits, as a terminal session ends with the installer's logout.
        screen.endInput()
        let status = try await screen.exitStatus(within: .seconds(30))
        let text = screen.stdout
        #expect(status == 1, "\(text)")
        #expect(text.contains("pressed: edge on line 1"))
        #expect(text.contains("counted as a press"))
        #expect(text.contains("released after"))
        #expect(text.contains("no edge on line 2 within 8 s"))
        #expect(text.contains("-> check the bell's wiring to line 2"))
        #expect(text.contains("verdict: 1 check failed"), "only the unpressed bell")
        #expect(text.contains("daemon running") == daemonRunning)
        if daemonRunning {
            // With the daemon running a press is a real alarm, and the doctor said so first.
            #expect(text.contains("each press below reaches the control room as an alarm"))
            _ = try await unit.alarm("press")
        }
    }
}
