import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// CPU cost of probing `count` simulated cameras every `interval`, measured on the daemon over
/// `seconds` next to an identical daemon without cameras in the same window (the baseline), and
/// resident memory with 16 cameras beside the same baseline; and the CPU of the video flow check,
/// as a 16-camera daemon checking the flow every 10 s beside the 16-camera daemon without it.
func cameraProbeCost(count: Int, interval: Int, seconds: Int, daemon: String, scratch: ScratchDirectory, brokerPort: Int,
                     logger: Logger) async throws -> CameraResults {
    let password = scratch.file("camera.pass")
    try "bench-secret\n".write(toFile: password, atomically: true, encoding: .utf8)
    chmod(password, 0o600)
    // Two distinct ports per camera (freePort may hand out a port twice).
    var ports: [Int] = []
    let total = count + 32
    while ports.count < total * 2 {
        let port = freePort()
        if !ports.contains(port) { ports.append(port) }
    }
    var cameras: [CameraConfig] = []
    for index in 0 ..< total {
        let http = ports[2 * index + 1]
        cameras.append(CameraConfig(id: "cam-\(index)", host: "127.0.0.1", rtsp: .init(port: ports[2 * index], path: "/stream1"),
                                    onvif: .init(port: http, path: "/onvif/device_service"), snapshot: .init(port: http, path: "/snapshot.jpg"),
                                    username: "bench", passwordFile: password, interval: .seconds(interval),
                                    flowCheck: index >= count + 16 ? CameraConfig.FlowCheck(every: .seconds(10), listen: .seconds(2)) : nil))
    }
    // The cameras run in this process, so their cost is not counted against the daemon.
    let virtual = cameras.map { VirtualCamera(config: $0, password: "bench-secret", auth: .digest) }
    let servers = Task { try await CameraServers(cameras: virtual, logger: logger).run() }
    defer { servers.cancel() }
    let chip = VirtualChip()
    let socket = scratch.file("camera-gpio.sock")
    let gpio = Task { try await GPIOSocketServer(chip: chip, path: socket, logger: logger).run() }
    defer { gpio.cancel() }
    try await waitUntil { FileManager.default.fileExists(atPath: socket) }

    func start(_ name: String, cameras: ArraySlice<CameraConfig>, firstLine: Int) throws -> Child {
        let yaml = cameraBenchConfig(name: name, port: brokerPort, socket: socket, state: scratch.file("\(name)-state"),
                                     cameras: cameras, firstLine: firstLine)
        try yaml.write(toFile: scratch.file("\(name).yaml"), atomically: true, encoding: .utf8)
        return try Child(daemon, ["--config", scratch.file("\(name).yaml"), "--log-level", "warning"], in: scratch, name: name)
    }
    // The 16-camera daemon has cameras of its own, so the sessions of the first `count` are the big daemon's probes.
    let probing = try start("cams\(count)", cameras: cameras.prefix(count), firstLine: 1)
    let sixteen = try start("cams16", cameras: cameras[count ..< count + 16], firstLine: 11)
    let none = try start("cams0", cameras: [], firstLine: 21)
    let flowing = try start("flow16", cameras: cameras.suffix(16), firstLine: 31)
    defer { [probing, sixteen, none, flowing].forEach { $0.signal(SIGTERM) } }

    // Warm up: every camera probed at least twice, so start-up costs are not counted.
    try await Task.sleep(for: .seconds(max(10, interval * 2 + 2)))
    let startTicks = (cpuTicks(probing.process.processIdentifier), cpuTicks(none.process.processIdentifier))
    let flowTicks = (cpuTicks(sixteen.process.processIdentifier), cpuTicks(flowing.process.processIdentifier))
    let sessionsBefore = virtual.prefix(count).reduce(0) { $0 + $1.info.connections }
    let playsBefore = virtual.suffix(16).reduce(0) { $0 + $1.info.plays }
    let started = ContinuousClock.now
    try await Task.sleep(for: .seconds(seconds))
    let elapsed = ContinuousClock.now - started
    let endTicks = (cpuTicks(probing.process.processIdentifier), cpuTicks(none.process.processIdentifier))
    let flowEndTicks = (cpuTicks(sixteen.process.processIdentifier), cpuTicks(flowing.process.processIdentifier))
    let flowChecks = virtual.suffix(16).reduce(0) { $0 + $1.info.plays } - playsBefore
    let window = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    func percent(_ ticks: Int) -> Double { Double(ticks) / ticksPerSecond / window * 100 }
    let probingCPU = percent(endTicks.0 - startTicks.0)
    let idleCPU = percent(endTicks.1 - startTicks.1)
    let probes = virtual.prefix(count).reduce(0) { $0 + $1.info.connections } - sessionsBefore
    let rss16 = residentKiB(pid: sixteen.process.processIdentifier)
    let rss0 = residentKiB(pid: none.process.processIdentifier)
    let rssAll = residentKiB(pid: probing.process.processIdentifier)
    let perProbe = probes > 0 ? (probingCPU - idleCPU) / 100 * window / Double(probes) * 1000 : 0
    let withoutFlow = percent(flowEndTicks.0 - flowTicks.0), withFlow = percent(flowEndTicks.1 - flowTicks.1)
    let perFlowCheck = flowChecks > 0 ? (withFlow - withoutFlow) / 100 * window / Double(flowChecks) * 1000 : 0
    return CameraResults(cameras: count, intervalSeconds: interval, windowSeconds: window, probes: probes, cpuPercent: probingCPU,
                         baselineCPUPercent: idleCPU, cpuMillisecondsPerProbe: perProbe, rssKiB: rssAll, rss16KiB: rss16, baselineRSSKiB: rss0,
                         flowChecks: flowChecks, sixteenCPUPercent: withoutFlow, flowCPUPercent: withFlow, cpuMillisecondsPerFlowCheck: perFlowCheck)
}

