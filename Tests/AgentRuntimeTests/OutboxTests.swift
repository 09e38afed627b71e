import AgentRuntime
import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit
import Testing

private func alarm(_ n: Int, size: Int = 400) -> OutboxFormat.Message {
    OutboxFormat.Message(kind: 0, qos: 1, retain: false, topic: "parkguard/v1/s/u/bell/b1/alarm", correlationData: nil,
                         alarmID: "alarm-\(n)", payload: [UInt8](repeating: UInt8(ascii: "x"), count: size))
}

private func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
}

private let logger = Logger(label: "outbox-test")

@Suite("Outbox file")
struct OutboxTests {
    @Test("what was appended and not done comes back after a restart, in order")
    func recoversLiveRecordsInOrder() throws {
        let directory = try ScratchDirectory()
        let path = directory.file("outbox")
        let (outbox, first) = Outbox.open(path: path, logger: logger) { _ in }
        #expect(first.messages.isEmpty)
        var ids: [UInt64] = []
        for n in 0 ..< 10 {
            let id = outbox.reserveID()
            outbox.append(alarm(n), id: id)
            ids.append(id)
        }
        for id in ids where id % 3 == 0 { outbox.done(id) }
        outbox.close()
        let (again, recovery) = Outbox.open(path: path, logger: logger) { _ in }
        defer { again.close() }
        #expect(recovery.messages.map(\.id) == ids.filter { $0 % 3 != 0 })
        #expect(recovery.messages.map(\.message.alarmID) == ids.filter { $0 % 3 != 0 }.map { "alarm-\(ids.firstIndex(of: $0)!)" })
        #expect(recovery.quarantinedBytes == 0)
        #expect(again.reserveID() > ids.max()!, "ids never repeat across restarts")
    }

    @Test("close keeps what was appended while the writer was busy with an earlier batch")
    func closeDuringWrite() throws {
        let directory = try ScratchDirectory()
        // The writer takes the first record's batch while the others arrive; close follows at
        // once. Each round varies the moment, so some land while that batch is written.
        for round in 0 ..< 60 {
            let path = directory.file("outbox-\(round)")
            let (outbox, _) = Outbox.open(path: path, logger: logger) { _ in }
            let first = outbox.reserveID()
            outbox.append(alarm(0), id: first)
            usleep(useconds_t(round % 12) * 50)
            let second = outbox.reserveID()
            outbox.append(alarm(1), id: second)
            outbox.done(first)
            outbox.close()
            let (again, recovery) = Outbox.open(path: path, logger: logger) { _ in }
            again.close()
            #expect(recovery.messages.map(\.id) == [second], "round \(round)")
        }
    }

    @Test("compaction reclaims the space of done records and keeps the live ones")
    func compaction() async throws {
        let directory = try ScratchDirectory()
        let path = directory.file("outbox")
        let (outbox, _) = Outbox.open(path: path, logger: logger) { _ in }
        var live: [UInt64] = []
        for n in 0 ..< 2000 {
            let id = outbox.reserveID()
            outbox.append(alarm(n), id: id)
            if n % 100 == 0 { live.append(id) } else { outbox.done(id) }
        }
        // About 1.1 MB was written; compaction runs whenever dead records pass 256 KiB and half
        // the file, so the file ends well below what was written whatever the timing.
        let written = 2000 * (OutboxFormat.encode(.put(id: 1, alarm(0))).count + OutboxFormat.encode(.done(id: 1)).count)
        #expect(try await eventually(timeout: .seconds(10)) { fileSize(path) < written / 2 }, "file stayed at \(fileSize(path)) of \(written) bytes")
        outbox.close()
        let (again, recovery) = Outbox.open(path: path, logger: logger) { _ in }
        again.close()
        #expect(recovery.messages.map(\.id) == live)
    }

    @Test("a file whose header is unusable is set aside and a fresh outbox works")
    func badHeaderIsSetAside() throws {
        let directory = try ScratchDirectory()
        let path = directory.file("outbox")
        try Data("this is not an outbox at all".utf8).write(to: URL(fileURLWithPath: path))
        let (outbox, recovery) = Outbox.open(path: path, logger: logger) { _ in }
        #expect(recovery.setAside?.contains("header") == true)
        let id = outbox.reserveID()
        outbox.append(alarm(1), id: id)
        outbox.close()
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("outbox.bad-") }
        #expect(aside.count == 1)
        let (again, second) = Outbox.open(path: path, logger: logger) { _ in }
        again.close()
        #expect(second.messages.map(\.id) == [id])
    }

    @Test("a storage fault is reported once, nothing invalid is left in the file, and records are written when space returns",
          .enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func storageFaultAndRecovery() async throws {
        let directory = try ScratchDirectory()
        try #require(try await run("/bin/mount", ["-t", "tmpfs", "-o", "size=32k", "tmpfs", directory.path]).status == 0)
        defer { _ = try? runBlocking("/bin/umount", ["-l", directory.path]) }
        let faults = Locked<[String?]>([])
        let (outbox, _) = Outbox.open(path: directory.file("outbox"), logger: logger) { fault in faults.withLock { $0.append(fault) } }
        _ = try await run("/bin/dd", ["if=/dev/zero", "of=\(directory.file("filler"))", "bs=1k", "count=32"])
        var ids: [UInt64] = []
        for n in 0 ..< 20 {
            let id = outbox.reserveID()
            outbox.append(alarm(n), id: id)
            ids.append(id)
        }
        // The writer thread writes (and fails) in its own time: appending never waits for it.
        _ = try await eventually { outbox.figures.storageFault != nil }
        try await Task.sleep(for: .milliseconds(200))
        #expect(faults.withLock { $0.count } == 1, "reported once, not per record")
        #expect(faults.withLock { $0.first??.contains("No space left on device") } == true)
        #expect(outbox.figures.storageFault != nil)
        // Whatever is in the file is whole records only.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.file("outbox"))))
        #expect(try OutboxFormat.scan(bytes).problem == nil)
        try FileManager.default.removeItem(atPath: directory.file("filler"))
        let id = outbox.reserveID()
        outbox.append(alarm(99), id: id)
        #expect(try await eventually { faults.withLock { $0.last } == .some(nil) }, "recovery is reported")
        outbox.close()
        let (again, recovery) = Outbox.open(path: directory.file("outbox"), logger: logger) { _ in }
        again.close()
        #expect(recovery.messages.map(\.id) == ids + [id], "the records that failed were written when space returned")
    }

    @Test("an outbox on a read-only file system is reported unusable and the outbox still takes messages without crashing",
          .enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func readOnlyFileSystem() async throws {
        let directory = try ScratchDirectory()
        try #require(try await run("/bin/mount", ["-t", "tmpfs", "-o", "size=32k,ro", "tmpfs", directory.path]).status == 0)
        defer { _ = try? runBlocking("/bin/umount", ["-l", directory.path]) }
        let faults = Locked<[String?]>([])
        let (outbox, recovery) = Outbox.open(path: directory.file("outbox"), logger: logger) { fault in faults.withLock { $0.append(fault) } }
        #expect(recovery.unusable?.contains("Read-only file system") == true)
        let id = outbox.reserveID()
        outbox.append(alarm(1), id: id)
        outbox.done(id)
        #expect(outbox.figures.storageFault != nil)
        outbox.close()
    }
}
