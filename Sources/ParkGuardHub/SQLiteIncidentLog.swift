import Foundation
import GRDB
import HubIngest
import ParkGuardCore

/// Incidents in the alarm log's SQLite file (migration v4).
extension SQLiteAlarmLog {
    /// Where an alarm about to be logged goes (``IncidentRule``): its bell's open incident, a new
    /// one, or none; read in the transaction that logs it.
    static func placement(of alarm: AlarmRecord, _ db: Database) throws -> (incident: String?, effect: IncidentRule.Effect) {
        let open = try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM incident WHERE site = ? AND unit = ? AND bell = ? AND resolvedAt IS NULL"),
                                       arguments: [alarm.unit.site, alarm.unit.unit, alarm.bell])
        let effect = IncidentRule.effect(of: alarm.kind, bellHasOpenIncident: open != nil)
        switch effect {
        case .attach: return (open, effect)
        case .open: return (alarm.id, effect)
        case .none: return (nil, effect)
        }
    }

    /// Extends the open incident, or opens the new one, for an alarm just logged with `placement`.
    static func apply(_ placement: (incident: String?, effect: IncidentRule.Effect), of alarm: AlarmRecord, _ db: Database) throws {
        switch placement.effect {
        case .attach:
            try db.cachedStatement(sql: "UPDATE incident SET lastEventAt = MAX(lastEventAt, ?), events = events + 1 WHERE id = ?")
                .execute(arguments: [alarm.deliveredAt.timeIntervalSince1970, placement.incident])
        case .open(let kind):
            try insert(IncidentRecord(openedBy: alarm, kind: kind), db)
        case .none:
            break
        }
    }

    static func insert(_ incident: IncidentRecord, _ db: Database) throws {
        let cameras = String(decoding: try JSONEncoder().encode(incident.cameras), as: UTF8.self)
        let location = try incident.location.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try db.cachedStatement(sql: """
            INSERT INTO incident (id, site, unit, bell, kind, raisedAt, openedAt, lastEventAt, events, acknowledgedAt, acknowledgedBy,
                                  resolvedAt, resolvedBy, outcome, note, cameras, location)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [incident.id, incident.unit.site, incident.unit.unit, incident.bell, incident.kind.rawValue, incident.raisedAt,
                                     incident.openedAt.timeIntervalSince1970, incident.lastEventAt.timeIntervalSince1970, incident.events,
                                     incident.acknowledgedAt?.timeIntervalSince1970, incident.acknowledgedBy, incident.resolvedAt?.timeIntervalSince1970,
                                     incident.resolvedBy, incident.outcome?.rawValue, incident.note, cameras, location])
    }

    public func openIncidents(offset: Int, limit: Int) async throws -> IncidentPage {
        try await database.read { db in
            let page = try Row.fetchAll(db, sql: "SELECT * FROM incident WHERE resolvedAt IS NULL ORDER BY openedAt DESC, id LIMIT ? OFFSET ?",
                                        arguments: [limit, offset]).map(Self.incident)
            let counts = try Row.fetchOne(db, sql: "SELECT COUNT(*), COUNT(*) - COUNT(acknowledgedAt) FROM incident WHERE resolvedAt IS NULL")
            return IncidentPage(incidents: page, offset: offset, total: counts?[0] ?? 0, unacknowledged: counts?[1] ?? 0)
        }
    }

    public func incidents(since: Date, limit: Int, openOnly: Bool) async throws -> [IncidentRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incident WHERE openedAt >= ? \(openOnly ? "AND resolvedAt IS NULL" : "") ORDER BY openedAt, id LIMIT ?",
                             arguments: [since.timeIntervalSince1970, limit]).map(Self.incident)
        }
    }

    public func incident(id: String) async throws -> IncidentRecord? {
        try await database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM incident WHERE id = ?", arguments: [id]).map(Self.incident) }
    }

    public func alarms(ofIncident id: String) async throws -> [AlarmRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alarm WHERE incident = ? ORDER BY deliveredAt, seq", arguments: [id]).map(Self.record)
        }
    }

    public func resolve(id: String, by: String, outcome: IncidentOutcome, note: String, at: Date, audit: AuditEntry) async throws -> ResolveResult {
        try await database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT acknowledgedAt, resolvedAt FROM incident WHERE id = ?", arguments: [id]) else { return .notFound }
            if (row["resolvedAt"] as Double?) != nil { return .alreadyResolved }
            if (row["acknowledgedAt"] as Double?) == nil { return .notAcknowledged }
            try db.execute(sql: "UPDATE incident SET resolvedAt = ?, resolvedBy = ?, outcome = ?, note = ? WHERE id = ?",
                           arguments: [at.timeIntervalSince1970, by, outcome.rawValue, note, id])
            try Self.insert(audit, db)
            return .resolved
        }
    }

    private static func incident(_ row: Row) throws -> IncidentRecord {
        guard let kind = IncidentKind(rawValue: row["kind"]) else { throw AlarmLogError("incident \(row["id"] as String? ?? "?"): unknown kind") }
        return IncidentRecord(
            id: row["id"], unit: UnitKey(site: row["site"], unit: row["unit"]), bell: row["bell"], kind: kind, raisedAt: row["raisedAt"],
            openedAt: Date(timeIntervalSince1970: row["openedAt"]), lastEventAt: Date(timeIntervalSince1970: row["lastEventAt"]), events: row["events"],
            acknowledgedAt: (row["acknowledgedAt"] as Double?).map(Date.init(timeIntervalSince1970:)), acknowledgedBy: row["acknowledgedBy"],
            resolvedAt: (row["resolvedAt"] as Double?).map(Date.init(timeIntervalSince1970:)), resolvedBy: row["resolvedBy"],
            outcome: (row["outcome"] as String?).flatMap(IncidentOutcome.init(rawValue:)), note: row["note"],
            cameras: (try? JSONDecoder().decode([CameraLink].self, from: Data((row["cameras"] as String? ?? "[]").utf8))) ?? [],
            location: (row["location"] as String?).flatMap { try? JSONDecoder().decode(Location.self, from: Data($0.utf8)) })
    }
}
