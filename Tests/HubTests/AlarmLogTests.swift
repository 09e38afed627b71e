import Foundation
import ParkGuardCore
import ParkGuardHub
import ParkGuardTestKit
import Testing

/// The SQLite alarm log on a real file.
@Suite("Alarm log (SQLite)")
struct AlarmLogTests {
    @Test("an alarm is logged once, acknowledged by its operator, cleared, and found by time; the file survives a reopen")
    func lifecycle() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try await AlarmLogSpecification.lifecycle(try SQLiteAlarmLog(path: path)) { try SQLiteAlarmLog(path: path) }
    }

    @Test("a batch is committed at once and says which ids were new; watermarks give each unit's highest seq and its session")
    func batches() async throws {
        let directory = try ScratchDirectory()
        try await AlarmLogSpecification.batchesAndWatermarks(try SQLiteAlarmLog(path: directory.file("hub.sqlite")))
    }

    @Test("alarms, acknowledgements and clears committed together apply in their order")
    func mixedBatches() async throws {
        let directory = try ScratchDirectory()
        try await AlarmLogSpecification.mixedBatchesApplyInOrder(try SQLiteAlarmLog(path: directory.file("hub.sqlite")))
    }

    @Test("a file that is not a database is refused with its path")
    func corruptFile() throws {
        let directory = try ScratchDirectory()
        let path = directory.file("hub.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: AlarmLogError.self) { try SQLiteAlarmLog(path: path) }
        do { _ = try SQLiteAlarmLog(path: path) } catch { #expect("\(error)".contains(path)) }
    }
}
