import Foundation
import ParkGuardTestKit
import Testing

/// Simulated cameras for one unit: each on its own free ports, with credentials.
private struct CameraSet {
    let ids: [String]
    let passwordFile: String
    /// `rtsp.flowCheck` of every camera, when set.
    var flowCheck: String? = nil

    func yaml(interval: String = "1s") -> String {
        "cameras:\n" + ids.map { id in
            """
              - id: \(id)
                host: 127.0.0.1
                rtsp: { port: \(freePort()), path: /stream1\(flowCheck.map { ", flowCheck: \($0)" } ?? "") }
                onvif: { port: \(freePortPair) }
                snapshot: { port: \(freePortPair) }
                username: parkguard
                passwordFile: \(passwordFile)
                interval: \(interval)

            """
        }.joined()
    }

    // ONVIF and the snapshot share one HTTP port per camera, as on most cameras.
    private var freePortPair: Int { PortPair.next() }
}

/// Hands out each free port twice in a row (ONVIF then snapshot of the same camera).
private enum PortPair {
    nonisolated(unsafe) static var pending: Int?
    static let lock = NSLock()
    static func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        if let port = pending {
            pending = nil
            return port
        }
        let port = freePort()
        pending = port
        return port
    }
}

/// Replaces the unit's camera list and camera policy, and links bell b1 to `links`.
private func cameraConfig(_ set: CameraSet, policy: String, links: [String], interval: String = "1s") -> (String) -> String {
    { text in
        var lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: "cameras:"), let end = lines.firstIndex(of: "bells:") else { return text }
        lines.replaceSubrange(start ..< end, with: (set.yaml(interval: interval) + policy).components(separatedBy: "\n"))
        return lines.joined(separator: "\n")
            .replacingOccurrences(of: "    cameras:\n      - id: cam-1\n        preset: gate",
                                  with: "    cameras:\n" + links.map { "      - id: \($0)" }.joined(separator: "\n"))
    }
}

extension Unit {
    /// Every `camera/{id}/health` payload received for `camera`, in order.
    func health(_ camera: String) -> [[String: Any]] {
        subscriber.messages.filter { $0.topic == "\(root)/camera/\(camera)/health" }.compactMap(\.object)
    }

    /// Waits until the latest health of `camera` has `status` and a reason with `code`.
    func waitHealth(_ camera: String, _ status: String, reason code: String? = nil, timeout: Duration = .seconds(45)) async throws {
        let reached = try await eventually(timeout: timeout) {
            guard let last = health(camera).last, last["status"] as? String == status else { return false }
            guard let code else { return true }
            return (last["reasons"] as? [[String: Any]] ?? []).contains { $0["code"] as? String == code }
        }
        if !reached {
            throw HarnessError("camera \(camera) never reached \(status)/\(code ?? "-"); last: \(health(camera).suffix(3))")
        }
    }
}

private func passwordFile(in directory: ScratchDirectory) throws -> String {
    try secretFile(in: directory, "camera.pass", "sesame-\(getpid())")
}

/// A camera password file, 0600 as the agent demands.
func secretFile(in directory: ScratchDirectory, _ name: String, _ secret: String) throws -> String {
    let path = directory.file(name)
    try "\(secret)\n".write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o600)
    return path
}

@Suite("Camera health, end to end through the simulator's cameras", .serialized)
struct CameraHealthTests {
    static let policy = """
        cameraHealth:
          concurrency: 16
          reportInterval: 1h
          connectTimeout: 1s
          stepTimeout: 1s
          failuresToDown: 2
          successesToUp: 2
          slowAfter: 300ms
          maxClockDrift: 5s

        """

