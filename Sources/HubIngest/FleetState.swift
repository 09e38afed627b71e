import Foundation
import ParkGuardCore

/// What the hub knows about one unit.
public struct UnitView: Sendable, Codable, Equatable {
    public var key: UnitKey
    public var online: Bool
    public var session: UInt64?
    public var version: String?
    /// Why it went offline (`clean shutdown`, `connection lost`), if it did.
    public var offlineReason: String?
    public var lastSeen: Date
    public var lastSeq: UInt64?
    public var bells: [String: BellState]
    public var cameras: [String: CameraView]
    public var outboxDepth: Int?
    /// Alarms the unit says await this hub's receipt (from its telemetry), and the age of the oldest.
    public var awaitingReceipt: Int?
    public var oldestAwaitingSeconds: Double?
    /// Where the unit is, from its status.
    public var location: Location?
    /// When its TLS certificate expires (its status says), RFC 3339.
    public var certificateExpires: String?
    /// Its latest self-test report.
    public var selfTest: SelfTestView?

    public init(key: UnitKey, online: Bool, lastSeen: Date, bells: [String: BellState], cameras: [String: CameraView]) {
        self.key = key
        self.online = online
        self.lastSeen = lastSeen
        self.bells = bells
        self.cameras = cameras
    }
}

/// A unit's latest self-test, as the console lists it.
public struct SelfTestView: Sendable, Codable, Equatable {
    /// The unit's time of the test (RFC 3339).
    public var time: String
    public var trigger: String
    public var passed: Bool
    /// What failed, at most 8 items.
    public var problems: [String]
    public var nextDue: String?

    public init(time: String, trigger: String, passed: Bool, problems: [String], nextDue: String?) {
        self.time = time
        self.trigger = trigger
        self.passed = passed
        self.problems = problems
        self.nextDue = nextDue
    }
}

public struct CameraView: Sendable, Codable, Equatable {
    public var status: CameraStatus
    public var reasons: [String]
    public var since: Date
}

/// One alarm as the control room tracks it: raised at the unit, delivered to the hub,
/// acknowledged by an operator (confirmed by the unit), cleared when the bell is idle again.
public struct AlarmRecord: Sendable, Codable, Equatable {
    public var id: String
    public var unit: UnitKey
    public var bell: String
    public var kind: AlarmKind
    public var seq: UInt64
    public var session: UInt64
    /// The unit's wall time of the event, as it reported it (RFC 3339).
    public var raisedAt: String
    public var deliveredAt: Date
    public var acknowledgedAt: Date?
    public var acknowledgedBy: String?
    public var clearedAt: Date?
    /// The linked cameras and their health when the alarm was raised.
    public var cameras: [CameraLink]
    /// Where the bell is, as the alarm said. Kept with the incident the alarm opens, not in the
    /// alarm table: an alarm read back from the log has none.
    public var location: Location?

    public init(id: String, unit: UnitKey, bell: String, kind: AlarmKind, seq: UInt64, session: UInt64, raisedAt: String,
                deliveredAt: Date, acknowledgedAt: Date? = nil, acknowledgedBy: String? = nil, clearedAt: Date? = nil,
                cameras: [CameraLink], location: Location? = nil) {
        self.location = location
        self.id = id
        self.unit = unit
        self.bell = bell
        self.kind = kind
        self.seq = seq
        self.session = session
        self.raisedAt = raisedAt
        self.deliveredAt = deliveredAt
        self.acknowledgedAt = acknowledgedAt
        self.acknowledgedBy = acknowledgedBy
        self.clearedAt = clearedAt
        self.cameras = cameras
    }

    /// Whether the control room still has to act on it.
    public var isOpen: Bool { kind.opensAlarm && acknowledgedAt == nil && clearedAt == nil }
}

extension AlarmKind {
    /// Kinds that call for someone (a press, a stuck bell, tampering, a broken line).
    public var opensAlarm: Bool {
        switch self {
        case .press, .stuck, .lineFault, .tamper: true
        default: false
        }
    }
}

