import FleetKit
import Foundation
import Logging
import ParkGuardTestKit
import Testing

/// `parkguard-sim fleet`: many real agent runtimes in one process, checked from the broker's side.
@Suite("Fleet mode", .serialized)
struct FleetTests {
    @Test("a fleet of 300 units heartbeats on time, delivers every press of a storm, and comes back whole after a broker restart")
    func fleetStormAndMassReconnect() async throws {
        let directory = try ScratchDirectory()
        let broker = try await Broker(in: directory)
        let observer = try FleetObserver(host: "127.0.0.1", port: broker.port, site: "t", logger: Logger(label: "test"))
        try await Task.sleep(for: .milliseconds(300))
        let fleet = try Child(Products.path("parkguard-sim"), [
            "fleet", "--retire-on", "puback", "--units", "300", "--site", "t", "--broker", "127.0.0.1:\(broker.port)", "--state-dir", directory.file("fleet"),
            "--ramp", "2", "--heartbeat", "2", "--cameras", "4", "--camera-interval", "60", "--rate", "10",
            "--storm-after", "2", "--storm-fraction", "0.2", "--duration", "40", "--drain", "30",
        ], in: directory, name: "fleet")
        defer { fleet.signal(SIGKILL) }

        #expect(try await eventually(timeout: .seconds(20)) { observer.onlineCount == 300 }, "online: \(observer.onlineCount)")
        let windowStart = observer.now + 1
        try await Task.sleep(for: .seconds(9))
        let verdict = observer.heartbeatVerdict(units: (0 ..< 300).map(FleetPlan.unitID), from: windowStart, to: observer.now,
                                                interval: 2, tolerance: 2)
        #expect(verdict.onTime, "heartbeats: \(verdict)")

        // Presses stop 30 s before the end; then the broker dies and comes back.
        try await broker.stop()
        observer.forgetOnline()
        try await broker.restart()
        let restarted = observer.now
        #expect(try await eventually(timeout: .seconds(25)) { observer.onlineSince(restarted) == 300 },
                "back online: \(observer.onlineSince(restarted))")
        let reconnect = observer.now - restarted
        fleet.signal(SIGTERM)
        #expect(try await fleet.exitStatus(within: .seconds(30)) == 0, "\(fleet.stderr.suffix(500))")
        let report = try JSONDecoder().decode(FleetReport.self, from: Data(fleet.stdout.utf8))
        #expect(report.started == 300)
        #expect(report.stormPresses >= 50)
        try await Task.sleep(for: .seconds(1))
        let delivered = observer.pressAlarms
        for (unit, pressed) in report.pressesByUnit {
            #expect(delivered[unit] == pressed, "\(unit): pressed \(pressed), delivered \(delivered[unit] ?? 0)")
        }
        // The clean shutdown: every unit said offline.
        #expect(try await eventually { observer.onlineCount == 0 }, "still online: \(observer.onlineCount)")
        figure("fleet of 300: \(report.presses) presses (\(report.stormPresses) in the storm) all delivered, \(observer.duplicateAlarms) duplicates; mass reconnect \(String(format: "%.1f", reconnect)) s")
        await observer.stop()
        try await broker.stop()
    }
}
