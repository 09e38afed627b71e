import Foundation
import HubIngest

/// The incidents of the alarm log (see ``IncidentRule``): the log's `commit` opens and extends
/// them as alarms arrive and marks them acknowledged with their bell; operators resolve them.
public protocol IncidentLog: Sendable {
    /// Unresolved incidents, newest first: the page `offset ..< offset + limit`, with how many
    /// are unresolved and how many of those are not acknowledged yet.
    func openIncidents(offset: Int, limit: Int) async throws -> IncidentPage
    /// Incidents opened at or after `since`, oldest first, at most `limit`; only unresolved ones with `openOnly`.
    func incidents(since: Date, limit: Int, openOnly: Bool) async throws -> [IncidentRecord]
    func incident(id: String) async throws -> IncidentRecord?
    /// The incident's alarms, oldest first.
    func alarms(ofIncident id: String) async throws -> [AlarmRecord]
    /// Resolves an acknowledged incident and records `audit`, in one transaction.
    func resolve(id: String, by: String, outcome: IncidentOutcome, note: String, at: Date, audit: AuditEntry) async throws -> ResolveResult
}

/// One page of the unresolved incidents, and the counts over all of them.
public struct IncidentPage: Sendable, Codable, Equatable {
    public var incidents: [IncidentRecord]
    public var offset: Int
    /// Unresolved incidents in all.
    public var total: Int
    /// Of those, how many nobody has acknowledged yet.
    public var unacknowledged: Int
    public init(incidents: [IncidentRecord], offset: Int, total: Int, unacknowledged: Int) {
        self.incidents = incidents
        self.offset = offset
        self.total = total
        self.unacknowledged = unacknowledged
    }
}

/// What became of a request to resolve an incident.
public enum ResolveResult: Sendable, Equatable {
    case resolved, notFound, notAcknowledged, alreadyResolved
}

/// The hub's database: alarms and their incidents, operators, sessions, the audit trail and
/// the units' self-test reports.
public typealias HubDatabase = AlarmLog & IncidentLog & OperatorStore & SelfTestLog & SnapshotLog & CameraEventLog
