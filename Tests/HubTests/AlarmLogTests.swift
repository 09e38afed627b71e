import Foundation
import ParkGuardCore
import ParkGuardHub
import ParkGuardTestKit
import Testing

/// The SQLite alarm log on a real file.
@Suite("Alarm log (SQLite)")
struct AlarmLogTests {
    let unit = UnitKey(site: "north", unit: "gate-1")

    func record(_ id: String, kind: AlarmKind = .press, bell: String = "b1", at: Date) -> AlarmRecord {
        AlarmRecord(id: id, unit: unit, bell: bell, kind: kind, seq: 1, session: 1, raisedAt: "2026-11-25T10:00:00Z", deliveredAt: at,
                    cameras: [CameraLink(id: "cam-1", preset: "gate", health: .degraded)])
    }

    @Test("an alarm is logged once, acknowledged by its operator, cleared, and found by time; the file survives a reopen")
    func lifecycle() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        let log = try SQLiteAlarmLog(path: path)
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

        let reopened = try SQLiteAlarmLog(path: path)
        let all = try await reopened.alarms(since: t0, limit: 10)
        #expect(all.map(\.id) == ["a1", "a2", "b1"])
        let a1 = try #require(all.first)
        #expect(a1.acknowledgedBy == "anna" && a1.acknowledgedAt == t0.addingTimeInterval(3) && a1.clearedAt == t0.addingTimeInterval(4))
        #expect(a1.cameras == [CameraLink(id: "cam-1", preset: "gate", health: .degraded)])
        #expect(try await reopened.alarms(since: t0.addingTimeInterval(1.5), limit: 10).map(\.id) == ["b1"])
    }

    @Test("a file that is not a database is refused with its path")
    func corruptFile() throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: AlarmLogError.self) { try SQLiteAlarmLog(path: path) }
        do { _ = try SQLiteAlarmLog(path: path) } catch { #expect("\(error)".contains(path)) }
    }
}
