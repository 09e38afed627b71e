import Foundation
import HubIngest

/// The cameras' pictures of the alarms, in the hub's database beside the alarms (rows, so hub
/// instances sharing one PostgreSQL log share them too, and a backup of the log holds them).
/// Each is kept once per alarm, camera and stage (a unit may publish one again), joined to its
/// incident through its alarm, and pruned by age and total size (``SnapshotRetention``).
public protocol SnapshotLog: Sendable {
    /// Keeps `snapshot`; `false` when the alarm's picture from that camera at that stage is there already.
    func store(snapshot: SnapshotRecord) async throws -> Bool
    /// The pictures of the alarms of each of `incidents`, by incident id, oldest first.
    func snapshots(ofIncidents incidents: [String]) async throws -> [String: [SnapshotRef]]
    /// One picture with its JPEG.
    func snapshot(id: Int64) async throws -> (SnapshotRef, [UInt8])?
    /// Deletes the pictures received before `receivedBefore`, then the oldest until at most
    /// `maxBytes` of JPEG remain; returns how many went.
    func pruneSnapshots(receivedBefore: Date, maxBytes: Int64) async throws -> Int
}

/// What the linked cameras did for the alarms (``CameraEventRecord``: moves, missing pictures),
/// kept once each beside the alarms and found through their incident.
public protocol CameraEventLog: Sendable {
    /// Keeps `event`; `false` when the same camera's same step for the alarm is there already.
    func record(cameraEvent event: CameraEventRecord) async throws -> Bool
    /// The camera events of the alarms of each of `incidents`, by incident id, oldest first.
    func cameraEvents(ofIncidents incidents: [String]) async throws -> [String: [CameraEventRecord]]
}

/// A picture as the console lists it (the JPEG is fetched on its own).
public struct SnapshotRef: Sendable, Codable, Equatable {
    public var id: Int64
    public var alarmId: String
    public var unit: UnitKey
    public var camera: String
    public var stage: String
    /// When the unit took it (RFC 3339, the unit's clock).
    public var takenAt: String
    public var receivedAt: Date
    public var width: Int
    public var height: Int
    public var bytes: Int
    public var scaled: Bool

    public init(id: Int64, alarmId: String, unit: UnitKey, camera: String, stage: String, takenAt: String, receivedAt: Date,
                width: Int, height: Int, bytes: Int, scaled: Bool) {
        self.id = id
        self.alarmId = alarmId
        self.unit = unit
        self.camera = camera
        self.stage = stage
        self.takenAt = takenAt
        self.receivedAt = receivedAt
        self.width = width
        self.height = height
        self.bytes = bytes
        self.scaled = scaled
    }
}

/// How long pictures are kept, and how much of them.
public struct SnapshotRetention: Sendable, Equatable {
    public var maxAge: Duration
    public var maxBytes: Int64

    public init(maxAge: Duration = .seconds(90 * 86_400), maxBytes: Int64 = 2 << 30) {
        self.maxAge = maxAge
        self.maxBytes = maxBytes
    }
}
