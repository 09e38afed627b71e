import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// Press → `GotoPreset` at the camera: two bells linked to one simulated PTZ camera with
/// different presets, pressed in turn (so every press moves it: the same preset within 10 s
/// would send nothing), timed from the contact closing to the camera receiving the call.
func ptzLatency(presses: Int, daemon: String, scratch: ScratchDirectory, brokerPort: Int, logger: Logger) async throws -> PTZResults {
    let rig = try await PTZBenchRig(unit: "ptz", picture: nil, scratch: scratch, logger: logger)
    defer { rig.stop() }
    let (camera, chip) = (rig.camera, rig.chip)
    // The moves alone: no pictures (the camera would give them through GetSnapshotUri).
    let agent = try await rig.startDaemon(daemon, brokerPort: brokerPort, state: scratch.file("ptz-state"), scratch: scratch,
                                          extra: "delivery: {retireOn: puback}\nsnapshots: {enabled: false}")
    defer { agent.signal(SIGTERM) }
    var latencies: [Double] = []
    for press in 0 ..< presses {
        let line = press % 2 == 0 ? 1 : 2
        let start = VirtualChip.monotonicNow()
        _ = try chip.setContact(line: line, active: true)
        do {
            try await waitUntil(timeout: .seconds(10)) { camera.ptz.moves == press + 1 }
        } catch {
            throw HarnessError("press \(press): the camera was not turned; the daemon's log:\n\(agent.stderr.suffix(2000))")
        }
        // The first two presses find the camera's services (GetCapabilities, GetProfiles, GetPresets).
        if press >= 2, let moved = camera.ptz.movedAt { latencies.append(Double(moved - start) / 1e6) }
        _ = try chip.setContact(line: line, active: false)
        try await Task.sleep(for: .milliseconds(30))
    }
    return PTZResults(presses: presses, timed: latencies.count, p50Milliseconds: percentile(latencies, 0.5),
                      p99Milliseconds: percentile(latencies, 0.99), maxMilliseconds: latencies.max() ?? 0)
}

/// Press → `GotoPreset` received by the camera.
struct PTZResults: Codable {
    var presses: Int
    var timed: Int
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var maxMilliseconds: Double

    var markdown: String {
        """
        | press → GotoPreset at the camera (ms, contact closed to the ONVIF call received) | p50 | p99 | max |
        |---|---|---|---|
        | \(timed) presses, two bells in turn on one camera (services already found) | \(String(format: "%.3f", p50Milliseconds)) | \(String(format: "%.3f", p99Milliseconds)) | \(String(format: "%.3f", maxMilliseconds)) |

        The move is made after the alarm is handed to the publisher and the outputs are switched, by a service of its own: the alarm never waits for it.
        """
    }
}

/// One simulated PTZ camera (presets `home`, `gate`, `path`; with `picture`, a snapshot endpoint
/// that answers with it) and the simulator's chip in process, so a press's instant is known to
/// the nanosecond: what the PTZ and the picture benchmarks share.
struct PTZBenchRig {
    let unit: String
    let camera: VirtualCamera
    let chip = VirtualChip()
    let socket: String
    private let http: Int
    private let hasPicture: Bool
    private let tasks: [Task<Void, any Error>]

    init(unit: String, picture: [UInt8]?, scratch: ScratchDirectory, logger: Logger) async throws {
        self.unit = unit
        hasPicture = picture != nil
        http = freePort()
        let config = CameraConfig(id: "cam-\(unit)", host: "127.0.0.1", rtsp: nil, onvif: .init(port: http, path: "/onvif/device_service"),
                                  snapshot: picture == nil ? nil : .init(port: http, path: "/snapshot.jpg"), probe: false)
        let camera = VirtualCamera(config: config, password: nil, auth: .none, presets: ["home", "gate", "path"], picture: picture)
        self.camera = camera
        socket = scratch.file("\(unit)-gpio.sock")
        let (chip, socket) = (chip, socket)
        tasks = [Task { try await CameraServers(cameras: [camera], logger: logger).run() },
                 Task { try await GPIOSocketServer(chip: chip, path: socket, logger: logger).run() }]
        try await waitUntil { FileManager.default.fileExists(atPath: socket) }
    }

    func stop() { for task in tasks { task.cancel() } }

    /// Starts the daemon: two bells turning the camera to `gate` and `path`, a strobe, and
    /// `extra` YAML; returns once it holds the lines.
    func startDaemon(_ daemon: String, brokerPort: Int, state: String, scratch: ScratchDirectory, extra: String) async throws -> Child {
        let camera = "{id: cam-\(unit), host: 127.0.0.1, rtsp: false, onvif: {port: \(http)}"
            + (hasPicture ? ", snapshot: {port: \(http)}" : "") + ", probe: false}"
        let yaml = benchDaemonConfig(unit: unit, port: brokerPort, socket: socket, state: state, body: """
            cameras:
              - \(camera)
            bells:
              - {id: b1, line: 1, debounce: 1ms, cameras: [{id: cam-\(unit), preset: gate}]}
              - {id: b2, line: 2, debounce: 1ms, cameras: [{id: cam-\(unit), preset: path}]}
            outputs:
              - {id: strobe, role: strobe, line: 20}

            """ + extra + "\n")
        let path = scratch.file("\(unit).yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let agent = try Child(daemon, ["--config", path, "--log-level", "warning"], in: scratch, name: "\(unit)-\((state as NSString).lastPathComponent)")
        try await waitUntil { chip.lines().contains { $0.consumer == "parkguardd" } }
        try await Task.sleep(for: .milliseconds(500))
        return agent
    }
}
