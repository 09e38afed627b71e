import CameraProbe
import Foundation
import ParkGuardCore
import ParkGuardTestKit
import Testing

/// The venv of `Tests/peers/onvif_peers.sh` (ipycam, onvif-zeep-async), when it has been made.
private let onvifPeers: String? = {
    let python = (ProcessInfo.processInfo.environment["PARKGUARD_PEERS_CACHE"] ?? NSHomeDirectory() + "/.cache/parkguard-peers") + "/onvif/bin/python"
    return FileManager.default.isExecutableFile(atPath: python) ? python : nil
}()

extension Unit {
    /// The `ptz` events after `skip` messages: their data.
    func ptzEvents(skipping skip: Int = 0) -> [[String: String]] {
        subscriber.messages.dropFirst(skip).filter { $0.topic == "\(root)/event" && $0.string("event") == "ptz" }
            .compactMap { $0.object?["data"] as? [String: String] }
    }

    /// Waits for a `ptz` event after `skip` messages that `matches`.
    func ptzEvent(skipping skip: Int, timeout: Duration = .seconds(15), _ what: String,
                  _ matches: @escaping @Sendable ([String: String]) -> Bool) async throws -> (index: Int, data: [String: String]) {
        let root = root
        let message = try await subscriber.wait(timeout: timeout, skipping: skip, what) {
            $0.topic == "\(root)/event" && $0.string("event") == "ptz" && ($0.object?["data"] as? [String: String]).map(matches) == true
        }
        let index = subscriber.messages.firstIndex { $0.topic == message.topic && $0.payload == message.payload } ?? -1
        return (index, message.object?["data"] as? [String: String] ?? [:])
    }

    /// Where the simulated camera's PTZ head points (`parkguard-sim cameras`).
    func ptz(_ camera: String) async throws -> [String: Any] {
        let cameras = try JSONSerialization.jsonObject(with: Data(try await sim("cameras").utf8)) as? [[String: Any]] ?? []
        return cameras.first { $0["id"] as? String == camera }?["ptz"] as? [String: Any] ?? [:]
    }
}

/// cam-1 with credentials, b1 turning it to `gate` and back `home` 5 s after the release; steps of 1 s.
private func ptzConfig(password: String) -> (String) -> String {
    { text in
        let edited = text.replacingOccurrences(of: "    onvif: { port:", with: "    username: ptz-user\n    passwordFile: \(password)\n    onvif: { port:")
            .replacingOccurrences(of: "      - id: cam-1\n        preset: gate", with: "      - id: cam-1\n        preset: gate\n        home: home\n        returnAfter: 5s")
            + "\ncameraHealth: {connectTimeout: 1s, stepTimeout: 1s, slowAfter: 500ms}\n"
        precondition(edited.contains("ptz-user") && edited.contains("returnAfter: 5s"), "the unit's configuration changed: \(text)")
        return edited
    }
}

private func passwordFile(_ directory: ScratchDirectory, _ secret: String) throws -> String {
    try secretFile(in: directory, "ptz.pass", secret)
}

@Suite("PTZ at the bell: cameras turned to the bell's preset over ONVIF, and back home", .serialized)
struct CameraPTZTests {
    @Test("a press turns the linked camera to the bell's preset after the alarm and the outputs, the release brings it home; each move is an event naming the press's alarm")
    func pressTurnsCamera() async throws {
        let scratch = try ScratchDirectory()
        let unit = try await Unit(edit: ptzConfig(password: try passwordFile(scratch, "ptz-secret")))
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let press = try await unit.alarm("press", skipping: skip)
        let pressIndex = unit.subscriber.messages.firstIndex { $0.topic == press.topic && $0.payload == press.payload } ?? -1
        let pressID = try #require(press.string("id"))
        let moved = try await unit.ptzEvent(skipping: skip, "ptz move for the press") { $0["reason"] == "press" }
        #expect(moved.data["outcome"] == "moved", "\(moved.data)")
        #expect(moved.data["alarmId"] == pressID && moved.data["camera"] == "cam-1" && moved.data["preset"] == "gate" && moved.data["bell"] == "b1")
        #expect(moved.index > pressIndex, "the alarm goes out before the camera is turned")
        #expect(try await unit.ptz("cam-1")["preset"] as? String == "gate")

        // Pressing again within 10 s sends nothing more to the camera.
        try await unit.sim("release", "b1")
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press", skipping: pressIndex + 1)
        try await unit.sim("release", "b1")
        let home = try await unit.ptzEvent(skipping: skip, "ptz return home") { $0["reason"] == "home" }
        #expect(home.data["outcome"] == "moved" && home.data["preset"] == "home" && home.data["alarmId"] == nil, "\(home.data)")
        #expect(try await unit.ptz("cam-1")["preset"] as? String == "home")
        #expect(try await unit.ptz("cam-1")["moves"] as? Int == 2)
        #expect(unit.ptzEvents(skipping: skip).count == 2, "\(unit.ptzEvents(skipping: skip))")
        try await unit.validateContract()
    }

