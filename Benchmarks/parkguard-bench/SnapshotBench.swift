import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore
import ParkGuardHub
import ParkGuardTestKit
import SimulatorKit

/// Pictures with the alarm: press → alarm at an independent subscriber with pictures on, beside
/// the same daemon with `snapshots: {enabled: false}` in the same run (pictures must not delay
/// the alarm), and press → the first picture stored in a real hub's SQLite log. Two bells on
/// one simulated PTZ camera with a snapshot endpoint, pressed in turn, so every press takes a
/// picture at once and another after the camera's move (`settle: 0s`).
func snapshotLatency(presses: Int, daemon: String, hub: String, scratch: ScratchDirectory, brokerPort: Int, logger: Logger) async throws -> SnapshotResults {
    // A full-HD picture, as a park camera sends: over `snapshots.maxWidth`, so the unit scales it.
    let picture = try VirtualCamera.render(frame: 1, black: false, colour: true, width: 1920, height: 1080)
    let rig = try await PTZBenchRig(unit: "pictures", picture: picture, scratch: scratch, logger: logger)
    defer { rig.stop() }
    let (camera, chip) = (rig.camera, rig.chip)

    let database = scratch.file("pictures-hub.sqlite")
    let hubChild = try Child(hub, ["run", "--broker", "127.0.0.1:\(brokerPort)", "--db", database, "--client-id", "bench-pictures-hub-\(getpid())",
                                   "--log-level", "error"], in: scratch, name: "pictures-hub")
    defer { hubChild.signal(SIGTERM) }
    try await waitUntil { FileManager.default.fileExists(atPath: database) }
    try await Task.sleep(for: .milliseconds(500))
    let log = try SQLiteAlarmLog(path: database)

    let subscriber = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: brokerPort, clientID: "bench-pictures-sub-\(getpid())"), logger: logger)
    let inbox = Inbox()
    subscriber.start()
    let reader = Task {
        for await event in subscriber.events {
            if case .connected(0, _) = event { _ = try? subscriber.subscribe("parkguard/v1/bench/pictures/bell/+/alarm", qos: 1) }
            if case .message(let message) = event { inbox.put(message, at: VirtualChip.monotonicNow()) }
        }
    }
    defer { reader.cancel() }
    try await Task.sleep(for: .milliseconds(300))

    var stored = 0
    func run(pictures: Bool) async throws -> (alarm: [Double], firstPicture: [Double]) {
        let agent = try await rig.startDaemon(daemon, brokerPort: brokerPort, state: scratch.file("pictures-state-\(pictures)"), scratch: scratch,
                                              extra: "snapshots: {enabled: \(pictures), settle: 0s}")
        defer { agent.signal(SIGTERM) }
        var alarms: [Double] = [], firsts: [Double] = []
        let movesBefore = camera.ptz.moves
        for press in 0 ..< presses {
            let line = press % 2 == 0 ? 1 : 2
            inbox.clear()
            let start = VirtualChip.monotonicNow()
            _ = try chip.setContact(line: line, active: true)
            let arrived = try await inbox.next(timeout: .seconds(10), "press \(press)'s alarm") { $0.topic.hasSuffix("/bell/b\(line)/alarm") }
            if press >= 2 { alarms.append(Double(arrived - start) / 1e6) }
            if pictures {
                // Polled every millisecond: the first of this press's two pictures is row `stored + 1`.
                var first: UInt64?
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline {
                    if first == nil, try await log.snapshot(id: Int64(stored + 1)) != nil { first = VirtualChip.monotonicNow() }
                    if try await log.snapshot(id: Int64(stored + 2)) != nil { break }
                    try await Task.sleep(for: .milliseconds(1))
                }
                guard let first else { throw HarnessError("press \(press): no picture reached the hub's log; the daemon's log:\n\(agent.stderr.suffix(2000))") }
                stored += 2
                if press >= 2 { firsts.append(Double(first - start) / 1e6) }
            } else {
                try await waitUntil(timeout: .seconds(10)) { camera.ptz.moves == movesBefore + press + 1 }
            }
            _ = try chip.setContact(line: line, active: false)
            try await Task.sleep(for: .milliseconds(30))
        }
        return (alarms, firsts)
    }
    let off = try await run(pictures: false)
    let on = try await run(pictures: true)
    return SnapshotResults(presses: presses, timed: on.alarm.count, alarmOffP50: percentile(off.alarm, 0.5), alarmOffP99: percentile(off.alarm, 0.99),
                           alarmOnP50: percentile(on.alarm, 0.5), alarmOnP99: percentile(on.alarm, 0.99),
                           storedP50: percentile(on.firstPicture, 0.5), storedP99: percentile(on.firstPicture, 0.99),
                           storedMax: on.firstPicture.max() ?? 0, pictureBytes: picture.count)
}

/// Press → alarm with pictures on and off; press → first picture in the hub's log.
struct SnapshotResults: Codable {
    var presses: Int
    var timed: Int
    var alarmOffP50: Double
    var alarmOffP99: Double
    var alarmOnP50: Double
    var alarmOnP99: Double
    var storedP50: Double
    var storedP99: Double
    var storedMax: Double
    var pictureBytes: Int

    var markdown: String {
        func ms(_ value: Double) -> String { String(format: "%.3f", value) }
        return """
            | pictures with the alarm (ms from the contact closing; \(timed) presses, two bells in turn on one camera; 1920×1080 pictures of \(pictureBytes / 1024) KiB, scaled by the unit to 960×540) | p50 | p99 | max |
            |---|---|---|---|
            | press → alarm at a subscriber, pictures off (baseline) | \(ms(alarmOffP50)) | \(ms(alarmOffP99)) | |
            | press → alarm at a subscriber, pictures on | \(ms(alarmOnP50)) | \(ms(alarmOnP99)) | |
            | press → first picture stored in the hub's SQLite log | \(ms(storedP50)) | \(ms(storedP99)) | \(ms(storedMax)) |

            Pictures are taken after the alarm is handed to the publisher, by a service of their own, and queue behind every alarm.
            """
    }
}
