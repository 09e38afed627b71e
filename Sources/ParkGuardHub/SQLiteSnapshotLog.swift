import Foundation
import GRDB
import HubIngest
import ParkGuardCore

extension SQLiteAlarmLog {
    public func store(snapshot: SnapshotRecord) async throws -> Bool {
        try await database.write { db in
            let meta = snapshot.meta
            try db.execute(sql: """
                INSERT OR IGNORE INTO snapshot (alarmId, site, unit, camera, stage, takenAt, receivedAt, width, height, bytes, scaled, jpeg)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [meta.alarmId, snapshot.unit.site, snapshot.unit.unit, meta.camera, meta.stage.rawValue, meta.takenAt,
                                 snapshot.receivedAt.timeIntervalSince1970, meta.width, meta.height, snapshot.jpeg.count, meta.scaled,
                                 Data(snapshot.jpeg)])
            return db.changesCount == 1
        }
    }

    public func snapshots(ofIncidents incidents: [String]) async throws -> [String: [SnapshotRef]] {
        guard !incidents.isEmpty else { return [:] }
        return try await database.read { db in
            let marks = Array(repeating: "?", count: incidents.count).joined(separator: ",")
            var found: [String: [SnapshotRef]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT alarm.incident AS incident, \(Self.snapshotColumns) FROM snapshot
                JOIN alarm ON alarm.id = snapshot.alarmId AND alarm.site = snapshot.site AND alarm.unit = snapshot.unit
                WHERE alarm.incident IN (\(marks)) ORDER BY snapshot.receivedAt, snapshot.id
                """, arguments: StatementArguments(incidents)) {
                found[row["incident"], default: []].append(Self.snapshotRef(row))
            }
            return found
        }
    }

    public func snapshot(id: Int64) async throws -> (SnapshotRef, [UInt8])? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.snapshotColumns), snapshot.jpeg AS jpeg FROM snapshot WHERE id = ?",
                                             arguments: [id]) else { return nil }
            let jpeg: Data = row["jpeg"]
            return (Self.snapshotRef(row), [UInt8](jpeg))
        }
    }

    public func pruneSnapshots(receivedBefore: Date, maxBytes: Int64) async throws -> Int {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM snapshot WHERE receivedAt < ?", arguments: [receivedBefore.timeIntervalSince1970])
            var deleted = db.changesCount
            // The newest first: whatever lies past `maxBytes` of them goes.
            try db.execute(sql: """
                DELETE FROM snapshot WHERE id IN (SELECT id FROM (
                  SELECT id, SUM(bytes) OVER (ORDER BY receivedAt DESC, id DESC) AS kept FROM snapshot) WHERE kept > ?)
                """, arguments: [maxBytes])
            deleted += db.changesCount
            return deleted
        }
    }

    static let snapshotColumns = """
        snapshot.id AS id, snapshot.alarmId AS alarmId, snapshot.site AS site, snapshot.unit AS unit, snapshot.camera AS camera,
        snapshot.stage AS stage, snapshot.takenAt AS takenAt, snapshot.receivedAt AS receivedAt, snapshot.width AS width,
        snapshot.height AS height, snapshot.bytes AS bytes, snapshot.scaled AS scaled
        """

    static func snapshotRef(_ row: Row) -> SnapshotRef {
        SnapshotRef(id: row["id"], alarmId: row["alarmId"], unit: UnitKey(site: row["site"], unit: row["unit"]), camera: row["camera"],
                    stage: row["stage"], takenAt: row["takenAt"], receivedAt: Date(timeIntervalSince1970: row["receivedAt"]),
                    width: row["width"], height: row["height"], bytes: row["bytes"], scaled: row["scaled"])
    }
}

extension SQLiteAlarmLog {
    public func record(cameraEvent event: CameraEventRecord) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO camera_event (alarmId, site, unit, kind, camera, target, outcome, detail, milliseconds, receivedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [event.alarmId, event.unit.site, event.unit.unit, event.kind.rawValue, event.camera, event.target, event.outcome,
                                 event.detail, event.milliseconds, event.receivedAt.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }

    public func cameraEvents(ofIncidents incidents: [String]) async throws -> [String: [CameraEventRecord]] {
        guard !incidents.isEmpty else { return [:] }
        return try await database.read { db in
            let marks = Array(repeating: "?", count: incidents.count).joined(separator: ",")
            var found: [String: [CameraEventRecord]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT alarm.incident AS incident, camera_event.* FROM camera_event
                JOIN alarm ON alarm.id = camera_event.alarmId AND alarm.site = camera_event.site AND alarm.unit = camera_event.unit
                WHERE alarm.incident IN (\(marks)) ORDER BY camera_event.receivedAt
                """, arguments: StatementArguments(incidents)) {
                guard let kind = CameraEventRecord.Kind(rawValue: row["kind"]) else { continue }
                found[row["incident"], default: []].append(CameraEventRecord(
                    unit: UnitKey(site: row["site"], unit: row["unit"]), alarmId: row["alarmId"], kind: kind, camera: row["camera"],
                    outcome: row["outcome"], target: row["target"], detail: row["detail"], milliseconds: row["milliseconds"],
                    receivedAt: Date(timeIntervalSince1970: row["receivedAt"])))
            }
            return found
        }
    }
}
