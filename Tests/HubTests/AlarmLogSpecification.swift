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

    /// A batch is one commit that reports which ids were new; the watermarks are each unit's
    /// highest seq with its session.
    static func batchesAndWatermarks(_ log: any AlarmLog) async throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_100)
        func alarm(_ id: String, unit: String, seq: UInt64, session: UInt64) -> AlarmRecord {
            AlarmRecord(id: id, unit: UnitKey(site: "north", unit: unit), bell: "b1", kind: .press, seq: seq, session: session,
                        raisedAt: "2026-11-25T10:00:00Z", deliveredAt: t0, cameras: [])
        }
        #expect(try await log.watermarks()[UnitKey(site: "north", unit: "u1")] == nil)
        let first = try await log.record(batch: [alarm("w1", unit: "u1", seq: 1, session: 1), alarm("w2", unit: "u1", seq: 2, session: 1),
                                                 alarm("w3", unit: "u2", seq: 7, session: 3)])
        #expect(first == ["w1", "w2", "w3"])
        // A batch with duplicates (of the log, and within itself) reports only what was new.
        let second = try await log.record(batch: [alarm("w2", unit: "u1", seq: 2, session: 1), alarm("w4", unit: "u1", seq: 9, session: 2),
                                                  alarm("w4", unit: "u1", seq: 9, session: 2)])
        #expect(second == ["w4"])
        #expect(try await log.record(batch: []).isEmpty)
        let marks = try await log.watermarks()
        #expect(marks[UnitKey(site: "north", unit: "u1")] == SeqWatermark(session: 2, seq: 9))
        #expect(marks[UnitKey(site: "north", unit: "u2")] == SeqWatermark(session: 3, seq: 7))
        #expect(try await log.alarms(since: t0, limit: 100).filter { $0.id.hasPrefix("w") }.count == 4)
    }

    /// Alarms, acknowledgements and clears in one commit apply in their order: an acknowledgement
    /// covers the alarms before it and not a press that comes after it in the same batch.
    static func mixedBatchesApplyInOrder(_ log: any AlarmLog) async throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_200)
        let bell = "m1"
        let counts = try await log.commit([
            .alarm(record("m-press-1", bell: bell, at: t0)),
            .alarm(record("m-press-1", bell: bell, at: t0)),  // a resend in the same batch
            .acknowledge(unit: unit, bell: bell, by: "anna", at: t0.addingTimeInterval(1)),
            .alarm(record("m-release-1", kind: .release, bell: bell, at: t0.addingTimeInterval(2))),
            .clear(unit: unit, bell: bell, at: t0.addingTimeInterval(2)),
            .alarm(record("m-press-2", bell: bell, at: t0.addingTimeInterval(3))),
            .clear(unit: unit, bell: bell, at: t0.addingTimeInterval(4)),  // press 2 is not acknowledged: stays open
        ])
        #expect(counts == [1, 0, 1, 1, 1, 1, 0])
        #expect(try await log.commit([]).isEmpty)
        let logged = try await log.alarms(since: t0, limit: 10).filter { $0.bell == bell }
        #expect(logged.map(\.id) == ["m-press-1", "m-release-1", "m-press-2"])
        #expect(logged[0].acknowledgedBy == "anna" && logged[0].clearedAt == t0.addingTimeInterval(2))
        #expect(logged[2].acknowledgedAt == nil && logged[2].clearedAt == nil)
        #expect(try await log.openAlarms(limit: 10).map(\.id).contains("m-press-2"))
    }
}

/// What every backend keeps of the units' self-test reports.
enum SelfTestLogSpecification {
    static func keepsReports(_ log: any SelfTestLog, reopen: () async throws -> any SelfTestLog) async throws {
        let unit = UnitKey(site: "north", unit: "gate-1"), other = UnitKey(site: "north", unit: "gate-2")
        func report(_ day: Int, passed: Bool = true) -> SelfTestView {
            SelfTestView(time: "2026-11-\(day < 10 ? "0" : "")\(day)T03:12:00.000Z", trigger: "scheduled", passed: passed,
                         problems: passed ? [] : ["b2 test drive: line 2 did not follow"], nextDue: nil)
        }
        let received = Date(timeIntervalSince1970: 1_800_000_000)
        try await log.record(selfTest: report(1), of: unit, receivedAt: received)
        try await log.record(selfTest: report(8, passed: false), of: unit, receivedAt: received + 60)
        try await log.record(selfTest: report(8, passed: false), of: unit, receivedAt: received + 120)  // the same report again
        try await log.record(selfTest: report(3), of: other, receivedAt: received)
        // A unit whose clock ran fast: the report received last is its latest all the same.
        try await log.record(selfTest: report(27), of: other, receivedAt: received + 60)
        try await log.record(selfTest: report(5, passed: false), of: other, receivedAt: received + 120)
        let reopened = try await reopen()
        let latest = try await reopened.latestSelfTests()
        #expect(latest == [unit: report(8, passed: false), other: report(5, passed: false)])
        #expect(try await reopened.selfTests(of: unit, limit: 10) == [report(8, passed: false), report(1)])
        // The oldest received go once a unit has more than the limit.
        let third = UnitKey(site: "north", unit: "gate-3")
        for index in 0 ..< SelfTestLogLimits.keptPerUnit + 3 {
            let view = SelfTestView(time: WallTime(millisecondsSinceEpoch: 1_796_000_000_000 + Int64(index) * 86_400_000).rfc3339, trigger: "scheduled",
                                    passed: true, problems: [], nextDue: nil)
            try await log.record(selfTest: view, of: third, receivedAt: received + Double(index))
        }
        let kept = try await log.selfTests(of: third, limit: 1000)
        #expect(kept.count == SelfTestLogLimits.keptPerUnit)
        #expect(kept.last?.time == WallTime(millisecondsSinceEpoch: 1_796_000_000_000 + 3 * 86_400_000).rfc3339, "the three oldest went")
    }
}
