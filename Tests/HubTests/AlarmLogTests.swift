import Foundation
import GRDB
import ParkGuardCore
import ParkGuardHub
import ParkGuardTestKit
import Testing

/// The SQLite alarm log on a real file.
@Suite("Alarm log (SQLite)")
struct AlarmLogTests {
    @Test("an alarm is logged once, acknowledged by its operator, cleared, and found by time; the file survives a reopen")
    func lifecycle() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try await AlarmLogSpecification.lifecycle(try SQLiteAlarmLog(path: path)) { try SQLiteAlarmLog(path: path) }
    }

    @Test("a batch is committed at once and says which ids were new; watermarks give each unit's highest seq and its session")
    func batches() async throws {
        let directory = try ScratchDirectory()
        try await AlarmLogSpecification.batchesAndWatermarks(try SQLiteAlarmLog(path: directory.file("hub.sqlite")))
    }

    @Test("the units' self-test reports are kept once each, the newest of each unit found again after a reopen")
    func selfTests() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try await SelfTestLogSpecification.keepsReports(try SQLiteAlarmLog(path: path)) { try SQLiteAlarmLog(path: path) }
    }

    @Test("the cameras' pictures are kept once each, found through their alarms' incident, read back byte for byte, and pruned by age and size")
    func keepsPictures() async throws {
        let directory = try ScratchDirectory()
        try await SnapshotLogSpecification.keepsPictures(try SQLiteAlarmLog(path: directory.file("hub.sqlite")))
    }

    @Test("alarms, acknowledgements and clears committed together apply in their order")
    func mixedBatches() async throws {
        let directory = try ScratchDirectory()
        try await AlarmLogSpecification.mixedBatchesApplyInOrder(try SQLiteAlarmLog(path: directory.file("hub.sqlite")))
    }

    @Test("operators, their sessions and the audit trail are kept in the log's file, and a changed account ends its sessions")
    func operators() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try await OperatorStoreSpecification.accountsSessionsAndAudit(try SQLiteAlarmLog(path: path)) { try SQLiteAlarmLog(path: path) }
    }

    @Test("a log of the schema before operators (migrations v1 and v2) migrates: its alarms stay, operators can be added")
    func migratesTheSchemaBeforeOperators() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        // The schema the hub wrote until operators came: GRDB's migration table and the alarm table with its indexes.
        let sql = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1: alarms'), ('v2: seq watermark index');
            CREATE TABLE alarm (id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, bell TEXT NOT NULL, kind TEXT NOT NULL,
              seq INTEGER NOT NULL, session INTEGER NOT NULL, raisedAt TEXT NOT NULL, deliveredAt DOUBLE NOT NULL, acknowledgedAt DOUBLE,
              acknowledgedBy TEXT, clearedAt DOUBLE, cameras TEXT NOT NULL);
            CREATE INDEX alarm_delivered ON alarm (deliveredAt);
            CREATE INDEX alarm_bell ON alarm (site, unit, bell, clearedAt);
            CREATE INDEX alarm_unit_seq ON alarm (site, unit, seq);
            INSERT INTO alarm VALUES ('old-1', 'north', 'gate-1', 'b1', 'press', 4, 1, '2026-11-25T10:00:00Z', 1800000000, 1800000005, 'control room', NULL, '[]');
            """
        try await DatabaseQueue(path: path).write { db in try db.execute(sql: sql) }
        let log = try SQLiteAlarmLog(path: path)
        let old = try await log.alarms(since: Date(timeIntervalSince1970: 0), limit: 10)
        #expect(old.map(\.id) == ["old-1"] && old.first?.acknowledgedBy == "control room")
        let incident = try #require(try await log.incident(id: "old-1"), "the old press is an incident now")
        #expect(incident.kind == .call && incident.acknowledgedBy == "control room" && incident.resolvedAt == nil)
        try await OperatorStoreSpecification.accountsSessionsAndAudit(log) { try SQLiteAlarmLog(path: path) }
    }

    @Test("a press opens an incident that gathers its bell's alarms until an operator resolves it with an outcome")
    func incidents() async throws {
        let directory = try ScratchDirectory()
        try await IncidentSpecification.lifecycle(try SQLiteAlarmLog(path: directory.file("hub.sqlite")))
    }

    @Test("a file that is not a database is refused with its path")
    func corruptFile() throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: AlarmLogError.self) { try SQLiteAlarmLog(path: path) }
        do { _ = try SQLiteAlarmLog(path: path) } catch { #expect("\(error)".contains(path)) }
    }

    @Test("parkguard-hub alarms refuses an age it cannot turn into a time (inf, 1e300d, 101 years) and names the flag")
    func sinceOutOfRange() async throws {
        let directory = try ScratchDirectory()
        for since in ["infd", "1e300d", "36900d", "soon"] {
            let result = try await run(Products.path("parkguard-hub"), ["alarms", "--db", directory.file("hub.sqlite"), "--since", since])
            #expect(result.status == 64, "--since \(since): \(result.status) \(result.error)")
            #expect(result.error.contains("--since must be"), "--since \(since): \(result.error)")
        }
    }

    @Test("parkguard-hub run refuses to serve the console over plain HTTP off loopback without --console-insecure-http, and bad console and picture-retention options by name")
    func consoleOffLoopback() async throws {
        let directory = try ScratchDirectory()
        let db = directory.file("hub.sqlite")
        for (console, extra, message) in [("0.0.0.0:8480", [String](), "in clear"), ("10.1.2.3:8480", [], "--console-insecure-http"),
                                          ("127.0.0.1:99999", [], "--console must be host:port"),
                                          ("127.0.0.1:0", ["--session-idle", "forever"], "--session-idle must be"),
                                          ("127.0.0.1:0", ["--session-idle", "0s"], "--session-idle must be"),
                                          ("127.0.0.1:0", ["--snapshot-keep", "10m"], "--snapshot-keep must be"),
                                          ("127.0.0.1:0", ["--snapshot-keep", "forever"], "--snapshot-keep must be"),
                                          ("127.0.0.1:0", ["--snapshot-max-mib", "0"], "--snapshot-max-mib must be")] {
            let result = try await run(Products.path("parkguard-hub"), ["run", "--db", db, "--console", console] + extra)
            #expect(result.status == 64 && result.error.contains(message), "--console \(console) \(extra): \(result.status) \(result.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: db), "a refused start creates nothing")
    }
}
