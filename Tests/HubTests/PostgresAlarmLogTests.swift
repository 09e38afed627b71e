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
