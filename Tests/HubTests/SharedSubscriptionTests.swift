import FleetKit
import Foundation
import ParkGuardTestKit
import Testing

/// Two `parkguard-hub` processes in one MQTT 5 shared-subscription group on a real mosquitto,
/// fed by a real fleet: they split the stream, and together log every alarm exactly once.
@Suite("Hub scale-out", .serialized)
struct SharedSubscriptionTests {
    @Test("two hub instances sharing a subscription split a fleet's alarms without loss or double counting")
    func twoHubsSplitOneStream() async throws {
        let directory = try ScratchDirectory()
        let broker = try await Broker(in: directory)
        let hubs = try (1 ... 2).map { index in
            try Child(Products.path("parkguard-hub"), ["run", "--broker", "127.0.0.1:\(broker.port)", "--db", directory.file("hub\(index).sqlite"),
                                                       "--shared-group", "control-room", "--client-id", "hub-\(index)-\(getpid())"],
                      in: directory, name: "hub\(index)")
        }
        defer { hubs.forEach { $0.signal(SIGKILL) } }
        try await Task.sleep(for: .seconds(1))
        let fleet = try Child(Products.path("parkguard-sim"), [
            "fleet", "--units", "100", "--site", "share", "--broker", "127.0.0.1:\(broker.port)", "--state-dir", directory.file("fleet"),
            "--ramp", "1", "--heartbeat", "5", "--cameras", "0", "--rate", "20", "--storm-after", "2", "--storm-fraction", "0.3",
            "--duration", "10", "--drain", "3", "--settle", "30",
            // No resend within the run: a resent alarm may reach the other instance (and be in
            // both files, which the receipt fault suite allows); here each must be in exactly one.
            "--receipt-timeout", "60",
        ], in: directory, name: "fleet")
        #expect(try await fleet.exitStatus(within: .seconds(60)) == 0, "\(fleet.stderr.suffix(400))")
        let report = try JSONDecoder().decode(FleetReport.self, from: Data(fleet.stdout.utf8))
        try await Task.sleep(for: .seconds(2))
        for hub in hubs { hub.signal(SIGTERM) }
        for hub in hubs { _ = try await hub.exitStatus() }

        var logged: [[LoggedAlarm]] = []
        for hub in 1 ... 2 { logged.append(try await loggedAlarms(in: directory.file("hub\(hub).sqlite"))) }
        let ids = logged.map { Set($0.map(\.id)) }
        #expect(ids[0].isDisjoint(with: ids[1]), "\(ids[0].intersection(ids[1]).count) alarms logged by both hubs")
        #expect(!ids[0].isEmpty && !ids[1].isEmpty, "one hub got nothing: \(ids[0].count) / \(ids[1].count)")
        let presses = logged.flatMap { $0 }.filter { $0.kind == "press" }
        var byUnit: [String: Int] = [:]
        for alarm in presses { byUnit[alarm.unit.unit, default: 0] += 1 }
        #expect(byUnit == report.pressesByUnit, "pressed \(report.presses), logged \(presses.count)")
        #expect(report.stormPresses >= 25)
        #expect(report.alarmsOutstandingAtEnd == 0, "every alarm receipted by the instance that logged it")
        print("FIGURE: shared subscription: \(report.presses) presses split \(logged[0].count) / \(logged[1].count) alarms between two hubs, none twice, none lost")
        try await broker.stop()
    }
}
