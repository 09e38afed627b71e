import Foundation
import ParkGuardCore
import ParkGuardHub
import Testing

/// The lifecycle every alarm log backend must show, run against SQLite and PostgreSQL alike.
enum AlarmLogSpecification {
    static let unit = UnitKey(site: "north", unit: "gate-1")

    static func record(_ id: String, kind: AlarmKind = .press, bell: String = "b1", at: Date) -> AlarmRecord {
        AlarmRecord(id: id, unit: unit, bell: bell, kind: kind, seq: 1, session: 1, raisedAt: "2026-11-25T10:00:00Z", deliveredAt: at,
                    cameras: [CameraLink(id: "cam-1", preset: "gate", health: .degraded)])
    }

    /// Logged once, acknowledged by its operator, cleared, found by time; `reopen` gives a new
    /// handle on the same store, which must still hold all of it.
    static func lifecycle(_ log: any AlarmLog, reopen: () async throws -> any AlarmLog) async throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await log.record(record("a1", at: t0)))
        #expect(try await !log.record(record("a1", at: t0)))
        #expect(try await log.record(record("a2", kind: .release, at: t0.addingTimeInterval(1))))
        #expect(try await log.record(record("b1", bell: "b2", at: t0.addingTimeInterval(2))))
        #expect(try await log.openAlarms(limit: 10).map(\.id) == ["b1", "a1"])
        #expect(try await log.acknowledge(unit: unit, bell: "b1", by: "anna", at: t0.addingTimeInterval(3)) == 1)
        #expect(try await log.clear(unit: unit, bell: "b1", at: t0.addingTimeInterval(4)) == 1)
        #expect(try await log.clear(unit: unit, bell: "b2", at: t0.addingTimeInterval(4)) == 0, "unacknowledged alarms stay open")
        #expect(try await log.openAlarms(limit: 10).map(\.id) == ["b1"])

        let reopened = try await reopen()
        let all = try await reopened.alarms(since: t0, limit: 10)
        #expect(all.map(\.id) == ["a1", "a2", "b1"])
        let a1 = try #require(all.first)
        #expect(a1.acknowledgedBy == "anna" && a1.acknowledgedAt == t0.addingTimeInterval(3) && a1.clearedAt == t0.addingTimeInterval(4))
        #expect(a1.cameras == [CameraLink(id: "cam-1", preset: "gate", health: .degraded)])
        #expect(try await reopened.alarms(since: t0.addingTimeInterval(1.5), limit: 10).map(\.id) == ["b1"])
    }
}
