import FleetKit
import Foundation
import ParkGuardTestKit
import Testing

/// The end-to-end promise under faults: a fleet of real agent runtimes presses throughout while
/// the hub, the broker or the log fails; at the end every press is in the alarm log exactly once
/// and every unit holds no alarm (all receipted). Asserted by alarm id and by unit.
///
/// Everything runs as deployed: a district provisioned by `parkguard-provision` (one certificate
/// per unit, the hub's identity), the broker on the configuration it renders (mutual TLS, the
/// ACL that confines each unit to its own topics), the hub and the units connecting over TLS.
@Suite("Receipts under faults", .serialized)
struct ReceiptFaultTests {
    static let units = 100

    /// A provisioned district with `site`'s units and its broker running.
    func securedBroker(site: String, in directory: ScratchDirectory) async throws -> (ProvisionedDistrict, Broker) {
        let district = try await ProvisionedDistrict(in: directory)
        try await district.addUnits(site: site, (0 ..< Self.units).map(FleetPlan.unitID))
        return (district, try await district.broker())
    }

    func hub(_ broker: Broker, _ district: ProvisionedDistrict, db: String, in directory: ScratchDirectory, id: String, name: String,
             extra: [String] = []) throws -> Child {
        try Child(Products.path("parkguard-hub"), ["run", "--broker", "localhost:\(broker.port)", "--db", db, "--client-id", id]
                      + district.hubTLSArguments + extra,
                  in: directory, name: name)
    }

    /// A fleet of `units` pressing at `rate` for `seconds`, then waiting up to `settle` seconds for every receipt.
    func fleet(_ broker: Broker, _ district: ProvisionedDistrict, site: String, in directory: ScratchDirectory, rate: Double = 10,
               seconds: Double, storm: Double? = nil, settle: Double = 240) throws -> Child {
        var arguments = [
            "fleet", "--units", "\(Self.units)", "--site", site, "--broker", "localhost:\(broker.port)", "--tls-bundles", district.bundles(site),
            "--state-dir", directory.file("fleet-\(site)"),
            "--ramp", "1", "--heartbeat", "2", "--cameras", "0", "--rate", "\(rate)", "--duration", "\(seconds)", "--drain", "1",
            "--receipt-timeout", "2", "--receipt-timeout-max", "8", "--settle", "\(settle)",
            "--progress", directory.file("progress-\(site).txt"),
        ]
        if let storm { arguments += ["--storm-after", "\(storm)", "--storm-fraction", "0.3"] }
        return try Child(Products.path("parkguard-sim"), arguments, in: directory, name: "fleet-\(site)")
    }

    /// Checks the fleet's report against the logs: every press logged exactly once (by unit, and
    /// by id across `logs`), nothing left unreceipted; returns the report.
    @discardableResult
    func verify(_ fleet: Child, logs: [String], timeout: Duration, label: String, faultEnded: Date, progress: String) async throws -> FleetReport {
        let status = try await fleet.exitStatus(within: timeout)
        #expect(status == 0, "\(label): fleet \(String(describing: status)): \(fleet.stderr.suffix(600))")
        let report = try JSONDecoder().decode(FleetReport.self, from: Data(fleet.stdout.utf8))
        var alarms: [LoggedAlarm] = []
        for log in logs { alarms += try await loggedAlarms(in: log) }
        var byID: [String: LoggedAlarm] = [:]
        for alarm in alarms { byID[alarm.id] = alarm }
        var pressesByUnit: [String: Int] = [:]
        for alarm in byID.values where alarm.kind == "press" { pressesByUnit[alarm.unit.unit, default: 0] += 1 }
        #expect(pressesByUnit == report.pressesByUnit,
                "\(label): pressed \(report.presses), logged \(pressesByUnit.values.reduce(0, +)) presses")
        #expect(report.alarmsOutstandingAtEnd == 0, "\(label): \(report.alarmsOutstandingAtEnd ?? -1) alarms never receipted")
        #expect(report.presses > 0)
        // Recovery: from the end of the fault to the first moment no unit held an alarm.
        let samples = ((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line -> (Double, Int)? in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let ms = Double(parts[0]), let count = Int(parts[1]) else { return nil }
            return (ms / 1000, count)
        }
        let ended = faultEnded.timeIntervalSince1970
        let zero = samples.first { $0.0 >= ended && $0.1 == 0 }.map { $0.0 - ended }
        let peak = samples.map(\.1).max() ?? 0
        print("FIGURE: receipts, \(label): \(report.presses) presses, \(byID.count) alarms logged once each, every unit back to 0 "
              + "outstanding \(zero.map { String(format: "%.1f", $0) } ?? "?") s after the fault ended (peak \(peak) held across the fleet; "
              + "\(String(format: "%.1f", report.settleSeconds ?? -1)) s of settling after the run)")
        return report
    }

    @Test("the hub SIGKILLed at random moments 20 times in a row: every press is logged once and receipted")
    func hubKilledRepeatedly() async throws {
        let directory = try ScratchDirectory()
        let (district, broker) = try await securedBroker(site: "kill", in: directory)
        let db = directory.file("hub.sqlite")
        var current = try hub(broker, district, db: db, in: directory, id: "hub-kill", name: "hub-0")
        try await Task.sleep(for: .seconds(1))
        let fleet = try fleet(broker, district, site: "kill", in: directory, seconds: 40, storm: 10)
        var random = SystemRandomNumberGenerator()
        try await Task.sleep(for: .seconds(3))
        for round in 1 ... 20 {
            try await Task.sleep(for: .milliseconds(Int.random(in: 300 ... 1500, using: &random)))
            current.signal(SIGKILL)
            _ = try await current.exitStatus()
            current = try hub(broker, district, db: db, in: directory, id: "hub-kill", name: "hub-\(round)")
        }
        try await verify(fleet, logs: [db], timeout: .seconds(400), label: "hub SIGKILLed 20 times", faultEnded: Date(),
                         progress: directory.file("progress-kill.txt"))
        current.signal(SIGTERM)
        _ = try await current.exitStatus()
        try await broker.stop()
    }