    @Test("every simulated fault is reported with its status and reason, then clears; alarms carry the linked cameras' health")
    func everyFault() async throws {
        let expected: [(camera: String, fault: String, options: [String], status: String, reason: String)] = [
            ("cam-frozen", "frozen", [], "degraded", "frozen"),
            ("cam-black", "black", [], "degraded", "black"),
            ("cam-slow", "slow", ["--delay-ms", "450"], "degraded", "slow"),
            ("cam-drift", "drift", ["--drift-seconds", "120"], "degraded", "clockDrift"),
            ("cam-auth", "auth", [], "degraded", "authFailed"),
            ("cam-badsdp", "badSdp", [], "offline", "noVideo"),
            ("cam-garbage", "garbage", [], "offline", "protocolError"),
            ("cam-stall", "stall", [], "offline", "timeout"),
            ("cam-offline", "offline", [], "offline", "refused"),
            ("cam-refuse", "refuse", [], "offline", "protocolError"),
        ]
        let directory = try ScratchDirectory()
        let set = CameraSet(ids: ["cam-1"] + expected.map(\.camera), passwordFile: try passwordFile(in: directory))
        let unit = try await Unit(edit: cameraConfig(set, policy: Self.policy, links: ["cam-1", "cam-frozen"]))
        try await unit.waitHealth("cam-1", "ok")
        for item in expected {
            try await unit.sim(["camera", item.camera, "fault", item.fault] + item.options)
        }
        for item in expected {
            try await unit.waitHealth(item.camera, item.status, reason: item.reason)
        }
        #expect(unit.health("cam-1").last?["status"] as? String == "ok")
        let codec = (unit.health("cam-1").last?["checks"] as? [String: Any])?["codec"] as? String
        #expect(codec == "JPEG")

        // An alarm carries the published health of every linked camera.
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let alarm = try await unit.alarm("press", skipping: skip)
        let cameras = alarm.object?["cameras"] as? [[String: Any]] ?? []
        #expect(cameras.map { $0["id"] as? String } == ["cam-1", "cam-frozen"])
        #expect(cameras.map { $0["health"] as? String } == ["ok", "degraded"])
        try await unit.sim("release", "b1")

        for item in expected {
            try await unit.sim("camera", item.camera, "clear")
        }
        for item in expected {
            try await unit.waitHealth(item.camera, "ok")
        }
        try await unit.validateContract()
    }

    @Test("the flow check finds a camera that describes its stream but sends no video, or stops after a few frames, and publishes what flowed")
    func videoFlow() async throws {
        let directory = try ScratchDirectory()
        let set = CameraSet(ids: ["cam-1", "cam-nortp", "cam-stops"], passwordFile: try passwordFile(in: directory),
                            flowCheck: "{ every: 10s, listen: 2s }")
        let unit = try await Unit(edit: cameraConfig(set, policy: Self.policy, links: ["cam-1"]))
        for camera in set.ids { try await unit.waitHealth(camera, "ok") }
        let flow = try #require((unit.health("cam-1").last?["checks"] as? [String: Any])?["flow"] as? [String: Any])
        // The simulator sends 10 frames a second.
        let frames = flow["frames"] as? Int ?? 0, kbps = flow["kbps"] as? Int ?? 0
        #expect((16 ... 21).contains(frames), "\(flow)")
        #expect(kbps > 100, "\(flow)")
        #expect(flow["listenMs"] as? Int == 2000, "\(flow)")

        try await unit.sim("camera", "cam-nortp", "fault", "noRtp")
        try await unit.sim("camera", "cam-stops", "fault", "rtpStops")
        try await unit.waitHealth("cam-nortp", "degraded", reason: "noVideoFlow")
        try await unit.waitHealth("cam-stops", "degraded", reason: "noVideoFlow")
        // A fault that lands in the middle of a flow check stops that check's video part way
        // ("stopped after 2 frames"); the next check, within 10 s, sees the fault from PLAY on.
        func detail(_ camera: String) -> String {
            ((unit.health(camera).last?["reasons"] as? [[String: Any]])?.first?["detail"] as? String) ?? ""
        }
        let nortp = try await eventually(timeout: .seconds(30)) { detail("cam-nortp") == "flow: no video packet in 2000 ms after PLAY" }
        #expect(nortp, "\(detail("cam-nortp"))")
        let stops = try await eventually(timeout: .seconds(30)) { detail("cam-stops").hasPrefix("flow: video stopped after 5 frames") }
        #expect(stops, "\(detail("cam-stops"))")
        #expect(unit.health("cam-1").last?["status"] as? String == "ok")

        try await unit.sim("camera", "cam-nortp", "clear")
        try await unit.sim("camera", "cam-stops", "clear")
        try await unit.waitHealth("cam-nortp", "ok")
        try await unit.waitHealth("cam-stops", "ok")
        try await unit.validateContract()
    }

