import Foundation
import HubIngest

/// Where the hub keeps every alarm with its lifecycle. SQLite (``SQLiteAlarmLog``) is the
/// embedded default; a district that outgrows one machine puts another implementation behind
/// this protocol.
public protocol AlarmLog: Sendable {
    /// Applies `changes` in order in one transaction (group commit: one fsync, one WAL flush).
    /// When it returns, every change is durably in the log. Returns one count per change: for
    /// an alarm 1 if it was new, 0 if its id was already there (or earlier in the batch); for
    /// an acknowledgement or a clear, how many alarms it changed.
    func commit(_ changes: [LogChange]) async throws -> [Int]
    /// Each unit's highest `seq` in the log and the session it came with, so a hub that
    /// restarts notices a gap in what it missed.
    func watermarks() async throws -> [UnitKey: SeqWatermark]
    /// Alarms delivered at or after `since`, oldest first, at most `limit`.
    func alarms(since: Date, limit: Int) async throws -> [AlarmRecord]
    /// Alarms still to be acted on, newest first.
    func openAlarms(limit: Int) async throws -> [AlarmRecord]
}

/// One change to the alarm log, in the order the hub decided it. A press and the release that
/// clears it land in one transaction, so a stream of presses and releases is still one commit
/// per batch rather than one per release.
public enum LogChange: Sendable {
    /// A delivered alarm (kept once per id).
    case alarm(AlarmRecord)
    /// The bell's open alarms acknowledged.
    case acknowledge(unit: UnitKey, bell: String, by: String?, at: Date)
    /// The bell's acknowledged alarms cleared (the bell is idle again).
    case clear(unit: UnitKey, bell: String, at: Date)
}

extension AlarmLog {
    /// Records one delivered alarm; `false` if its id is already in the log.
    public func record(_ alarm: AlarmRecord) async throws -> Bool {
        try await commit([.alarm(alarm)]) == [1]
    }

    /// Records `alarms` in one transaction; returns the ids that were new.
    public func record(batch alarms: [AlarmRecord]) async throws -> Set<String> {
        let counts = try await commit(alarms.map(LogChange.alarm))
        return Set(zip(alarms, counts).filter { $0.1 == 1 }.map(\.0.id))
    }

    /// Marks the bell's open alarms acknowledged; how many.
    public func acknowledge(unit: UnitKey, bell: String, by: String?, at: Date) async throws -> Int {
        try await commit([.acknowledge(unit: unit, bell: bell, by: by, at: at)])[0]
    }

    /// Marks the bell's acknowledged alarms cleared; how many.
    public func clear(unit: UnitKey, bell: String, at: Date) async throws -> Int {
        try await commit([.clear(unit: unit, bell: bell, at: at)])[0]
    }
}

/// The alarm log cannot be used (the message names the file or server and what failed).
public struct AlarmLogError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