    @Test("the hub stopped for 5 minutes, then started: the broker's queue for its session and the units' resends fill the log")
    func hubDownForMinutes() async throws {
        let outage = Double(ProcessInfo.processInfo.environment["PARKGUARD_HUB_OUTAGE_SECONDS"] ?? "") ?? 300
        let directory = try ScratchDirectory()
        let (district, broker) = try await securedBroker(site: "outage", in: directory)
        let db = directory.file("hub.sqlite")
        let first = try hub(broker, district, db: db, in: directory, id: "hub-outage", name: "hub-before")
        try await Task.sleep(for: .seconds(1))
        let fleet = try fleet(broker, district, site: "outage", in: directory, rate: 4, seconds: outage + 15)
        try await Task.sleep(for: .seconds(5))
        first.signal(SIGTERM)
        _ = try await first.exitStatus()
        try await Task.sleep(for: .seconds(outage))
        let second = try hub(broker, district, db: db, in: directory, id: "hub-outage", name: "hub-after")
        try await verify(fleet, logs: [db], timeout: .seconds(Int(outage) + 400), label: "hub stopped \(Int(outage)) s",
                         faultEnded: Date(), progress: directory.file("progress-outage.txt"))
        second.signal(SIGTERM)
        _ = try await second.exitStatus()
        try await broker.stop()
    }

    @Test("the broker restarted without persistence while the hub is down: what it queued is gone, the units resend it")
    func brokerRestartedWhileHubDown() async throws {
        let directory = try ScratchDirectory()
        let (district, broker) = try await securedBroker(site: "restart", in: directory)  // persistence off
        let db = directory.file("hub.sqlite")
        let first = try hub(broker, district, db: db, in: directory, id: "hub-restart", name: "hub-before")
        try await Task.sleep(for: .seconds(1))
        let fleet = try fleet(broker, district, site: "restart", in: directory, rate: 8, seconds: 40, storm: 8)
        try await Task.sleep(for: .seconds(5))
        first.signal(SIGKILL)
        _ = try await first.exitStatus()
        try await Task.sleep(for: .seconds(10))  // the broker queues for the hub's session meanwhile
        try await broker.stop()
        try await broker.restart()
        try await Task.sleep(for: .seconds(5))
        let second = try hub(broker, district, db: db, in: directory, id: "hub-restart", name: "hub-after")
        try await verify(fleet, logs: [db], timeout: .seconds(400), label: "broker restarted without persistence while the hub was down",
                         faultEnded: Date(), progress: directory.file("progress-restart.txt"))
        second.signal(SIGTERM)
        _ = try await second.exitStatus()
        try await broker.stop()
    }

    @Test("two hubs in a shared group, one SIGKILLed mid-storm and never restarted: the other logs and receipts the rest")
    func sharedGroupLosesAnInstance() async throws {
        let directory = try ScratchDirectory()
        let (district, broker) = try await securedBroker(site: "share", in: directory)
        // A short session expiry: the dead instance's session, which would keep taking its share
        // of the group's messages, is gone 20 s after it died.
        let hubs = try (1 ... 2).map { index in
            try hub(broker, district, db: directory.file("hub\(index).sqlite"), in: directory, id: "hub-share-\(index)", name: "hub\(index)",
                    extra: ["--shared-group", "control-room", "--session-expiry", "20"])
        }
        try await Task.sleep(for: .seconds(1))
        let fleet = try fleet(broker, district, site: "share", in: directory, seconds: 15, storm: 4)
        try await Task.sleep(for: .seconds(1 + 2 + 4.2))
        hubs[0].signal(SIGKILL)
        try await verify(fleet, logs: [directory.file("hub1.sqlite"), directory.file("hub2.sqlite")], timeout: .seconds(400),
                         label: "shared group, one of two hubs SIGKILLed mid-storm", faultEnded: Date(), progress: directory.file("progress-share.txt"))
        hubs[1].signal(SIGTERM)
        _ = try await hubs[1].exitStatus()
        try await broker.stop()
    }

    @Test("PostgreSQL restarted mid-storm under the hub: nothing is receipted until it commits, then everything is")
    func postgresRestarted() async throws {
        let directory = try ScratchDirectory()
        let postgres = try await PostgresServer(in: directory)
        let (district, broker) = try await securedBroker(site: "pg", in: directory)
        let hub = try hub(broker, district, db: postgres.url, in: directory, id: "hub-pg", name: "hub-pg")
        try await Task.sleep(for: .seconds(2))
        let fleet = try fleet(broker, district, site: "pg", in: directory, seconds: 20, storm: 5)
        try await Task.sleep(for: .seconds(1 + 2 + 5))
        try await postgres.restart(after: .seconds(3))
        try await verify(fleet, logs: [postgres.url], timeout: .seconds(400), label: "PostgreSQL down 3 s mid-storm", faultEnded: Date(),
                         progress: directory.file("progress-pg.txt"))
        hub.signal(SIGTERM)
        _ = try await hub.exitStatus()
        try await broker.stop()
        await postgres.stop()
    }
}