    @Test("status changes only after N failing probes in a row and M good ones, and a flapping camera settles instead of flapping")
    func hysteresisAndFlapping() async throws {
        let directory = try ScratchDirectory()
        let set = CameraSet(ids: ["cam-1", "cam-flap"], passwordFile: try passwordFile(in: directory))
        // Report every probe (1.5 s ± 10 % apart, over the 1 s report interval), so the test sees each
        // observation next to the published status.
        let policy = Self.policy.replacingOccurrences(of: "reportInterval: 1h", with: "reportInterval: 1s")
            .replacingOccurrences(of: "failuresToDown: 2", with: "failuresToDown: 3")
        let unit = try await Unit(edit: cameraConfig(set, policy: policy, links: ["cam-1"], interval: "1500ms"))
        try await unit.sim("camera", "cam-flap", "fault", "flap")
        try await unit.waitHealth("cam-1", "ok")
        let before = unit.health("cam-1").count
        try await unit.sim("camera", "cam-1", "fault", "offline")
        try await unit.waitHealth("cam-1", "offline", reason: "refused")
        try await unit.sim("camera", "cam-1", "clear")
        try await unit.waitHealth("cam-1", "ok")

        // Every report after the fault: the status turned offline on the third failing probe, and ok on the second good one.
        let reports = unit.health("cam-1").dropFirst(before).map {
            (status: $0["status"] as? String ?? "", observed: ($0["checks"] as? [String: Any])?["observed"] as? String ?? "")
        }
        let firstFailing = try #require(reports.firstIndex { $0.observed == "offline" })
        let wentDown = try #require(reports.firstIndex { $0.status == "offline" })
        #expect(wentDown - firstFailing == 2, "reports: \(reports)")
        #expect(reports[firstFailing ..< wentDown].allSatisfy { $0.status == "ok" && $0.observed == "offline" })
        let firstGood = try #require(reports[wentDown...].firstIndex { $0.observed == "ok" })
        let cameBack = try #require(reports[wentDown...].firstIndex { $0.status == "ok" })
        #expect(cameBack - firstGood == 1, "reports: \(reports)")

        // The flapping camera has been failing every other probe all along.
        _ = try await eventually(timeout: .seconds(40)) { unit.health("cam-flap").count >= 16 }
        let statuses = unit.health("cam-flap").map { $0["status"] as? String ?? "" }
        let changes = zip(statuses, statuses.dropFirst()).filter { $0 != $1 }.count
        #expect(statuses.count >= 16)
        #expect(changes <= 1, "statuses: \(statuses)")
        #expect(statuses.last == "degraded")
        let reasons = unit.health("cam-flap").last?["reasons"] as? [[String: Any]] ?? []
        #expect(reasons.contains { $0["code"] as? String == "unstable" })
    }

    @Test("a scenario file injects camera faults and presses on a timeline; a bad one is refused with file, line and key")
    func scenarioFile() async throws {
        let directory = try ScratchDirectory()
        let set = CameraSet(ids: ["cam-1"], passwordFile: try passwordFile(in: directory))
        let scenario = directory.file("scenario.yaml")
        try """
            steps:
              - { at: 3s, camera: cam-1, fault: black }
              - { at: 4s, click: b1, ms: 300 }
            """.write(toFile: scenario, atomically: true, encoding: .utf8)
        let unit = try await Unit(simArguments: ["--scenario", scenario], edit: cameraConfig(set, policy: Self.policy, links: ["cam-1"]))
        _ = try await unit.alarm("press", timeout: .seconds(15))
        try await unit.waitHealth("cam-1", "degraded", reason: "black")

        let bad = directory.file("bad.yaml")
        try "steps:\n  - { at: 1s, camera: cam-9, fault: black }\n  - { at: 2s, camera: cam-1, fault: melted }\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await run(Products.path("parkguard-sim"), ["serve", "--agent-config", unit.configPath, "--scenario", bad, "--no-cameras",
                                                               "--socket", directory.file("x.sock"), "--listen", "127.0.0.1:0"])
        #expect(refused.status == 78)
        #expect(refused.error.contains("bad.yaml:3: steps[1].fault: must be one of"), "\(refused.error)")
    }
}
