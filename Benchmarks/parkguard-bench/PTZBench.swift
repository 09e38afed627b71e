import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// Press → `GotoPreset` at the camera: two bells linked to one simulated PTZ camera with
/// different presets, pressed in turn (so every press moves it: the same preset within 10 s
/// would send nothing), timed from the contact closing to the camera receiving the call.
func ptzLatency(presses: Int, daemon: String, scratch: ScratchDirectory, brokerPort: Int, logger: Logger) async throws -> PTZResults {
    let http = freePort()
    let config = CameraConfig(id: "cam-ptz", host: "127.0.0.1", rtsp: nil, onvif: .init(port: http, path: "/onvif/device_service"), probe: false)
    let camera = VirtualCamera(config: config, password: nil, auth: .none, presets: ["home", "gate", "path"])
    let servers = Task { try await CameraServers(cameras: [camera], logger: logger).run() }
    defer { servers.cancel() }
    let chip = VirtualChip()
    let socket = scratch.file("ptz-gpio.sock")
    let gpio = Task { try await GPIOSocketServer(chip: chip, path: socket, logger: logger).run() }
    defer { gpio.cancel() }
    try await waitUntil { FileManager.default.fileExists(atPath: socket) }
    let yaml = """
        site: bench
        unit: ptz
        broker: {host: 127.0.0.1, port: \(brokerPort), clientId: bench-ptz-\(getpid())}
        gpio: {backend: sim, socket: \(socket)}
        cameras:
          - {id: cam-ptz, host: 127.0.0.1, rtsp: false, onvif: {port: \(http)}, probe: false}
        bells:
          - {id: b1, line: 1, debounce: 1ms, cameras: [{id: cam-ptz, preset: gate}]}
          - {id: b2, line: 2, debounce: 1ms, cameras: [{id: cam-ptz, preset: path}]}
        outputs:
          - {id: strobe, role: strobe, line: 20}
        heartbeatInterval: 30s
        stateDirectory: \(scratch.file("ptz-state"))
        controlSocket: off
        logLevel: warning
        delivery: {retireOn: puback}
        """
    try yaml.write(toFile: scratch.file("ptz.yaml"), atomically: true, encoding: .utf8)
    let agent = try Child(daemon, ["--config", scratch.file("ptz.yaml"), "--log-level", "warning"], in: scratch, name: "ptz")
    defer { agent.signal(SIGTERM) }
    try await waitUntil { chip.lines().contains { $0.consumer == "parkguardd" } }
    try await Task.sleep(for: .milliseconds(500))
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
