import Foundation
import HubPostgres
import Logging
import ParkGuardCore
import ParkGuardHub
import ParkGuardTestKit
import Testing

/// The PostgreSQL alarm log against a real PostgreSQL server started by the test.
@Suite("Alarm log (PostgreSQL)", .serialized)
struct PostgresAlarmLogTests {
    let unit = UnitKey(site: "north", unit: "gate-1")

    func record(_ id: String, kind: AlarmKind = .press, bell: String = "b1", at: Date) -> AlarmRecord {
        AlarmRecord(id: id, unit: unit, bell: bell, kind: kind, seq: 1, session: 1, raisedAt: "2026-11-25T10:00:00Z", deliveredAt: at,
                    cameras: [CameraLink(id: "cam-1", preset: "gate", health: .degraded)])
    }

    @Test("the same lifecycle as SQLite: logged once, acknowledged by its operator, cleared, queried; migrations run once")
    func lifecycle() async throws {
        let directory = try ScratchDirectory()
        let server = try await PostgresServer(in: directory)
        let target = try #require(PostgresAlarmLog.parse(url: server.url))
        func open() async throws -> PostgresAlarmLog {
            try await PostgresAlarmLog(host: target.host, port: target.port, user: target.user, password: target.password,
                                       database: target.database, logger: Logger(label: "test"))
        }
        let log = try await open()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await log.record(record("a1", at: t0)))
        #expect(try await !log.record(record("a1", at: t0)))
        #expect(try await log.record(record("a2", kind: .release, at: t0.addingTimeInterval(1))))
        #expect(try await log.record(record("b1", bell: "b2", at: t0.addingTimeInterval(2))))
        #expect(try await log.openAlarms(limit: 10).map(\.id) == ["b1", "a1"])
        #expect(try await log.acknowledge(unit: unit, bell: "b1", by: "anna", at: t0.addingTimeInterval(3)) == 1)
        #expect(try await log.clear(unit: unit, bell: "b1", at: t0.addingTimeInterval(4)) == 1)
        #expect(try await log.clear(unit: unit, bell: "b2", at: t0.addingTimeInterval(4)) == 0)

        let again = try await open()  // the migration is not applied twice
        let all = try await again.alarms(since: t0, limit: 10)
        #expect(all.map(\.id) == ["a1", "a2", "b1"])
        let a1 = try #require(all.first)
        #expect(a1.acknowledgedBy == "anna" && a1.acknowledgedAt == t0.addingTimeInterval(3) && a1.clearedAt == t0.addingTimeInterval(4))
        #expect(a1.cameras == [CameraLink(id: "cam-1", preset: "gate", health: .degraded)])
        await server.stop()
    }

    @Test("a server that is not there is an error naming it, not a hang")
    func unreachable() async throws {
        await #expect(throws: AlarmLogError.self) {
            _ = try await PostgresAlarmLog(host: "127.0.0.1", port: freePort(), user: "parkguard", password: nil, database: "parkguard",
                                           logger: Logger(label: "test"))
        }
    }

    @Test("malformed postgres URLs are refused")
    func urls() {
        #expect(PostgresAlarmLog.parse(url: "postgres://hub:pw@db.example:5433/alarms")?.port == 5433)
        #expect(PostgresAlarmLog.parse(url: "postgres://db.example/alarms") == nil)
        #expect(PostgresAlarmLog.parse(url: "postgres://hub@db.example/") == nil)
        #expect(PostgresAlarmLog.parse(url: "mysql://hub@db.example/alarms") == nil)
    }
}
