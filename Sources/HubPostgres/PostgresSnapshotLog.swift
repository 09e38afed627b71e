import Foundation
import HubIngest
import ParkGuardCore
import ParkGuardHub
import PostgresNIO

/// The cameras' pictures in the alarm log's PostgreSQL database (migration 6), as `bytea`.
extension PostgresAlarmLog {
    public func store(snapshot: SnapshotRecord) async throws -> Bool {
        let meta = snapshot.meta
        let jpeg = ByteBuffer(bytes: snapshot.jpeg)
        let rows = try await client.query("""
            INSERT INTO snapshot (alarm_id, site, unit, camera, stage, taken_at, received_at, width, height, bytes, scaled, jpeg)
            VALUES (\(meta.alarmId), \(snapshot.unit.site), \(snapshot.unit.unit), \(meta.camera), \(meta.stage.rawValue), \(meta.takenAt),
                    \(snapshot.receivedAt.timeIntervalSince1970), \(meta.width), \(meta.height), \(snapshot.jpeg.count), \(meta.scaled), \(jpeg))
            ON CONFLICT (site, unit, alarm_id, camera, stage) DO NOTHING RETURNING id
            """, logger: Self.quiet)
        var inserted = false
        for try await _ in rows.decode(Int64.self) { inserted = true }
        return inserted
    }

    public func snapshots(ofIncidents incidents: [String]) async throws -> [String: [SnapshotRef]] {
        guard !incidents.isEmpty else { return [:] }
        var found: [String: [SnapshotRef]] = [:]
        let rows = try await client.query("""
            SELECT alarm.incident, \(unescaped: Self.snapshotColumns) FROM snapshot
            JOIN alarm ON alarm.id = snapshot.alarm_id AND alarm.site = snapshot.site AND alarm.unit = snapshot.unit
            WHERE alarm.incident = ANY(\(incidents)::text[]) ORDER BY snapshot.received_at, snapshot.id
            """, logger: Self.quiet)
        for try await (incident, id, alarm, site, unit, camera, stage, taken, received, width, height, bytes, scaled)
            in rows.decode((String, Int64, String, String, String, String, String, String, Double, Int, Int, Int, Bool).self) {
            found[incident, default: []].append(SnapshotRef(id: id, alarmId: alarm, unit: UnitKey(site: site, unit: unit), camera: camera, stage: stage,
                                                            takenAt: taken, receivedAt: Date(timeIntervalSince1970: received), width: width,
                                                            height: height, bytes: bytes, scaled: scaled))
        }
        return found
    }

    public func snapshot(id: Int64) async throws -> (SnapshotRef, [UInt8])? {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.snapshotColumns), snapshot.jpeg FROM snapshot WHERE snapshot.id = \(id)
            """, logger: Self.quiet)
        for try await (id, alarm, site, unit, camera, stage, taken, received, width, height, bytes, scaled, jpeg)
            in rows.decode((Int64, String, String, String, String, String, String, Double, Int, Int, Int, Bool, ByteBuffer).self) {
            let ref = SnapshotRef(id: id, alarmId: alarm, unit: UnitKey(site: site, unit: unit), camera: camera, stage: stage, takenAt: taken,
                                  receivedAt: Date(timeIntervalSince1970: received), width: width, height: height, bytes: bytes, scaled: scaled)
            return (ref, Array(jpeg.readableBytesView))
        }
        return nil
    }

    public func pruneSnapshots(receivedBefore: Date, maxBytes: Int64) async throws -> Int {
        try await client.withTransaction(logger: Self.quiet) { connection in
            var deleted = try await Self.count(connection.query("""
                DELETE FROM snapshot WHERE received_at < \(receivedBefore.timeIntervalSince1970) RETURNING id
                """, logger: Self.quiet))
            // The newest first: whatever lies past `maxBytes` of them goes.
            deleted += try await Self.count(connection.query("""
                DELETE FROM snapshot WHERE id IN (SELECT id FROM (
                  SELECT id, SUM(bytes) OVER (ORDER BY received_at DESC, id DESC) AS kept FROM snapshot) AS ranked WHERE kept > \(maxBytes))
                RETURNING id
                """, logger: Self.quiet))
            return deleted
        }
    }

    static let snapshotColumns = """
        snapshot.id, snapshot.alarm_id, snapshot.site, snapshot.unit, snapshot.camera, snapshot.stage, snapshot.taken_at,
        snapshot.received_at, snapshot.width, snapshot.height, snapshot.bytes, snapshot.scaled
        """
}

/// What the cameras did for the alarms, in the same database (migration 7).
extension PostgresAlarmLog {
    public func record(cameraEvent event: CameraEventRecord) async throws -> Bool {
        try await Self.count(client.query("""
            INSERT INTO camera_event (alarm_id, site, unit, kind, camera, target, outcome, detail, milliseconds, received_at)
            VALUES (\(event.alarmId), \(event.unit.site), \(event.unit.unit), \(event.kind.rawValue), \(event.camera), \(event.target),
                    \(event.outcome), \(event.detail), \(event.milliseconds), \(event.receivedAt.timeIntervalSince1970))
            ON CONFLICT (site, unit, alarm_id, kind, camera, target) DO NOTHING RETURNING alarm_id
            """, logger: Self.quiet)) == 1
    }

    public func cameraEvents(ofIncidents incidents: [String]) async throws -> [String: [CameraEventRecord]] {
        guard !incidents.isEmpty else { return [:] }
        var found: [String: [CameraEventRecord]] = [:]
        let rows = try await client.query("""
            SELECT alarm.incident, e.alarm_id, e.site, e.unit, e.kind, e.camera, e.target, e.outcome, e.detail, e.milliseconds, e.received_at
            FROM camera_event e JOIN alarm ON alarm.id = e.alarm_id AND alarm.site = e.site AND alarm.unit = e.unit WHERE alarm.incident = ANY(\(incidents)::text[]) ORDER BY e.received_at
            """, logger: Self.quiet)
        for try await (incident, alarm, site, unit, kind, camera, target, outcome, detail, milliseconds, received)
            in rows.decode((String, String, String, String, String, String, String, String, String?, Int?, Double).self) {
            guard let kind = CameraEventRecord.Kind(rawValue: kind) else { continue }
            found[incident, default: []].append(CameraEventRecord(unit: UnitKey(site: site, unit: unit), alarmId: alarm, kind: kind, camera: camera,
                                                                  outcome: outcome, target: target, detail: detail, milliseconds: milliseconds,
                                                                  receivedAt: Date(timeIntervalSince1970: received)))
        }
        return found
    }
}
