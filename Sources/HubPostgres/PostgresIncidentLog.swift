import Foundation
import ParkGuardCore
import ParkGuardHub
import PostgresNIO

/// Incidents in the alarm log's PostgreSQL database (migration 4).
extension PostgresAlarmLog {
    private static let incidentColumns = """
        id, site, unit, bell, kind, raised_at, opened_at, last_event_at, events, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
        outcome, note, cameras, location
        """

    /// Puts a newly logged alarm in its bell's open incident, or opens one (``IncidentRule``), in
    /// the transaction that logged it.
    static func place(_ alarm: AlarmRecord, on connection: PostgresConnection) async throws {
        var open: String?
        for try await id in try await connection.query("""
            SELECT id FROM incident WHERE site = \(alarm.unit.site) AND unit = \(alarm.unit.unit) AND bell = \(alarm.bell) AND resolved_at IS NULL
            """, logger: quiet).decode(String.self) { open = id }
        switch IncidentRule.effect(of: alarm.kind, bellHasOpenIncident: open != nil) {
        case .attach:
            guard let open else { return }
            try await connection.query("""
                UPDATE incident SET last_event_at = GREATEST(last_event_at, \(alarm.deliveredAt.timeIntervalSince1970)), events = events + 1 WHERE id = \(open)
                """, logger: quiet)
            try await connection.query("UPDATE alarm SET incident = \(open) WHERE id = \(alarm.id)", logger: quiet)
        case .open(let kind):
            try await insert(IncidentRecord(openedBy: alarm, kind: kind), on: connection)
            try await connection.query("UPDATE alarm SET incident = \(alarm.id) WHERE id = \(alarm.id)", logger: quiet)
        case .none:
            break
        }
    }

    static func insert(_ incident: IncidentRecord, on connection: PostgresConnection) async throws {
        let cameras = String(decoding: try JSONEncoder().encode(incident.cameras), as: UTF8.self)
        let location = try incident.location.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await connection.query("""
            INSERT INTO incident (id, site, unit, bell, kind, raised_at, opened_at, last_event_at, events, acknowledged_at, acknowledged_by,
                                  resolved_at, resolved_by, outcome, note, cameras, location)
            VALUES (\(incident.id), \(incident.unit.site), \(incident.unit.unit), \(incident.bell), \(incident.kind.rawValue), \(incident.raisedAt),
                    \(incident.openedAt.timeIntervalSince1970), \(incident.lastEventAt.timeIntervalSince1970), \(incident.events),
                    \(incident.acknowledgedAt?.timeIntervalSince1970), \(incident.acknowledgedBy), \(incident.resolvedAt?.timeIntervalSince1970),
                    \(incident.resolvedBy), \(incident.outcome?.rawValue), \(incident.note), \(cameras), \(location))
            """, logger: quiet)
    }

    public func openIncidents(offset: Int, limit: Int) async throws -> IncidentPage {
        let page = try await incidents(client.query("""
            SELECT \(unescaped: Self.incidentColumns) FROM incident WHERE resolved_at IS NULL ORDER BY opened_at DESC, id LIMIT \(limit) OFFSET \(offset)
            """, logger: Self.quiet))
        var counts = (0, 0)
        for try await row in try await client.query("""
            SELECT COUNT(*), COUNT(*) - COUNT(acknowledged_at) FROM incident WHERE resolved_at IS NULL
            """, logger: Self.quiet).decode((Int, Int).self) {
            counts = row
        }
        return IncidentPage(incidents: page, offset: offset, total: counts.0, unacknowledged: counts.1)
    }

    public func incidents(since: Date, limit: Int, openOnly: Bool) async throws -> [IncidentRecord] {
        try await incidents(client.query("""
            SELECT \(unescaped: Self.incidentColumns) FROM incident WHERE opened_at >= \(since.timeIntervalSince1970)
              \(unescaped: openOnly ? "AND resolved_at IS NULL" : "") ORDER BY opened_at, id LIMIT \(limit)
            """, logger: Self.quiet))
    }

    public func incident(id: String) async throws -> IncidentRecord? {
        try await incidents(client.query("SELECT \(unescaped: Self.incidentColumns) FROM incident WHERE id = \(id)", logger: Self.quiet)).first
    }

    public func alarms(ofIncident id: String) async throws -> [AlarmRecord] {
        try await records(client.query("""
            SELECT \(unescaped: Self.columns) FROM alarm WHERE incident = \(id) ORDER BY delivered_at, seq
            """, logger: Self.quiet))
    }

    public func resolve(id: String, by: String, outcome: IncidentOutcome, note: String, at: Date, audit: AuditEntry) async throws -> ResolveResult {
        try await client.withTransaction(logger: Self.quiet) { connection in
            var found: (Double?, Double?)?
            for try await row in try await connection.query("""
                SELECT acknowledged_at, resolved_at FROM incident WHERE id = \(id) FOR UPDATE
                """, logger: Self.quiet).decode((Double?, Double?).self) { found = row }
            guard let found else { return .notFound }
            if found.1 != nil { return .alreadyResolved }
            if found.0 == nil { return .notAcknowledged }
            try await connection.query("""
                UPDATE incident SET resolved_at = \(at.timeIntervalSince1970), resolved_by = \(by), outcome = \(outcome.rawValue), note = \(note)
                WHERE id = \(id)
                """, logger: Self.quiet)
            try await Self.insert(audit, on: connection)
            return .resolved
        }
    }

    private func incidents(_ rows: PostgresRowSequence) async throws -> [IncidentRecord] {
        var result: [IncidentRecord] = []
        let decoded = rows.decode((String, String, String, String, String, String, Double, Double, Int, Double?, String?, Double?, String?,
                                   String?, String?, String, String?).self)
        for try await (id, site, unit, bell, kind, raised, opened, last, events, acknowledged, by, resolved, resolver, outcome, note, cameras, location)
            in decoded {
            guard let kind = IncidentKind(rawValue: kind) else { throw AlarmLogError("incident \(id): unknown kind '\(kind)'") }
            result.append(IncidentRecord(
                id: id, unit: UnitKey(site: site, unit: unit), bell: bell, kind: kind, raisedAt: raised, openedAt: Date(timeIntervalSince1970: opened),
                lastEventAt: Date(timeIntervalSince1970: last), events: events, acknowledgedAt: acknowledged.map(Date.init(timeIntervalSince1970:)),
                acknowledgedBy: by, resolvedAt: resolved.map(Date.init(timeIntervalSince1970:)), resolvedBy: resolver,
                outcome: outcome.flatMap(IncidentOutcome.init(rawValue:)), note: note,
                cameras: (try? JSONDecoder().decode([CameraLink].self, from: Data(cameras.utf8))) ?? [],
                location: location.flatMap { try? JSONDecoder().decode(Location.self, from: Data($0.utf8)) }))
        }
        return result
    }
}
