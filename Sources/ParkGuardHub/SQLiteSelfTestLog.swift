import Foundation
import GRDB
import HubIngest

extension SQLiteAlarmLog {
    public func record(selfTest report: SelfTestView, of unit: UnitKey, receivedAt: Date) async throws {
        try await database.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO self_test (site, unit, time, receivedAt, trigger, passed, problems, nextDue)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [unit.site, unit.unit, report.time, receivedAt.timeIntervalSince1970, report.trigger, report.passed,
                                 report.problemsJSON, report.nextDue])
            // In the order received: a unit's clock may be wrong, the order of its reports is not.
            try db.execute(sql: """
                DELETE FROM self_test WHERE site = ? AND unit = ? AND time NOT IN
                  (SELECT time FROM self_test WHERE site = ? AND unit = ? ORDER BY receivedAt DESC, time DESC LIMIT ?)
                """, arguments: [unit.site, unit.unit, unit.site, unit.unit, SelfTestLogLimits.keptPerUnit])
        }
    }

    public func latestSelfTests() async throws -> [UnitKey: SelfTestView] {
        try await database.read { db in
            var latest: [UnitKey: SelfTestView] = [:]
            // SQLite returns the other columns of the row holding MAX(receivedAt).
            for row in try Row.fetchAll(db, sql: """
                SELECT site, unit, MAX(receivedAt) AS receivedAt, time, trigger, passed, problems, nextDue FROM self_test GROUP BY site, unit
                """) {
                latest[UnitKey(site: row["site"], unit: row["unit"])] = Self.selfTest(row)
            }
            return latest
        }
    }

    public func selfTests(of unit: UnitKey, limit: Int) async throws -> [SelfTestView] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM self_test WHERE site = ? AND unit = ? ORDER BY receivedAt DESC, time DESC LIMIT ?",
                             arguments: [unit.site, unit.unit, limit]).map(Self.selfTest)
        }
    }

    static func selfTest(_ row: Row) -> SelfTestView {
        SelfTestView(time: row["time"], trigger: row["trigger"], passed: row["passed"], problems: SelfTestView.problems(from: row["problems"]),
                     nextDue: row["nextDue"])
    }
}
