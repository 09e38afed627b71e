import Foundation
import HubIngest
import ParkGuardHub
import PostgresNIO

/// The units' self-test reports in the alarm log's PostgreSQL database (migration 5).
extension PostgresAlarmLog {
    public func record(selfTest report: SelfTestView, of unit: UnitKey, receivedAt: Date) async throws {
        try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                INSERT INTO self_test (site, unit, time, received_at, trigger, passed, problems, next_due)
                VALUES (\(unit.site), \(unit.unit), \(report.time), \(receivedAt.timeIntervalSince1970), \(report.trigger), \(report.passed),
                        \(report.problemsJSON), \(report.nextDue))
                ON CONFLICT (site, unit, time) DO NOTHING
                """, logger: Self.quiet)
            // In the order received: a unit's clock may be wrong, the order of its reports is not.
            try await connection.query("""
                DELETE FROM self_test WHERE site = \(unit.site) AND unit = \(unit.unit) AND time NOT IN
                  (SELECT time FROM self_test WHERE site = \(unit.site) AND unit = \(unit.unit) ORDER BY received_at DESC, time DESC LIMIT \(SelfTestLogLimits.keptPerUnit))
                """, logger: Self.quiet)
        }
    }

    public func latestSelfTests() async throws -> [UnitKey: SelfTestView] {
        var latest: [UnitKey: SelfTestView] = [:]
        for (site, unit, view) in try await rows(client.query("""
            SELECT DISTINCT ON (site, unit) site, unit, time, trigger, passed, problems, next_due FROM self_test ORDER BY site, unit, received_at DESC, time DESC
            """, logger: Self.quiet)) {
            latest[UnitKey(site: site, unit: unit)] = view
        }
        return latest
    }

    public func selfTests(of unit: UnitKey, limit: Int) async throws -> [SelfTestView] {
        try await rows(client.query("""
            SELECT site, unit, time, trigger, passed, problems, next_due FROM self_test
            WHERE site = \(unit.site) AND unit = \(unit.unit) ORDER BY received_at DESC, time DESC LIMIT \(limit)
            """, logger: Self.quiet)).map(\.2)
    }

    private func rows(_ rows: PostgresRowSequence) async throws -> [(String, String, SelfTestView)] {
        var result: [(String, String, SelfTestView)] = []
        for try await (site, unit, time, trigger, passed, problems, nextDue) in rows.decode((String, String, String, String, Bool, String, String?).self) {
            result.append((site, unit, SelfTestView(time: time, trigger: trigger, passed: passed,
                                                    problems: SelfTestView.problems(from: problems), nextDue: nextDue)))
        }
        return result
    }

}
