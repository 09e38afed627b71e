import Foundation

/// Where the hub keeps every alarm with its lifecycle. SQLite (``SQLiteAlarmLog``) is the
/// embedded default; a district that outgrows one machine puts another implementation behind
/// this protocol.
public protocol AlarmLog: Sendable {
    /// Records a newly delivered alarm; `false` if its id is already in the log.
    func record(_ alarm: AlarmRecord) async throws -> Bool
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
