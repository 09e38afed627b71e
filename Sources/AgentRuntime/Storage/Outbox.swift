import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import ParkGuardCore

/// The durable outbox: every message that must survive a crash is appended here (length,
/// CRC-32C, body) and marked done after its PUBACK.
///
/// Appending never waits for the disk: records are handed to a writer thread, which owns the
/// file and writes each batch outside the lock, because a `write` can block behind an `fsync`'s
/// journal commit or a stalled SD card, and the caller is the unit's one loop (outputs, alarms,
/// the broker's socket). A put wakes the writer at once; an alarm is in the file (page cache)
/// microseconds after its publish went out on the socket. The writer thread fsyncs everything
/// written since its last fsync in one go (group commit), so a burst costs a few fsyncs, not one
/// each; done marks ride along with the next put's fsync. Compaction also runs on the writer
/// thread, outside the lock: appends made meanwhile wait in memory and go to the new file. A failed write (disk full,
/// read-only, I/O error) is reported once and the file is cut back to its last good length, so
/// later records never sit behind garbage; the messages stay in the publisher's memory, still go
/// out while the broker is reachable, and are written when storage works again.
public final class Outbox: Sendable {
    /// What opening the file found.
    public struct Recovery: Sendable {
        /// Live messages in the order they were appended.
        public var messages: [(id: UInt64, message: OutboxFormat.Message)] = []
        /// Records read back (puts and dones).
        public var recordsRead = 0
        public var quarantinedBytes = 0
        public var quarantinePath: String?
        /// Why the old file was set aside entirely, if it was.
        public var setAside: String?
        /// Why the outbox cannot be written at all (the agent runs on without durability).
        public var unusable: String?
    }

    /// Figures for telemetry and tests.
    public struct Figures: Sendable {
        public var liveRecords = 0
        public var liveBytes = 0
        public var fileBytes = 0
        public var appended: UInt64 = 0
        public var syncs: UInt64 = 0
        public var storageFault: String?
    }

    private struct State {
        /// Records for the writer thread's next batch.
        var pending: [(id: UInt64, bytes: [UInt8], put: Bool)] = []
        /// Records not yet in the file because a write failed; retried before the next write.
        var unwritten: [(id: UInt64, bytes: [UInt8], put: Bool)] = []
        var needsSync = false
        var faulted = false
        var live: [UInt64: [UInt8]] = [:]
        var nextID: UInt64 = 1
        var fileBytes = 0
        var deadBytes = 0
        var stopping = false
        var stopped = false
        var figures = Figures()
        var fd: Int32 = -1
    }

    public let path: String
    private let state: Locked<State>
    private let wake = DispatchSemaphore(value: 0)
    private let logger: Logger
    private let onFault: @Sendable (String?) -> Void

    private init(path: String, fd: Int32, live: [UInt64: [UInt8]], fileBytes: Int, nextID: UInt64, logger: Logger,
                 onFault: @escaping @Sendable (String?) -> Void) {
        self.path = path
        self.logger = logger
        self.onFault = onFault
        var initial = State()
        initial.fd = fd
        initial.live = live
        initial.fileBytes = fileBytes
        initial.nextID = nextID
        initial.figures.liveRecords = live.count
        initial.figures.liveBytes = live.values.reduce(0) { $0 + $1.count }
        initial.figures.fileBytes = fileBytes
        if fd < 0 { initial.figures.storageFault = "the outbox file cannot be opened" }
        state = Locked(initial)
        detachThread(named: "pg-outbox") { [self] in writerLoop() }
    }

