import Foundation

/// Every certificate the district CA issued, with its status: the one source of truth the CRL,
/// the broker ACL and every command keep consistent. Written atomically (temp file, fsync,
/// rename), so a crash never leaves half an inventory.
public struct Inventory: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case unit, hub, broker, console }
        public enum Status: String, Codable, Sendable { case active, revoked }
        /// `{site}/{unit}`, `hub/{name}`, `broker/{host}` or `console/{host}`.
        public var id: String
        public var kind: Kind
        public var commonName: String
        /// Hex serial number.
        public var serial: String
        public var status: Status
        public var issued: Date
        public var notAfter: Date
        public var revoked: Date?
        /// How the key was made: `csr` (on the unit; never seen here) or `bundle` (here).
        public var enrolment: String
    }

    public var version = 1
    public var district: String
    public var entries: [Entry] = []
    /// Increases with every CRL.
    public var crlNumber = 0

    public init(district: String) { self.district = district }

    /// The active entry for `key`, if any.
    public func active(_ key: String) -> Entry? { entries.first { $0.id == key && $0.status == .active } }

    static func load(_ path: String) throws(ProvisionError) -> Inventory {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProvisionError(.noInput, "\(path): no inventory here (run `parkguard-provision ca init` first, or pass --district)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(Inventory.self, from: data)
        } catch {
            throw ProvisionError(.dataError, "\(path): not a valid inventory: \(error)")
        }
    }

    func save(_ path: String) throws(ProvisionError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        do {
            try AtomicFile.write(try encoder.encode(self), to: path, mode: 0o644)
        } catch let error as ProvisionError {
            throw error
        } catch {
            throw ProvisionError(.ioError, "\(path): cannot write the inventory: \(error)")
        }
    }
}

/// Whole-file writes that are either done or not: temp file, fsync, rename, fsync the directory.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t) throws(ProvisionError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temp = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw ProvisionError(.ioError, "\(temp): \(String(cString: strerror(errno)))") }
        fchmod(fd, mode)
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0 else {
            unlink(temp)
            throw ProvisionError(.ioError, "\(path): cannot write: \(String(cString: strerror(errno)))")
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw ProvisionError(.ioError, "\(path): cannot replace: \(String(cString: strerror(errno)))")
        }
        let dir = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }

    /// Refuses to overwrite: for keys and certificates that must not be silently replaced.
    public static func create(_ data: Data, at path: String, mode: mode_t) throws(ProvisionError) {
        if FileManager.default.fileExists(atPath: path) {
            throw ProvisionError(.cannotCreate, "\(path) already exists; not overwriting it")
        }
        try write(data, to: path, mode: mode)
    }
}
