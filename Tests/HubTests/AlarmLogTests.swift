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

    @Test("parkguard-hub alarms refuses an age it cannot turn into a time (inf, 1e300d, 101 years) and names the flag")
    func sinceOutOfRange() async throws {
        let directory = try ScratchDirectory()
        for since in ["infd", "1e300d", "36900d", "soon"] {
            let result = try await run(Products.path("parkguard-hub"), ["alarms", "--db", directory.file("hub.sqlite"), "--since", since])
            #expect(result.status == 64, "--since \(since): \(result.status) \(result.error)")
            #expect(result.error.contains("--since must be"), "--since \(since): \(result.error)")
        }
    }
}