/// What ingesting one message leads to; the ``Hub`` carries these out (log, publish, notify).
public enum HubAction: Sendable, Equatable {
    /// A new alarm (not seen before by id): log it.
    case alarmRaised(AlarmRecord)
    /// The alarm arrived again (at-least-once delivery): counted, not logged twice, but
    /// receipted again (only once it is surely in the log: it goes through the same batch path).
    case alarmDuplicate(AlarmRecord)
    /// A bell's open alarms are acknowledged (the unit confirmed the `ack`).
    case alarmsAcknowledged(unit: UnitKey, bell: String, by: String?, at: Date)
    /// A bell is idle again: its acknowledged alarms are cleared.
    case alarmsCleared(unit: UnitKey, bell: String, at: Date)
    /// Ask the unit to republish its retained state (new session, or a `seq` gap).
    case requestRebirth(UnitKey, reason: String)
    /// The unit's view changed (status, bell, camera, telemetry): refresh the console.
    case unitChanged(UnitKey)
    /// A unit's self-test found problems (a live report, not a retained one replayed).
    case selfTestFailed(unit: UnitKey, summary: String)
    /// A self-test report newer than the one the hub had: keep it in the log.
    case selfTestReported(unit: UnitKey, report: SelfTestView)
    /// A camera's picture for an alarm, checked: keep it with the alarm.
    case snapshotReceived(SnapshotRecord)
    /// A camera turned (or not) for an alarm, or could not give its picture: keep it with the alarm.
    case cameraEvent(CameraEventRecord)
    /// A command's answer from a unit.
    /// `detail` is what the answer reports besides ok or not (a self-test's findings).
    case commandAnswered(unit: UnitKey, command: String, ok: Bool, correlationID: String?, error: String?, detail: String? = nil)
    /// A message that breaks the contract: reported, never applied.
    case refused(HubInputError)
}

/// The newest alarm a unit has in the log.
public struct SeqWatermark: Sendable, Equatable {
    public var session: UInt64
    public var seq: UInt64
    public init(session: UInt64, seq: UInt64) {
        self.session = session
        self.seq = seq
    }
}

/// The contract's times as dates.
enum RFC3339 {
    static func date(_ text: String) -> Date? {
        WallTime(rfc3339: text).map { Date(timeIntervalSince1970: Double($0.millisecondsSinceEpoch) / 1000) }
    }
}

/// A camera's picture for an alarm as the hub received it: the JPEG as the unit sent it (with
/// its comment segment) and the fields read from the topic and the comment, which agree.
public struct SnapshotRecord: Sendable, Equatable {
    public var unit: UnitKey
    public var meta: SnapshotMeta
    public var receivedAt: Date
    public var jpeg: [UInt8]

    public init(unit: UnitKey, meta: SnapshotMeta, receivedAt: Date, jpeg: [UInt8]) {
        self.unit = unit
        self.meta = meta
        self.receivedAt = receivedAt
        self.jpeg = jpeg
    }
}

/// What a linked camera did in an alarm's follow-up, from the unit's `event`: a PTZ move for a
/// press (`ptz`), or a picture that could not be taken (`snapshot`). The hub keeps it with the
/// alarm, so the incident shows whether the camera turned and why a picture is missing.
public struct CameraEventRecord: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case ptz, snapshot }
    public var unit: UnitKey
    public var alarmId: String
    public var kind: Kind
    public var camera: String
    /// `moved`, `refused`, `timedOut`, `failed` (and `badImage` for a picture).
    public var outcome: String
    /// The preset a move was for; the stage a picture was for.
    public var target: String
    public var detail: String?
    /// How long the move's ONVIF calls took.
    public var milliseconds: Int?
    public var receivedAt: Date

    public init(unit: UnitKey, alarmId: String, kind: Kind, camera: String, outcome: String, target: String, detail: String?,
                milliseconds: Int?, receivedAt: Date) {
        self.unit = unit
        self.alarmId = alarmId
        self.kind = kind
        self.camera = camera
        self.outcome = outcome
        self.target = target
        self.detail = detail
        self.milliseconds = milliseconds
        self.receivedAt = receivedAt
    }

    /// The record of an event the contract describes (`ptz` for a press, `snapshot`), or `nil`
    /// for any other event, a move home (no alarm), or fields out of bounds.
    init?(unit: UnitKey, event: String, data: [String: String], receivedAt: Date) {
        guard let kind = Kind(rawValue: event), let alarmId = data["alarmId"], !alarmId.isEmpty, alarmId.utf8.count <= 64,
              let camera = data["camera"], Identifier.isValid(camera), let outcome = data["outcome"],
              ["moved", "refused", "timedOut", "failed", "badImage"].contains(outcome) else { return nil }
        let target = (kind == .ptz ? data["preset"] : data["stage"]) ?? ""
        guard !target.isEmpty, target.utf8.count <= 64 else { return nil }
        self.init(unit: unit, alarmId: alarmId, kind: kind, camera: camera, outcome: outcome, target: target,
                  detail: data["detail"].map { String($0.prefix(200)) },
                  milliseconds: data["ms"].flatMap { Int($0) }.flatMap { (0 ... 86_400_000).contains($0) ? $0 : nil }, receivedAt: receivedAt)
    }
}
