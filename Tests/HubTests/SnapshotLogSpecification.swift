import Foundation
import ParkGuardCore
import ParkGuardHub
import Testing

/// How every backend keeps the cameras' pictures, run against SQLite and PostgreSQL alike.
enum SnapshotLogSpecification {
    static let unit = UnitKey(site: "picture-park", unit: "gate-3")
    static let t0 = Date(timeIntervalSince1970: 1_800_002_000)

    static func picture(_ alarm: String, _ camera: String, _ stage: SnapshotStage, at seconds: Double, size: Int = 1000) -> SnapshotRecord {
        let meta = SnapshotMeta(alarmId: alarm, camera: camera, stage: stage, takenAt: "2026-12-06T10:00:00.000Z", width: 320, height: 240,
                                scaled: stage == .settled)
        // What the log keeps is opaque to it: a start marker, filler, an end marker.
        let jpeg = meta.embedded(in: [0xFF, 0xD8] + Array(repeating: UInt8(seconds.truncatingRemainder(dividingBy: 200)), count: size) + [0xFF, 0xD9])
        return SnapshotRecord(unit: unit, meta: meta, receivedAt: t0.addingTimeInterval(seconds), jpeg: jpeg)
    }

    /// Each picture is kept once per alarm, camera and stage, found through its alarm's incident
    /// (a later press joined to the incident brings its pictures along), read back byte for
    /// byte, and pruned by age and then by total size, oldest first.
    static func keepsPictures(_ log: any HubDatabase) async throws {
        func alarm(_ id: String, _ kind: AlarmKind, at seconds: Double) -> AlarmRecord {
            AlarmRecord(id: id, unit: unit, bell: "b1", kind: kind, seq: UInt64(seconds), session: 1, raisedAt: "2026-12-06T10:00:00Z",
                        deliveredAt: t0.addingTimeInterval(seconds), cameras: [CameraLink(id: "cam-1", preset: "gate", health: .ok)])
        }
        _ = try await log.record(batch: [alarm("sp-1", .press, at: 0), alarm("sr-1", .release, at: 1), alarm("sp-2", .press, at: 2)])
        let first = picture("sp-1", "cam-1", .press, at: 1)
        #expect(try await log.store(snapshot: first))
        #expect(try await !log.store(snapshot: first), "a picture published again is kept once")
        #expect(try await log.store(snapshot: picture("sp-1", "cam-1", .settled, at: 4)))
        #expect(try await log.store(snapshot: picture("sp-2", "cam-2", .press, at: 3)))
        // Another unit naming this unit's alarm is kept apart: it never shows with this incident.
        var intruder = picture("sp-1", "cam-1", .press, at: 0.5)
        intruder.unit = UnitKey(site: "picture-park", unit: "gate-4")
        #expect(try await log.store(snapshot: intruder))
        // A picture may arrive before its alarm is in the log (or for one never logged): kept, shown once the alarm is.
        #expect(try await log.store(snapshot: picture("sp-later", "cam-1", .press, at: 5)))

        let found = try await log.snapshots(ofIncidents: ["sp-1", "nothing"])
        let pictures = try #require(found["sp-1"])
        #expect(found["nothing"] == nil)
        #expect(pictures.map { "\($0.alarmId)/\($0.camera)/\($0.stage)" } == ["sp-1/cam-1/press", "sp-2/cam-2/press", "sp-1/cam-1/settled"],
                "oldest first, the later press's picture with them: \(pictures)")
        let head = try #require(pictures.first)
        #expect(head.unit == unit && head.width == 320 && head.height == 240 && head.bytes == first.jpeg.count && !head.scaled
                && head.takenAt == "2026-12-06T10:00:00.000Z" && head.receivedAt == t0.addingTimeInterval(1))
        let (ref, jpeg) = try #require(try await log.snapshot(id: head.id))
        #expect(ref == head && jpeg == first.jpeg)
        #expect(try await log.snapshot(id: 987_654_321) == nil)

        _ = try await log.record(alarm("sp-later", .hold, at: 6))
        #expect(try await log.snapshots(ofIncidents: ["sp-1"])["sp-1"]?.count == 4, "the late alarm joined the incident: its picture shows")

        // What the camera did, kept once each and found through the incident.
        let moved = CameraEventRecord(unit: unit, alarmId: "sp-1", kind: .ptz, camera: "cam-1", outcome: "moved", target: "gate", detail: nil,
                                      milliseconds: 412, receivedAt: t0.addingTimeInterval(1.5))
        let missing = CameraEventRecord(unit: unit, alarmId: "sp-2", kind: .snapshot, camera: "cam-2", outcome: "refused", target: "press",
                                        detail: "the camera refused the credentials for the snapshot", milliseconds: nil, receivedAt: t0.addingTimeInterval(3.5))
        #expect(try await log.record(cameraEvent: moved))
        #expect(try await !log.record(cameraEvent: moved), "an event published again is kept once")
        #expect(try await log.record(cameraEvent: missing))
        #expect(try await log.cameraEvents(ofIncidents: ["sp-1"])["sp-1"] == [moved, missing])
        #expect(try await log.cameraEvents(ofIncidents: ["nothing"]).isEmpty)

        // Older than t0+2 s goes; then whatever lies past 2.5 pictures' bytes, oldest first.
        #expect(try await log.pruneSnapshots(receivedBefore: t0.addingTimeInterval(2), maxBytes: Int64.max) == 2)
        #expect(try await log.snapshot(id: head.id) == nil)
        #expect(try await log.pruneSnapshots(receivedBefore: t0, maxBytes: Int64(first.jpeg.count * 5 / 2)) == 1)
        let left = try await log.snapshots(ofIncidents: ["sp-1"])["sp-1"] ?? []
        #expect(left.map(\.alarmId) == ["sp-1", "sp-later"], "the newest two stay: \(left)")
    }
}
