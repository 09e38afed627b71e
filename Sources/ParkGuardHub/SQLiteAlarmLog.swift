import Foundation
import GRDB
import HubIngest
import ParkGuardCore

/// The alarm log in one SQLite file (GRDB, WAL mode, `synchronous = FULL`: a commit is on disk
/// before the hub sends the receipt that lets a unit forget the alarm), with migrations. The same
/// file holds the operators, their sessions and the audit trail (`SQLiteOperatorStore.swift`).
public final class SQLiteAlarmLog: HubDatabase {
    let database: DatabaseQueue
    /// SQLite's page cache for the log's connection, KiB: the id index of about a million alarms.
    static let cacheKiB = 64 * 1024

    /// Opens (creating if needed) and migrates the log at `path`.
    /// - Throws: ``AlarmLogError`` naming the file.
    public init(path: String) throws {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // Alarm ids are random, so each insert lands on a random page of the id index:
                // with SQLite's default 2 MiB cache a log of a few days' alarms rereads its index
                // from the OS on every insert (the bench spent a third of the hub's CPU there).
                try db.execute(sql: "PRAGMA cache_size = -\(Self.cacheKiB)")
            }
            database = try DatabaseQueue(path: path, configuration: configuration)
            // WAL: one fsync per commit, and `parkguard-hub alarms` reads while the hub writes.
            _ = try database.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
            try Self.migrator.migrate(database)
        } catch {
            throw AlarmLogError("alarm log \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: alarms") { db in
            try db.create(table: "alarm") { t in
                t.primaryKey("id", .text)
                t.column("site", .text).notNull()
                t.column("unit", .text).notNull()
                t.column("bell", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("seq", .integer).notNull()
                t.column("session", .integer).notNull()
                t.column("raisedAt", .text).notNull()
                t.column("deliveredAt", .double).notNull()
                t.column("acknowledgedAt", .double)
                t.column("acknowledgedBy", .text)
                t.column("clearedAt", .double)
                t.column("cameras", .text).notNull()
            }
            try db.create(index: "alarm_delivered", on: "alarm", columns: ["deliveredAt"])
            try db.create(index: "alarm_bell", on: "alarm", columns: ["site", "unit", "bell", "clearedAt"])
        }
        migrator.registerMigration("v2: seq watermark index") { db in
            try db.create(index: "alarm_unit_seq", on: "alarm", columns: ["site", "unit", "seq"])
        }
        migrator.registerMigration("v3: operators, sessions, audit") { db in
            try db.create(table: "operator") { t in
                t.primaryKey("name", .text)
                t.column("role", .text).notNull()
                t.column("passwordHash", .text).notNull()
                t.column("disabled", .boolean).notNull()
                t.column("language", .text).notNull().defaults(to: "en")
                t.column("createdAt", .double).notNull()
                t.column("changedAt", .double).notNull()
            }
            try db.create(table: "console_session") { t in
                t.primaryKey("tokenHash", .text)
                t.column("operator", .text).notNull().references("operator", onDelete: .cascade)
                t.column("csrfToken", .text).notNull()
                t.column("createdAt", .double).notNull()
                t.column("lastSeenAt", .double).notNull()
                t.column("address", .text).notNull()
            }
            try db.create(index: "console_session_operator", on: "console_session", columns: ["operator"])
            try db.create(table: "audit") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .double).notNull()
                t.column("actor", .text).notNull()
                t.column("action", .text).notNull()
                t.column("target", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("address", .text).notNull()
            }
            try db.create(index: "audit_at", on: "audit", columns: ["at"])
        }
        migrator.registerMigration("v4: incidents") { db in
            try db.create(table: "incident") { t in
                t.primaryKey("id", .text)
                t.column("site", .text).notNull()
                t.column("unit", .text).notNull()
                t.column("bell", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("raisedAt", .text).notNull()
                t.column("openedAt", .double).notNull()
                t.column("lastEventAt", .double).notNull()
                t.column("events", .integer).notNull()
                t.column("acknowledgedAt", .double)
                t.column("acknowledgedBy", .text)
                t.column("resolvedAt", .double)
                t.column("resolvedBy", .text)
                t.column("outcome", .text)
                t.column("note", .text)
                t.column("cameras", .text).notNull()
                t.column("location", .text)
            }
            // At most one open incident per bell, whichever hub instance opens it.
            try db.execute(sql: "CREATE UNIQUE INDEX incident_open_bell ON incident (site, unit, bell) WHERE resolvedAt IS NULL")
            try db.create(index: "incident_opened", on: "incident", columns: ["openedAt"])
            try db.alter(table: "alarm") { t in t.add(column: "incident", .text) }
            try db.create(index: "alarm_incident", on: "alarm", columns: ["incident"])
            // The log's alarms so far, grouped as the rule would have (read at once: a migration runs once).
            let alarms = try Row.fetchAll(db, sql: "SELECT * FROM alarm ORDER BY deliveredAt, seq").map(Self.record)
            for (incident, ids) in IncidentRule.migrate(alarms) {
                try Self.insert(incident, db)
                for id in ids { try db.execute(sql: "UPDATE alarm SET incident = ? WHERE id = ?", arguments: [incident.id, id]) }
            }
        }
        migrator.registerMigration("v5: self-tests") { db in
            try db.execute(sql: """
                CREATE TABLE self_test (
                  site TEXT NOT NULL, unit TEXT NOT NULL, time TEXT NOT NULL, receivedAt DOUBLE NOT NULL, trigger TEXT NOT NULL,
                  passed INTEGER NOT NULL, problems TEXT NOT NULL, nextDue TEXT, PRIMARY KEY (site, unit, time))
                """)
        }
        migrator.registerMigration("v6: snapshots") { db in
            try db.execute(sql: """
                CREATE TABLE snapshot (
                  id INTEGER PRIMARY KEY AUTOINCREMENT, alarmId TEXT NOT NULL, site TEXT NOT NULL, unit TEXT NOT NULL,
                  camera TEXT NOT NULL, stage TEXT NOT NULL, takenAt TEXT NOT NULL, receivedAt DOUBLE NOT NULL,
                  width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, scaled INTEGER NOT NULL, jpeg BLOB NOT NULL,
                  UNIQUE (site, unit, alarmId, camera, stage))
                """)
            try db.create(index: "snapshot_received", on: "snapshot", columns: ["receivedAt"])
        }
        migrator.registerMigration("v7: camera events") { db in
            try db.execute(sql: """
                CREATE TABLE camera_event (
                  alarmId TEXT NOT NULL, site TEXT NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, camera TEXT NOT NULL,
                  target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT, milliseconds INTEGER, receivedAt DOUBLE NOT NULL,
                  PRIMARY KEY (site, unit, alarmId, kind, camera, target))
                """)
            try db.create(index: "camera_event_received", on: "camera_event", columns: ["receivedAt"])
        }
        return migrator
    }

    public func commit(_ changes: [LogChange]) async throws -> [Int] {
        let encoder = JSONEncoder()
        let cameras = try changes.map { change -> String in
            guard case .alarm(let alarm) = change else { return "" }
            return String(decoding: try encoder.encode(alarm.cameras), as: UTF8.self)
        }
        // One transaction (GRDB's write), one fsync for the whole batch in WAL mode.
        return try await database.write { db in
            var counts: [Int] = []
            counts.reserveCapacity(changes.count)
            for (change, cameras) in zip(changes, cameras) {
                switch change {
                case .alarm(let alarm):
                    // Its incident is decided first, so the alarm row is written once, with it.
                    let placement = try Self.placement(of: alarm, db)
                    try db.cachedStatement(sql: """
                        INSERT OR IGNORE INTO alarm (id, site, unit, bell, kind, seq, session, raisedAt, deliveredAt, cameras, incident)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [alarm.id, alarm.unit.site, alarm.unit.unit, alarm.bell, alarm.kind.rawValue, Int64(alarm.seq),
                                                 Int64(alarm.session), alarm.raisedAt, alarm.deliveredAt.timeIntervalSince1970, cameras,
                                                 placement.incident])
                    let inserted = db.changesCount
                    if inserted == 1 { try Self.apply(placement, of: alarm, db) }
                    counts.append(inserted)
                    continue
                case .acknowledge(let unit, let bell, let by, let at):
                    try db.cachedStatement(sql: """
                        UPDATE alarm SET acknowledgedAt = ?, acknowledgedBy = ?
                        WHERE site = ? AND unit = ? AND bell = ? AND acknowledgedAt IS NULL AND clearedAt IS NULL
                          AND kind IN ('press', 'stuck', 'lineFault', 'tamper')
                        """).execute(arguments: [at.timeIntervalSince1970, by, unit.site, unit.unit, bell])
                    let acknowledged = db.changesCount
                    try db.cachedStatement(sql: """
                        UPDATE incident SET acknowledgedAt = ?, acknowledgedBy = ?
                        WHERE site = ? AND unit = ? AND bell = ? AND resolvedAt IS NULL AND acknowledgedAt IS NULL
                        """).execute(arguments: [at.timeIntervalSince1970, by, unit.site, unit.unit, bell])
                    counts.append(acknowledged)
                    continue
                case .clear(let unit, let bell, let at):
                    try db.cachedStatement(sql: """
                        UPDATE alarm SET clearedAt = ?
                        WHERE site = ? AND unit = ? AND bell = ? AND clearedAt IS NULL AND acknowledgedAt IS NOT NULL
                        """).execute(arguments: [at.timeIntervalSince1970, unit.site, unit.unit, bell])
                }
                counts.append(db.changesCount)
            }
            return counts
        }
    }

    public func watermarks() async throws -> [UnitKey: SeqWatermark] {
        try await database.read { db in
            // SQLite returns the other columns of the row holding MAX(seq).
            var result: [UnitKey: SeqWatermark] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT site, unit, session, MAX(seq) AS seq FROM alarm GROUP BY site, unit") {
                result[UnitKey(site: row["site"], unit: row["unit"])] = SeqWatermark(session: UInt64(row["session"] as Int64),
                                                                                     seq: UInt64(row["seq"] as Int64))
            }
            return result
        }
    }

    public func alarms(since: Date, limit: Int) async throws -> [AlarmRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alarm WHERE deliveredAt >= ? ORDER BY deliveredAt, seq LIMIT ?",
                             arguments: [since.timeIntervalSince1970, limit]).map(Self.record)
        }
    }

    public func openAlarms(limit: Int) async throws -> [AlarmRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM alarm WHERE acknowledgedAt IS NULL AND clearedAt IS NULL
                  AND kind IN ('press', 'stuck', 'lineFault', 'tamper')
                ORDER BY deliveredAt DESC LIMIT ?
                """, arguments: [limit]).map(Self.record)
        }
    }

    static func record(_ row: Row) throws -> AlarmRecord {
        let cameras = (try? JSONDecoder().decode([CameraLink].self, from: Data((row["cameras"] as String? ?? "[]").utf8))) ?? []
        guard let kind = AlarmKind(rawValue: row["kind"]) else { throw AlarmLogError("alarm \(row["id"] as String? ?? "?"): unknown kind") }
        return AlarmRecord(
            id: row["id"], unit: UnitKey(site: row["site"], unit: row["unit"]), bell: row["bell"], kind: kind,
            seq: UInt64(row["seq"] as Int64), session: UInt64(row["session"] as Int64), raisedAt: row["raisedAt"],
            deliveredAt: Date(timeIntervalSince1970: row["deliveredAt"]),
            acknowledgedAt: (row["acknowledgedAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
            acknowledgedBy: row["acknowledgedBy"], clearedAt: (row["clearedAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
            cameras: cameras)
    }
}