    /// Opens (or creates) the outbox at `path`, recovering what a crash or power loss left:
    /// a torn or corrupt tail is cut at the last good record and kept in a quarantine file; a
    /// file whose header is unusable is set aside and a fresh one started.
    /// - Parameter onFault: called from the writer thread when storage fails (with the reason)
    ///   and when it works again (with nil).
    public static func open(path: String, logger: Logger, onFault: @escaping @Sendable (String?) -> Void) -> (Outbox, Recovery) {
        var recovery = Recovery()
        let stamp = UInt64(Date().timeIntervalSince1970 * 1000)
        let directory = parentDirectory(of: path)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var live: [UInt64: [UInt8]] = [:]
        var order: [UInt64] = []
        var maxID: UInt64 = 0
        if FileManager.default.fileExists(atPath: path) {
            switch readAll(path) {
            case .failure(let message):
                recovery.setAside = "the outbox could not be read (\(message)); a fresh one was started beside it"
                _ = rename(path, path + ".unreadable-\(stamp)")
            case .success(let bytes):
                do {
                    let scan = try OutboxFormat.scan(bytes)
                    recovery.recordsRead = scan.records.count
                    if scan.goodLength < bytes.count {
                        let quarantine = path + ".quarantine-\(stamp)"
                        if (try? DurableFile.replace(path: quarantine, with: Array(bytes[scan.goodLength...]))) != nil {
                            recovery.quarantinePath = quarantine
                        }
                        recovery.quarantinedBytes = bytes.count - scan.goodLength
                        logger.error("outbox tail is damaged; cut at the last good record",
                                     metadata: ["problem": "\(scan.problem ?? "?")", "quarantined": "\(recovery.quarantinedBytes)"])
                    }
                    for record in scan.records {
                        switch record {
                        case .put(let id, _):
                            live[id] = OutboxFormat.encode(record)
                            order.append(id)
                            maxID = max(maxID, id)
                        case .done(let id):
                            live[id] = nil
                            maxID = max(maxID, id)
                        }
                    }
                    order = order.filter { live[$0] != nil }
                    for id in order {
                        if case .put(_, let message)? = (try? OutboxFormat.scan(OutboxFormat.header + live[id]!))?.records.first {
                            recovery.messages.append((id, message))
                        }
                    }
                } catch {
                    recovery.setAside = "the outbox header is unusable (\(error)); a fresh one was started beside it"
                    _ = rename(path, path + ".bad-\(stamp)")
                }
            }
        }
        // Rewrite the file with only the live records: the start is clean whatever was found.
        var fresh = OutboxFormat.header
        for id in order where live[id] != nil { fresh += live[id]! }
        var fd: Int32 = -1
        do {
            try DurableFile.replace(path: path, with: fresh)
            fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            if fd < 0 { recovery.unusable = "cannot open \(path): \(String(cString: strerror(errno)))" }
        } catch {
            recovery.unusable = "cannot write \(path): \(error.message)"
        }
        let outbox = Outbox(path: path, fd: fd, live: live, fileBytes: fresh.count, nextID: maxID + 1, logger: logger, onFault: onFault)
        return (outbox, recovery)
    }

    /// Reserves the id of the next record.
    public func reserveID() -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    /// Stores a message under an id from ``reserveID()``: the writer thread writes it in its next
    /// batch (woken now) and fsyncs it. Never waits for the disk.
    public func append(_ message: OutboxFormat.Message, id: UInt64) {
        let item = (id, OutboxFormat.encode(.put(id: id, message)), true)
        state.withLock { $0.pending.append(item) }
        wake.signal()
    }

    /// Marks a message done (acknowledged or given up): it will not be sent again after a restart.
    /// The mark does not wake the writer: it goes with the next put's batch, or within a second.
    public func done(_ id: UInt64) {
        state.withLock { $0.pending.append((id, OutboxFormat.encode(.done(id: id)), false)) }
    }

    /// Writes what is pending (records a failed write left first) and reports storage
    /// transitions. Writer thread only: the lock is held to take the batch and to account for
    /// it, never across the write.
    private func commit() {
        let (batch, fd, fileBytes) = state.withLock { state in
            defer { state.unwritten = []; state.pending = [] }
            return (state.unwritten + state.pending, state.fd, state.fileBytes)
        }
        guard !batch.isEmpty else { return }
        let failure = write(batch, fd: fd, goodLength: fileBytes)
        let transition = state.withLock { state -> (fault: String?, changed: Bool) in
            let fault = account(batch, failure: failure, state: &state)
            let changed = (fault != nil) != state.faulted
            state.faulted = fault != nil
            return (fault, changed)
        }
        if transition.changed {
            if let fault = transition.fault { logger.critical("outbox storage fault", metadata: ["error": "\(fault)"]) }
            else { logger.notice("outbox storage works again") }
            onFault(transition.fault)
        }
    }

    public var figures: Figures { state.withLock { $0.figures } }

    /// Writes what is pending, fsyncs, and stops the writer thread.
    public func close() {
        state.withLock { $0.stopping = true }
        wake.signal()
        for _ in 0 ..< 500 where !state.withLock({ $0.stopped }) { usleep(10_000) }
    }

    // MARK: Writer thread