/// What probing many cameras costs the daemon, beside the same daemon without cameras.
struct CameraResults: Codable {
    var cameras: Int
    var intervalSeconds: Int
    var windowSeconds: Double
    var probes: Int
    var cpuPercent: Double
    var baselineCPUPercent: Double
    var cpuMillisecondsPerProbe: Double
    var rssKiB: Int
    var rss16KiB: Int
    var baselineRSSKiB: Int
    /// Flow checks (PLAYs) by the 16-camera daemon with the flow check on, its CPU beside the
    /// same daemon without it, and the difference per check.
    var flowChecks: Int
    var sixteenCPUPercent: Double
    var flowCPUPercent: Double
    var cpuMillisecondsPerFlowCheck: Double

    var markdown: String {
        """
        | camera probing (daemon CPU over \(Int(windowSeconds.rounded())) s, % of one core) | CPU | resident memory |
        |---|---|---|
        | \(cameras) cameras every \(intervalSeconds) s (RTSP + Digest, ONVIF + WS-UsernameToken, JPEG snapshot decode) | \(String(format: "%.2f", cpuPercent)) % | \(rssKiB) KiB |
        | 16 cameras every \(intervalSeconds) s | \(String(format: "%.2f", sixteenCPUPercent)) % | \(rss16KiB) KiB |
        | the same 16 with the video flow check every 10 s (SETUP, PLAY, 2 s of 10 frame/s RTP/JPEG, TEARDOWN) | \(String(format: "%.2f", flowCPUPercent)) % | |
        | baseline: the same daemon, no cameras, same window | \(String(format: "%.2f", baselineCPUPercent)) % | \(baselineRSSKiB) KiB |

        \(probes) probes by the \(cameras)-camera daemon in the window; about \(String(format: "%.2f", cpuMillisecondsPerProbe)) ms of daemon CPU per camera probe above the baseline.
        \(flowChecks) flow checks by the flow daemon in the window; about \(String(format: "%.2f", cpuMillisecondsPerFlowCheck)) ms of daemon CPU per flow check above the 16-camera daemon without it.
        """
    }
}

/// utime + stime of a process, in clock ticks.
func cpuTicks(_ pid: Int32) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14 and stime 15 (1-based, over the whole line).
    guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
    return user + system
}

func cameraBenchConfig(name: String, port: Int, socket: String, state: String, cameras: ArraySlice<CameraConfig>, firstLine: Int) -> String {
    var yaml = benchDaemonConfig(unit: name, port: port, socket: socket, state: state, body: """
    bells:
      - {id: b1, line: \(firstLine)}
      - {id: b2, line: \(firstLine + 1)}
      - {id: b3, line: \(firstLine + 2)}
      - {id: b4, line: \(firstLine + 3)}
    cameraHealth: {concurrency: 16}

    """)
    if !cameras.isEmpty {
        yaml += "cameras:\n"
        for camera in cameras {
            yaml += """
              - id: \(camera.id)
                host: \(camera.host)
                rtsp: {port: \(camera.rtsp?.port ?? 554), path: \(camera.rtsp?.path ?? "/")\(camera.flowCheck.map { ", flowCheck: {every: \($0.every.components.seconds)s, listen: \($0.listen.components.seconds)s}" } ?? "")}
                onvif: {port: \(camera.onvif?.port ?? 80)}
                snapshot: {port: \(camera.snapshot?.port ?? 80)}
                username: \(camera.username ?? "")
                passwordFile: \(camera.passwordFile ?? "")
                interval: \(camera.interval.components.seconds)s

            """
        }
    }
    return yaml
}
