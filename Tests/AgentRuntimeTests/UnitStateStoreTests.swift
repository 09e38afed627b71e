import AgentRuntime
import Foundation
import Logging
import ParkGuardTestKit
import Testing

private let logger = Logger(label: "unit-state-test")

private func reservedInFile(_ path: String) -> UInt64? {
    guard let data = FileManager.default.contents(atPath: path),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    return (object["seqReserved"] as? NSNumber)?.uint64Value
}

@Suite("Unit state")
struct UnitStateStoreTests {
    @Test("the next seq block is reserved on the writer queue once half the block is used, and the file says so")
    func reservesAheadInTheBackground() async throws {
        let directory = try ScratchDirectory()
        let store = try UnitStateStore(directory: directory.path, logger: logger)
        #expect(reservedInFile(store.path) == 1000)
        for expected in UInt64(1) ... 499 { #expect(store.takeSeq() == expected) }
        #expect(store.reservedOnDisk == 1000, "less than half used: nothing written")
        #expect(store.takeSeq() == 500)
        #expect(store.takeSeq() == 501)
        let deadline = ContinuousClock.now + .seconds(10)
        while store.reservedOnDisk < 2000, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(store.reservedOnDisk == 2000)
        #expect(reservedInFile(store.path) == 2000)
    }

    @Test("a restart never repeats a seq or a session, however many seqs were taken in between")
    func neverRepeats() throws {
        let directory = try ScratchDirectory()
        var used: Set<UInt64> = []
        var sessions: [UInt64] = []
        for round in 0 ..< 4 {
            let store = try UnitStateStore(directory: directory.path, logger: logger)
            sessions.append(store.session)
            for _ in 0 ..< (round * 900 + 1) {
                let seq = store.takeSeq()
                #expect(!used.contains(seq), "seq \(seq) repeated")
                used.insert(seq)
            }
            // One store at a time, as one daemon at a time: its last write lands before the next opens.
            store.flush()
        }
        #expect(sessions == sessions.sorted() && Set(sessions).count == 4)
    }

    @Test("a corrupt state file is set aside and both numbers restart above a time-based floor")
    func corruptFile() throws {
        let directory = try ScratchDirectory()
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: directory.file("unit-state.json")))
        let store = try UnitStateStore(directory: directory.path, logger: logger)
        #expect(store.recoveryNote != nil)
        #expect(store.takeSeq() > UInt64(Date().timeIntervalSince1970) * 1_000_000 - 10_000_000)
    }
}