    /// The writer thread: one fsync for everything written since the last one, then compaction
    /// when dead records dominate.
    private func writerLoop() {
        while true {
            // Woken by a put (or close); done marks alone are picked up once a second.
            if wake.wait(timeout: .now() + .seconds(1)) == .timedOut, state.withLock({ $0.pending.isEmpty }) { continue }
            while wake.wait(timeout: .now()) == .success {}  // coalesce every signal into one batch
            // Read before the batch is taken: `close()` sets it after its caller's last append,
            // so a stop seen here has everything in the batch. (Read after, it could stop
            // with an append made during the write still pending, lost at shutdown.)
            let stopping = state.withLock { $0.stopping }
            commit()
            let (fd, needsSync) = state.withLock { state in
                defer { state.needsSync = false }
                return (state.fd, state.needsSync)
            }
            let sync = needsSync || stopping
            if sync, fd >= 0, fsync(fd) != 0 {
                let error = "fsync \(path): \(String(cString: strerror(errno)))"
                state.withLock { $0.figures.storageFault = error }
                logger.critical("outbox fsync failed", metadata: ["error": "\(error)"])
            } else if sync {
                state.withLock { $0.figures.syncs += 1 }
            }
            if stopping {
                state.withLock { state in
                    if state.fd >= 0 { Glibc.close(state.fd); state.fd = -1 }
                    state.stopped = true
                }
                return
            }
            compactIfWorthIt()
        }
    }

    /// Appends `batch` to the file (no lock held); on failure cuts the file back to
    /// `goodLength` and returns why.
    private func write(_ batch: [(id: UInt64, bytes: [UInt8], put: Bool)], fd: Int32, goodLength: Int) -> String? {
        var bytes: [UInt8] = []
        for item in batch { bytes += item.bytes }
        var error: String?
        if fd < 0 { error = "the outbox file is not open" }
        var offset = 0
        while error == nil, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                error = "write \(path): \(String(cString: strerror(errno)))"
            } else {
                offset += written
            }
        }
        if error != nil, fd >= 0, offset > 0 { _ = ftruncate(fd, off_t(goodLength)) }
        return error
    }

    /// Accounts for a batch the writer wrote (or failed to: its puts are kept for the next
    /// attempt). Under the lock.
    private func account(_ batch: [(id: UInt64, bytes: [UInt8], put: Bool)], failure: String?, state: inout State) -> String? {
        if let error = failure {
            // Tombstones are not worth keeping while storage fails; puts are retried, bounded
            // by the publisher's own queue bounds (it marks dropped messages done).
            state.unwritten = batch.filter(\.put)
            state.figures.storageFault = error
            return error
        }
        state.fileBytes += batch.reduce(0) { $0 + $1.bytes.count }
        for item in batch {
            if item.put {
                state.live[item.id] = item.bytes
                state.figures.liveBytes += item.bytes.count
            } else if let removed = state.live.removeValue(forKey: item.id) {
                state.deadBytes += removed.count + item.bytes.count
                state.figures.liveBytes -= removed.count
            } else {
                state.deadBytes += item.bytes.count
                state.unwritten.removeAll { $0.id == item.id }
            }
        }
        // Done marks alone wait for the next put's fsync (or close): losing one to a power cut
        // only sends its message again, a duplicate the hub drops by id. One fsync per alarm
        // instead of two halves the flash writes of a busy unit.
        if batch.contains(where: \.put) { state.needsSync = true }
        state.figures.appended += UInt64(batch.count)
        state.figures.liveRecords = state.live.count
        state.figures.fileBytes = state.fileBytes
        state.figures.storageFault = nil
        return nil
    }

    /// Rewrites the file with only live records when dead ones dominate: new file, fsync,
    /// rename over the old one, fsync the directory. A crash at any point leaves either the old
    /// complete file or the new complete file. Writer thread only, and outside the lock: only
    /// this thread writes the file, so appends made meanwhile wait in `pending` and go to the new
    /// file after it, and `live` changes only here.
    private func compactIfWorthIt() {
        let fresh = state.withLock { state -> [UInt8]? in
            guard state.deadBytes > 256 * 1024, state.deadBytes > state.fileBytes / 2, state.unwritten.isEmpty else { return nil }
            var fresh = OutboxFormat.header
            for (_, bytes) in state.live.sorted(by: { $0.key < $1.key }) { fresh += bytes }
            return fresh
        }
        guard let fresh else { return }
        do {
            try DurableFile.replace(path: path, with: fresh)
        } catch {
            logger.error("outbox compaction failed; keeping the old file", metadata: ["error": "\(error)"])
            return
        }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        let openError = fd < 0 ? String(cString: strerror(errno)) : nil
        state.withLock { state in
            if state.fd >= 0 { Glibc.close(state.fd) }
            state.fd = fd
            state.fileBytes = fresh.count
            state.deadBytes = 0
            state.figures.fileBytes = fresh.count
            if let openError { state.figures.storageFault = "cannot reopen \(path) after compaction: \(openError)" }
        }
    }

    private enum ReadResult { case success([UInt8]), failure(String) }

    private static func readAll(_ path: String) -> ReadResult {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(String(cString: strerror(errno))) }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(String(cString: strerror(errno)))
            }
            if count == 0 { return .success(bytes) }
            bytes += chunk[0 ..< count]
        }
    }
}
