import Foundation
import ParkGuardCore

/// What an incident is about.
public enum IncidentKind: String, Sendable, Codable, CaseIterable {
    /// Somebody pressed the bell: a call for help.
    case call
    /// The bell's line failed or its contact is stuck while nobody was calling.
    case fault
    /// The bell's housing or tamper switch opened while nobody was calling.
    case tamper
}

/// How an operator closed an incident.
public enum IncidentOutcome: String, Sendable, Codable, CaseIterable {
    case assistanceGiven, policeDispatched, falseAlarm, test, other
}

/// One call (or fault, or tamper) at one bell, as an operator deals with it: opened by its first
/// alarm, with the bell's later alarms (hold, release, further presses, tamper) attached, until an
/// operator resolves it with an outcome. Raised → acknowledged → resolved.
public struct IncidentRecord: Sendable, Codable, Equatable {
    /// The id of the alarm that opened it.
    public var id: String
    public var unit: UnitKey
    public var bell: String
    public var kind: IncidentKind
    /// The opening alarm's time at the unit (RFC 3339).
    public var raisedAt: String
    /// When the opening alarm reached the hub.
    public var openedAt: Date
    /// When its latest alarm reached the hub, and how many alarms it has.
    public var lastEventAt: Date
    public var events: Int
    public var acknowledgedAt: Date?
    public var acknowledgedBy: String?
    public var resolvedAt: Date?
    public var resolvedBy: String?
    public var outcome: IncidentOutcome?
    public var note: String?
    /// The linked cameras and their health when it opened.
    public var cameras: [CameraLink]
    /// Where the bell is, as its opening alarm said.
    public var location: Location?

    public init(id: String, unit: UnitKey, bell: String, kind: IncidentKind, raisedAt: String, openedAt: Date, lastEventAt: Date, events: Int,
                acknowledgedAt: Date? = nil, acknowledgedBy: String? = nil, resolvedAt: Date? = nil, resolvedBy: String? = nil,
                outcome: IncidentOutcome? = nil, note: String? = nil, cameras: [CameraLink], location: Location? = nil) {
        self.location = location
        self.id = id
        self.unit = unit
        self.bell = bell
        self.kind = kind
        self.raisedAt = raisedAt
        self.openedAt = openedAt
        self.lastEventAt = lastEventAt
        self.events = events
        self.acknowledgedAt = acknowledgedAt
        self.acknowledgedBy = acknowledgedBy
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.outcome = outcome
        self.note = note
        self.cameras = cameras
    }

    /// Opened by `alarm`.
    public init(openedBy alarm: AlarmRecord, kind: IncidentKind) {
        self.init(id: alarm.id, unit: alarm.unit, bell: alarm.bell, kind: kind, raisedAt: alarm.raisedAt, openedAt: alarm.deliveredAt,
                  lastEventAt: alarm.deliveredAt, events: 1, cameras: alarm.cameras, location: alarm.location)
    }
}

/// How alarms become incidents. Pure; both alarm logs apply it inside the transaction that
/// records the alarm, so an alarm and its incident are committed together.
public enum IncidentRule {
    public enum Effect: Sendable, Equatable {
        /// The alarm belongs to the bell's open incident.
        case attach
        /// The alarm opens a new incident of this kind.
        case open(IncidentKind)
        /// A release, hold, recovery or tamper-restored with no open incident: logged, in none.
        case none
    }

    /// What a new alarm of `kind` does, given whether its bell has an unresolved incident.
    public static func effect(of kind: AlarmKind, bellHasOpenIncident: Bool) -> Effect {
        if bellHasOpenIncident { return .attach }
        switch kind {
        case .press: return .open(.call)
        case .stuck, .lineFault: return .open(.fault)
        case .tamper: return .open(.tamper)
        case .hold, .release, .recovered, .tamperRestored: return .none
        }
    }

    /// The longest resolution note, in bytes.
    public static let maxNoteBytes = 1000

    /// Groups a log of alarms from before incidents existed (oldest first) into incidents, for the
    /// migration. An incident whose alarms were all acknowledged and cleared before the bell's next
    /// alarm is resolved by the migration (outcome `other`); the rest stay open, acknowledged if
    /// their opening alarm was. Returns each incident with the ids of its alarms.
    public static func migrate(_ alarms: [AlarmRecord]) -> [(incident: IncidentRecord, alarms: [String])] {
        struct Open { var index: Int; var clearedAt: Date?; var allCleared: Bool }
        var result: [(incident: IncidentRecord, alarms: [String])] = []
        var open: [String: Open] = [:]
        func close(_ key: String) {
            guard let current = open.removeValue(forKey: key) else { return }
            if current.allCleared, let at = current.clearedAt {
                result[current.index].incident.resolvedAt = at
                result[current.index].incident.resolvedBy = "migration"
                result[current.index].incident.outcome = .other
                result[current.index].incident.note = "resolved by the migration: acknowledged and cleared before incidents existed"
            }
        }
        for alarm in alarms {
            let key = "\(alarm.unit.site)/\(alarm.unit.unit)/\(alarm.bell)"
            if let current = open[key], current.allCleared, let cleared = current.clearedAt, alarm.deliveredAt >= cleared { close(key) }
            switch effect(of: alarm.kind, bellHasOpenIncident: open[key] != nil) {
            case .attach:
                guard var current = open[key] else { continue }
                result[current.index].alarms.append(alarm.id)
                result[current.index].incident.events += 1
                result[current.index].incident.lastEventAt = alarm.deliveredAt
                current.allCleared = current.allCleared && (alarm.clearedAt != nil || !Self.needsAcknowledgement(alarm.kind))
                current.clearedAt = [current.clearedAt, alarm.clearedAt].compactMap { $0 }.max()
                open[key] = current
            case .open(let kind):
                var incident = IncidentRecord(openedBy: alarm, kind: kind)
                incident.acknowledgedAt = alarm.acknowledgedAt
                incident.acknowledgedBy = alarm.acknowledgedBy
                result.append((incident, [alarm.id]))
                open[key] = Open(index: result.count - 1, clearedAt: alarm.clearedAt, allCleared: alarm.clearedAt != nil)
            case .none:
                continue
            }
        }
        for key in Array(open.keys) { close(key) }
        return result
    }

    /// The kinds an operator acknowledges (the others are never "open" alarms).
    static func needsAcknowledgement(_ kind: AlarmKind) -> Bool { [.press, .stuck, .lineFault, .tamper].contains(kind) }
}
