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
    @Test("the same lifecycle as SQLite: logged once, acknowledged by its operator, cleared, queried, mixed batches in order; migrations run once")
    func lifecycle() async throws {
        let directory = try ScratchDirectory()
        let server = try await PostgresServer(in: directory)
        let target = try #require(PostgresAlarmLog.parse(url: server.url))
        func open() async throws -> PostgresAlarmLog {
            try await PostgresAlarmLog(host: target.host, port: target.port, user: target.user, password: target.password,
                                       database: target.database, logger: Logger(label: "test"))
        }
        try await AlarmLogSpecification.lifecycle(try await open()) { try await open() }  // the migration is not applied twice
        try await AlarmLogSpecification.batchesAndWatermarks(try await open())
        try await AlarmLogSpecification.mixedBatchesApplyInOrder(try await open())
        try await OperatorStoreSpecification.accountsSessionsAndAudit(try await open()) { try await open() }
        try await IncidentSpecification.lifecycle(try await open())
        try await SelfTestLogSpecification.keepsReports(try await open()) { try await open() }
        try await SnapshotLogSpecification.keepsPictures(try await open())
        await server.stop()
    }

    @Test("a database of the schema before operators (migrations 1 and 2) migrates: its alarms stay, operators can be added")
    func migratesTheSchemaBeforeOperators() async throws {
        let directory = try ScratchDirectory()
        let server = try await PostgresServer(in: directory)
        let target = try #require(PostgresAlarmLog.parse(url: server.url))
        // The schema the hub made until operators came, written with psql as an older hub left it.
        let sql = """
            CREATE TABLE parkguard_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL);
            CREATE TABLE alarm (id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, bell TEXT NOT NULL, kind TEXT NOT NULL,
              seq BIGINT NOT NULL, session BIGINT NOT NULL, raised_at TEXT NOT NULL, delivered_at DOUBLE PRECISION NOT NULL,
              acknowledged_at DOUBLE PRECISION, acknowledged_by TEXT, cleared_at DOUBLE PRECISION, cameras TEXT NOT NULL);
            CREATE INDEX alarm_delivered ON alarm (delivered_at);
            CREATE INDEX alarm_bell ON alarm (site, unit, bell, cleared_at);
            CREATE INDEX alarm_unit_seq ON alarm (site, unit, seq);
            INSERT INTO parkguard_migrations VALUES (1, 1800000000), (2, 1800000000);
            INSERT INTO alarm VALUES ('old-1', 'north', 'gate-1', 'b1', 'press', 4, 1, '2026-11-25T10:00:00Z', 1800000000, 1800000005,
              'control room', NULL, '[]');
            """
        let made = try await server.psql(sql)
        #expect(made.status == 0, "psql: \(made.error)")
        func open() async throws -> PostgresAlarmLog {
            try await PostgresAlarmLog(host: target.host, port: target.port, user: target.user, password: target.password,
                                       database: target.database, logger: Logger(label: "test"))
        }
        let old = try await open().alarms(since: Date(timeIntervalSince1970: 0), limit: 10)
        #expect(old.map(\.id) == ["old-1"] && old.first?.acknowledgedBy == "control room")
        let incident = try #require(try await open().incident(id: "old-1"), "the old press is an incident now")
        #expect(incident.kind == .call && incident.acknowledgedBy == "control room" && incident.resolvedAt == nil)
        try await OperatorStoreSpecification.accountsSessionsAndAudit(try await open()) { try await open() }
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
