import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// Idle cost of one process over the same window.
struct IdleFigure: Codable {
    var name: String
    var cpuPercent: Double
    var rssKiB: Int
    var peakRSSKiB: Int
    /// Resident memory split: the process's own (heap, stacks) and mapped files (its code and
    /// the libraries', shared with the page cache). `RssAnon`/`RssFile` of /proc/PID/status.
    var anonKiB: Int
    var fileKiB: Int
    var note: String
}

struct IdleResults: Codable {
    var seconds: Int
    var figures: [IdleFigure]
    var peerError: String?

    var markdown: String {
        var lines = [
            "| idle over \(seconds) s (same window) | CPU, % of one core | resident memory | of which own (anonymous) | of which mapped code and files | peak | |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in figures {
            let split = f.anonKiB + f.fileKiB > 0 ? ("\(f.anonKiB) KiB", "\(f.fileKiB) KiB") : ("", "")
            lines.append("| \(f.name) | \(String(format: "%.3f", f.cpuPercent)) % | \(f.rssKiB) KiB | \(split.0) | \(split.1) | \(f.peakRSSKiB) KiB | \(f.note) |")
        }
        if let parkguard = figures.first, figures.count > 1 {
            for peer in figures.dropFirst() where peer.rssKiB > 0 {
                lines.append("")
                lines.append("parkguardd / \(peer.name): CPU \(ratio(parkguard.cpuPercent, peer.cpuPercent)), resident memory \(ratio(Double(parkguard.rssKiB), Double(peer.rssKiB)))")
            }
        }
        if let peerError { lines.append("\nmqtt-io peer not measured: \(peerError)") }
        return lines.joined(separator: "\n")
    }
}

func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2fx", a / b) : "n/a" }

/// The daemon idling with 4 bells and 16 cameras (probed at the configuration's default
/// interval, 30 s), beside two baselines in the same window: `mosquitto_sub` (the smallest
/// libmosquitto client holding a session) and mqtt-io with 4 mock inputs (the peer).
func idleCost(seconds: Int, daemon: String, peerScript: String?, scratch: ScratchDirectory, brokerPort: Int, logger: Logger) async throws -> IdleResults {
    let password = scratch.file("idle-camera.pass")
    try "bench-secret\n".write(toFile: password, atomically: true, encoding: .utf8)
    chmod(password, 0o600)
    var ports: [Int] = []
    while ports.count < 32 {
        let port = freePort()
        if !ports.contains(port) { ports.append(port) }
    }
    let cameras = (0 ..< 16).map { index in
        CameraConfig(id: "cam-\(index)", host: "127.0.0.1", rtsp: .init(port: ports[2 * index], path: "/stream1"),
                     onvif: .init(port: ports[2 * index + 1], path: "/onvif/device_service"),
                     snapshot: .init(port: ports[2 * index + 1], path: "/snapshot.jpg"), username: "bench", passwordFile: password,
                     interval: .seconds(30))
    }
    let virtual = cameras.map { VirtualCamera(config: $0, password: "bench-secret", auth: .digest) }
    let servers = Task { try await CameraServers(cameras: virtual, logger: logger).run() }
    defer { servers.cancel() }
    let chip = VirtualChip()
    let socket = scratch.file("idle-gpio.sock")
    let gpio = Task { try await GPIOSocketServer(chip: chip, path: socket, logger: logger).run() }
    defer { gpio.cancel() }
    try await waitUntil { FileManager.default.fileExists(atPath: socket) }
    let yaml = cameraBenchConfig(name: "idle", port: brokerPort, socket: socket, state: scratch.file("idle-state"),
                                 cameras: cameras[...], firstLine: 1)
    try yaml.write(toFile: scratch.file("idle.yaml"), atomically: true, encoding: .utf8)
    let agent = try Child(daemon, ["--config", scratch.file("idle.yaml"), "--log-level", "warning"], in: scratch, name: "idle-agent")
    defer { agent.signal(SIGTERM) }
    let sub = try Child("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(brokerPort)", "-q", "1", "-t", "parkguard/v1/bench/idle/cmd/+"],
                        in: scratch, name: "idle-mosquitto-sub")
    defer { sub.signal(SIGTERM) }

    // The peer measures its own window, started so that it overlaps ours.
    var peer: Child?
    let peerJSON = scratch.file("mqtt-io.json")
    let settle = 12
    if let peerScript {
        peer = try Child("/usr/bin/python3", [peerScript, "--broker-port", "\(brokerPort)", "--seconds", "\(seconds)",
                                             "--settle", "\(settle - 4)", "--json", peerJSON], in: scratch, name: "mqtt-io-peer")
    }
    // Warm-up: every camera probed once, start-up allocations done.
    try await Task.sleep(for: .seconds(settle))
    let pids = [agent.process.processIdentifier, sub.process.processIdentifier]
    let before = pids.map(cpuTicks)
    let start = ContinuousClock.now
    try await Task.sleep(for: .seconds(seconds))
    let window = Double((ContinuousClock.now - start).nanoseconds) / 1e9
    let after = pids.map(cpuTicks)
    let perSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    func percent(_ i: Int) -> Double { Double(after[i] - before[i]) / perSecond / window * 100 }
    var figures = [
        IdleFigure(name: "parkguardd, 4 bells + 16 cameras probed every 30 s", cpuPercent: percent(0),
                   rssKiB: residentKiB(pid: pids[0]), peakRSSKiB: residentKiB(pid: pids[0], field: "VmHWM:"),
                   anonKiB: residentKiB(pid: pids[0], field: "RssAnon:"), fileKiB: residentKiB(pid: pids[0], field: "RssFile:"),
                   note: "heartbeat 30 s, probes: RTSP+Digest, ONVIF, JPEG decode"),
        IdleFigure(name: "baseline: mosquitto_sub (libmosquitto, one session)", cpuPercent: percent(1),
                   rssKiB: residentKiB(pid: pids[1]), peakRSSKiB: residentKiB(pid: pids[1], field: "VmHWM:"),
                   anonKiB: residentKiB(pid: pids[1], field: "RssAnon:"), fileKiB: residentKiB(pid: pids[1], field: "RssFile:"),
                   note: "the floor of a libmosquitto client holding a connection"),
    ]
    var peerError: String?
    if let peer {
        let status = try await peer.exitStatus(within: .seconds(seconds + 60))
        struct Peer: Decodable { var cpuPercent: Double; var rssKiB: Int; var peakRssKiB: Int; var version: String?; var pollInterval: Double? }
        if status == 0, let data = FileManager.default.contents(atPath: peerJSON), let result = try? JSONDecoder().decode(Peer.self, from: data) {
            figures.append(IdleFigure(name: "peer: mqtt-io \(result.version ?? "") (Python), 4 mock inputs", cpuPercent: result.cpuPercent,
                                      rssKiB: result.rssKiB, peakRSSKiB: result.peakRssKiB, anonKiB: 0, fileKiB: 0,
                                      note: "polls inputs every \(result.pollInterval.map { "\($0)" } ?? "?") s (its default)"))
        } else {
            peerError = "exit \(status.map(String.init) ?? "timeout"): \(peer.stderr.suffix(400))"
        }
    } else {
        peerError = "not requested (--no-peer)"
    }
    return IdleResults(seconds: seconds, figures: figures, peerError: peerError)
}