    @Test("a camera that refuses to move, or never answers, is announced as refused or timedOut, and neither delays the alarm or the outputs")
    func refusedAndTimedOut() async throws {
        let scratch = try ScratchDirectory()
        let unit = try await Unit(edit: ptzConfig(password: try passwordFile(scratch, "ptz-secret")))
        try await unit.sim("camera", "cam-1", "fault", "ptzRefuses")
        var skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press", skipping: skip)
        let refused = try await unit.ptzEvent(skipping: skip, "refused move") { $0["reason"] == "press" }
        #expect(refused.data["outcome"] == "refused", "\(refused.data)")
        let why = refused.data["detail"] ?? ""
        #expect(why.contains("MovementFailed"), "\(refused.data)")
        try await unit.sim("release", "b1")
        _ = try await unit.ptzEvent(skipping: skip, "refused return") { $0["reason"] == "home" }

        try await unit.sim("camera", "cam-1", "clear")
        try await unit.sim("camera", "cam-1", "fault", "ptzTimeout")
        skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press", skipping: skip)
        // The camera hangs on GotoPreset; the strobe is already on.
        #expect(try await unit.output("strobe"))
        #expect(unit.ptzEvents(skipping: skip).isEmpty)
        let hung = try await unit.ptzEvent(skipping: skip, "timed-out move") { $0["reason"] == "press" }
        #expect(hung.data["outcome"] == "timedOut", "\(hung.data)")
        // Neither the refused moves nor the hung one turned the head.
        #expect(try await unit.ptz("cam-1")["moves"] as? Int == 0)
        try await unit.sim("release", "b1")
    }

    @Test("onvif-zeep-async, an ONVIF client nobody here wrote, finds the simulated camera's PTZ service and turns it to a preset with WS-Security, and reads its GetSnapshotUri",
          .enabled(if: onvifPeers != nil, "needs Tests/peers/onvif_peers.sh (ipycam and onvif-zeep-async from PyPI)"))
    func zeepAgainstSimulator() async throws {
        let scratch = try ScratchDirectory()
        let unit = try await Unit(startAgent: false, edit: ptzConfig(password: try passwordFile(scratch, "zeep-secret")))
        let config = try String(contentsOfFile: unit.configPath, encoding: .utf8)
        let port = try #require(config.components(separatedBy: "onvif: { port: ").dropFirst().first?.split(separator: " ").first.flatMap { Int($0) })
        let client = Products.packageRoot + "/Tests/peers/onvif_client.py"
        let result = try await run(onvifPeers!, [client, "127.0.0.1", "\(port)", "ptz-user", "zeep-secret", "gate"], environment: ["HOME": scratch.path])
        #expect(result.status == 0, "\(result.error.suffix(2000))")
        let answer = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
        #expect(answer["profile"] as? String == "profile-1")
        #expect(answer["presets"] as? [String: String] == ["home": "1", "gate": "2"])
        #expect((answer["position"] as? [String: Double])?["zoom"] == 0.5, "\(answer)")
        #expect(answer["snapshotUri"] as? String == "http://127.0.0.1:\(port)/onvif/snapshot.jpg", "GetSnapshotUri, as zeep reads it: \(answer)")
        #expect(try await unit.ptz("cam-1")["preset"] as? String == "gate")

        let wrong = try await run(onvifPeers!, [client, "127.0.0.1", "\(port)", "ptz-user", "wrong", "gate"], environment: ["HOME": scratch.path])
        #expect(wrong.status != 0)
        #expect(try await unit.ptz("cam-1")["moves"] as? Int == 1)
    }

