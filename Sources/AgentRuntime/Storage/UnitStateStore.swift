#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FoundationEssentials
import Logging
import ParkGuardCore

/// Persists what must survive restarts: the session number (one more on every start) and the
/// alarm sequence, so that `seq` never repeats.
///
/// `seq` is handed out from a reserved block: the reservation is written (fsync, rename, fsync
/// the directory) before any number from it is used, so after a crash or power loss the next
/// start begins above anything that may have been published. When half of the block is used,
/// the next one is reserved on a writer queue of its own, off the alarm's path; an alarm waits
/// for the disk only if a whole half-block (500 alarms) is used before that write completes.
public final class UnitStateStore: @unchecked Sendable {
    // @unchecked: `nextSeq` and `session` are used only from the AgentController actor (and once
    // at start-up before it exists); what the writer queue shares with it is in `durable`, under a lock.
    struct Persisted: Codable {
        var session: UInt64
        var seqReserved: UInt64
    }

    public let path: String
    public private(set) var session: UInt64
    private var nextSeq: UInt64
    /// The reservation on disk, and whether a write of the next one is under way.
    private let durable: Locked<(reserved: UInt64, writing: Bool)>
    private let writer = DispatchQueue(label: "parkguard.unit-state")
    private let block: UInt64 = 1000
    private let logger: Logger
    /// A problem met while loading, for the `event` topic.
    public private(set) var recoveryNote: String?

    /// Loads (or creates) `directory/unit-state.json` and starts a new session.
    /// - Throws: ``StateStoreError`` when the directory cannot be created or written.
    public init(directory: String, logger: Logger) throws(StateStoreError) {
        self.logger = logger
        path = directory + "/unit-state.json"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StateStoreError(path: directory, message: "cannot create the state directory: \(error)")
        }
        var persisted = Persisted(session: 0, seqReserved: 0)
        if let data = FileManager.default.contents(atPath: path) {
            if let decoded = try? JSONDecoder().decode(Persisted.self, from: data) {
                persisted = decoded
            } else {
                // The numbers are lost; restart both above anything a wall-clock-derived floor
                // says could have been used, so neither repeats.
                let floor = UInt64(max(0, Date().timeIntervalSince1970)) * 1000
                persisted = Persisted(session: floor, seqReserved: floor * 1000)
                recoveryNote = "unit state file \(path) was corrupt; session and seq restarted from a time-based floor"
                try? FileManager.default.moveItem(atPath: path, toPath: path + ".corrupt-\(floor)")
            }
        }
        session = persisted.session + 1
        nextSeq = persisted.seqReserved + 1
        durable = Locked((persisted.seqReserved + block, false))
        try Self.write(Persisted(session: session, seqReserved: persisted.seqReserved + block), to: path)
    }

    /// The next alarm sequence number.
    public func takeSeq() -> UInt64 {
        let seq = nextSeq
        nextSeq += 1
        let (reserved, writing) = durable.withLock { $0 }
        if seq > reserved {
            // The background reservation has not landed (or failed): this one waits for the disk.
            writer.sync {}
            if seq > durable.withLock({ $0.reserved }) { reserve(above: seq, waiting: true) }
        } else if reserved - seq < block / 2, !writing {
            durable.withLock { $0.writing = true }
            reserve(above: reserved, waiting: false)
        }
        return seq
    }

    /// Writes a reservation of one block above `floor` on the writer queue.
    private func reserve(above floor: UInt64, waiting: Bool) {
        let target = floor + block
        let record = Persisted(session: session, seqReserved: target)
        let work: @Sendable () -> Void = { [self] in
            do {
                try Self.write(record, to: path)
                durable.withLock { $0 = (max($0.reserved, target), false) }
            } catch {
                durable.withLock { $0.writing = false }
                logger.error("cannot persist the alarm sequence reservation", metadata: ["error": "\(error)"])
            }
        }
        if waiting { writer.sync(execute: work) } else { writer.async(execute: work) }
    }

    /// Waits for a reservation being written.
    public func flush() { writer.sync {} }

    /// The reservation on disk (for tests and figures).
    public var reservedOnDisk: UInt64 { durable.withLock { $0.reserved } }

    private static func write(_ record: Persisted, to path: String) throws(StateStoreError) {
        let data: Data
        do { data = try JSONEncoder().encode(record) } catch {
            throw StateStoreError(path: path, message: "cannot encode: \(error)")
        }
        try DurableFile.replace(path: path, with: [UInt8](data))
    }
}

/// The state directory or file cannot be used.
public struct StateStoreError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// Crash-safe writes of small files: write a temporary file, fsync it, put it in place, fsync
/// the directory.
public enum DurableFile {
    /// Replaces `path` (or creates it) with `bytes`, readable as `mode`.
    public static func replace(path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(StateStoreError) {
        let temporary = try writeTemporary(for: path, bytes, mode: mode)
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw StateStoreError(path: path, message: "rename: \(message)")
        }
        syncDirectory(of: path)
    }

    /// Creates `path` with `bytes`, refusing (`EEXIST`) to replace a file already there: a key
    /// is never overwritten.
    public static func create(path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(StateStoreError) {
        let temporary = try writeTemporary(for: path, bytes, mode: mode)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            throw StateStoreError(path: path, message: errno == EEXIST ? "already exists; not overwriting it" : String(cString: strerror(errno)))
        }
        syncDirectory(of: path)
    }

    private static func writeTemporary(for path: String, _ bytes: [UInt8], mode: mode_t) throws(StateStoreError) -> String {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StateStoreError(path: temporary, message: String(cString: strerror(errno))) }
        // The umask must not narrow or widen what the caller asked for.
        _ = fchmod(fd, mode)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let message = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw StateStoreError(path: temporary, message: message)
            }
            offset += written
        }
        guard fsync(fd) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw StateStoreError(path: temporary, message: "fsync: \(message)")
        }
        close(fd)
        return temporary
    }

    private static func syncDirectory(of path: String) {
        let directory = parentDirectory(of: path)
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }
}
