import Foundation

/// Where the hub keeps every alarm with its lifecycle. SQLite (``SQLiteAlarmLog``) is the
/// embedded default; a district that outgrows one machine puts another implementation behind
/// this protocol.
public protocol AlarmLog: Sendable {
    /// Records a newly delivered alarm; `false` if its id is already in the log.
    func record(_ alarm: AlarmRecord) async throws -> Bool
    /// Records `alarms` in one transaction (group commit); returns the ids that were new. When
    /// it returns, every alarm of the batch is durably in the log (new or already there).
    func record(batch alarms: [AlarmRecord]) async throws -> Set<String>
    /// Each unit's highest `seq` in the log and the session it came with, so a hub that
    /// restarts notices a gap in what it missed.
    func watermarks() async throws -> [UnitKey: SeqWatermark]
    /// Marks the bell's open alarms acknowledged.
    func acknowledge(unit: UnitKey, bell: String, by: String?, at: Date) async throws -> Int
    /// Marks the bell's alarms cleared (the bell is idle again).
    func clear(unit: UnitKey, bell: String, at: Date) async throws -> Int
    /// Alarms delivered at or after `since`, oldest first, at most `limit`.
    func alarms(since: Date, limit: Int) async throws -> [AlarmRecord]
    /// Alarms still to be acted on, newest first.
    func openAlarms(limit: Int) async throws -> [AlarmRecord]
}

/// The alarm log cannot be used (the message names the file or server and what failed).
public struct AlarmLogError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
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