    @Test("ipycam, a virtual PTZ camera nobody here wrote, is turned to the bell's preset on a press; its pictures at the press and once turned go out with the alarm's id, and its health snapshot is decoded",
          .enabled(if: onvifPeers != nil, "needs Tests/peers/onvif_peers.sh (ipycam and onvif-zeep-async from PyPI)"))
    func ipycamTurnsOnPress() async throws {
        let scratch = try ScratchDirectory()
        // ipycam looks a preset up by its key in this file: key and token are the same; the name differs.
        try #"{"home": {"token": "home", "name": "home", "pan": 0, "tilt": 0, "zoom": 0}, "gate-7": {"token": "gate-7", "name": "gate", "pan": 0.5, "tilt": -0.25, "zoom": 0.3}}"#
            .write(toFile: scratch.file("ptz_presets.json"), atomically: true, encoding: .utf8)
        // 127.0.0.2: a loopback address the simulator does not serve cameras on.
        let httpPort = freePort()
        let camera = try Child(onvifPeers!, [Products.packageRoot + "/Tests/peers/ipycam_camera.py", "127.0.0.2", "\(httpPort)", "\(freePort())", "admin", "ipy-secret", scratch.path],
                               in: scratch, name: "ipycam")
        defer { camera.signal(SIGTERM) }
        #expect(try await eventually(timeout: .seconds(30)) { camera.stdout.contains("ready") }, "ipycam: \(camera.stderr.suffix(2000))")
        let password = try passwordFile(scratch, "ipy-secret")
        let unit = try await Unit(edit: { text in
            text.replacingOccurrences(of: "  - id: cam-1\n    host: 127.0.0.1\n", with: "  - id: cam-1\n    host: 127.0.0.2\n")
                .replacingOccurrences(of: #"rtsp: \{ port: \d+, path: /stream1 \}"#, with: "rtsp: false", options: .regularExpression)
                .replacingOccurrences(of: #"onvif: \{ port: \d+ \}"#, with: "onvif: { port: \(httpPort) }", options: .regularExpression)
                .replacingOccurrences(of: #"snapshot: \{ port: \d+ \}"#, with: "snapshot: { port: \(httpPort) }\n    username: admin\n    passwordFile: \(password)",
                                      options: .regularExpression)
        })
        let pictures = try await SnapshotSubscriber(broker: unit.broker, in: unit.directory)
        defer { pictures.stop() }
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let press = try await unit.alarm("press", skipping: skip)
        let moved = try await unit.ptzEvent(skipping: skip, "ipycam moved") { $0["reason"] == "press" }
        #expect(moved.data["outcome"] == "moved" && moved.data["alarmId"] == press.string("id"), "\(moved.data)")
        // The head moves at its own speed after answering: it gets there.
        var head: [String: Any] = [:]
        let arrived = try await eventually(timeout: .seconds(10)) {
            let position = try await run("/usr/bin/curl", ["-s", "-u", "admin:ipy-secret", "http://127.0.0.2:\(httpPort)/api/ptz"])
            head = (try? JSONSerialization.jsonObject(with: Data(position.output.utf8)) as? [String: Any]) ?? [:]
            return head["pan"] as? Double == 0.5 && head["tilt"] as? Double == -0.25 && head["zoom"] as? Double == 0.3
        }
        #expect(arrived, "\(head)")
        // Its pictures (HTTP Basic), taken for the press's alarm: at the press and once turned.
        let id = try #require(press.string("id"))
        for stage in ["press", "settled"] {
            let picture = try await pictures.wait("ipycam's \(stage) picture") { $0.topic == "\(unit.root)/snapshot/\(id)/cam-1/\(stage)" }
            let meta = try SnapshotMeta.read(from: picture.jpeg)
            #expect(meta.width == 320 && meta.height == 240 && picture.properties["stage"] == stage, "\(meta)")
            #expect(try JPEGCodec.decodeThumbnail(picture.jpeg).meanLuma > 20, "a picture, not a black frame")
        }
        try await pictures.validateContract(in: unit.directory)

        // The camera's health: its snapshot (HTTP Basic) is a picture the probe decodes.
        try await unit.waitHealth("cam-1", "ok")
        let checks = unit.subscriber.messages.last { $0.topic == "\(unit.root)/camera/cam-1/health" }?.object?["checks"] as? [String: Any]
        let snapshot = checks?["snapshot"] as? [String: Any]
        #expect(snapshot?["width"] as? Int == 320 && snapshot?["height"] as? Int == 240, "\(String(describing: checks))")
        try await unit.sim("release", "b1")
    }
}
