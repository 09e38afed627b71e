/// The on-disk format of the outbox: a 16-byte header, then records.
///
///     header:  "PGOUTBOX" | version: u32 LE | reserved: u32
///     record:  length: u32 LE | crc32c(body): u32 LE | body (length bytes)
///     body:    type: u8 | ...
///       put  (1): id u64 | class u8 | qos u8 | retain u8 | topic (u16 len + bytes)
///                 | correlation (u16 len + bytes) | alarm id (u16 len + bytes) | payload (u32 len + bytes)
///       done (2): id u64   — the record `id` was acknowledged (or given up) and is no longer live
///
/// Appends only; a torn tail after power loss is found by its length or checksum.
public enum OutboxFormat {
    public static let magic: [UInt8] = Array("PGOUTBOX".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 16
    /// No record is larger: a length beyond it is corruption, not a record.
    public static let maxBodySize = 1 << 20

    public static var header: [UInt8] {
        var bytes = magic
        bytes.appendLE(version)
        bytes.appendLE(UInt32(0))
        return bytes
    }

    /// One stored message.
    public struct Message: Sendable, Equatable {
        /// Which queue it belongs to (see the publisher's classes): 0 alarm, 1 result, 2 event, 3 telemetry.
        public var kind: UInt8
        public var qos: UInt8
        public var retain: Bool
        public var topic: String
        public var correlationData: [UInt8]?
        public var alarmID: String?
        public var payload: [UInt8]

        public init(kind: UInt8, qos: UInt8, retain: Bool, topic: String, correlationData: [UInt8]?, alarmID: String?, payload: [UInt8]) {
            self.kind = kind
            self.qos = qos
            self.retain = retain
            self.topic = topic
            self.correlationData = correlationData
            self.alarmID = alarmID
            self.payload = payload
        }
    }

    /// A decoded record.
    public enum Record: Sendable, Equatable {
        case put(id: UInt64, Message)
        case done(id: UInt64)
    }

    /// Encodes a record with its length and checksum.
    public static func encode(_ record: Record) -> [UInt8] {
        var body: [UInt8] = []
        switch record {
        case .put(let id, let message):
            body.append(1)
            body.appendLE(id)
            body.append(message.kind)
            body.append(message.qos)
            body.append(message.retain ? 1 : 0)
            body.appendShort(Array(message.topic.utf8))
            body.appendShort(message.correlationData ?? [])
            body.appendShort(Array((message.alarmID ?? "").utf8))
            body.appendLE(UInt32(message.payload.count))
            body.append(contentsOf: message.payload)
        case .done(let id):
            body.append(2)
            body.appendLE(id)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.count + 8)
        bytes.appendLE(UInt32(body.count))
        bytes.appendLE(CRC32C.checksum(body))
        bytes.append(contentsOf: body)
        return bytes
    }

    /// What a scan of a log found.
    public struct Scan: Sendable, Equatable {
        public var records: [Record]
        /// Bytes (from the start of the file) that hold the header and whole, valid records.
        public var goodLength: Int
        /// Why the scan stopped before the end, if it did.
        public var problem: String?
    }

    /// Why a file cannot be used as an outbox at all.
    public enum HeaderProblem: Error, Sendable, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case badMagic
        case unsupportedVersion(UInt32)
        public var description: String {
            switch self {
            case .tooShort(let count): "the header is cut short (\(count) bytes)"
            case .badMagic: "it does not start with the outbox magic"
            case .unsupportedVersion(let version): "format version \(version) is not supported (this agent reads \(OutboxFormat.version))"
            }
        }
    }

    /// Reads every valid record; stops at the first torn or corrupt one.
    /// - Throws: ``HeaderProblem`` when the header itself is unusable.
    public static func scan(_ bytes: [UInt8]) throws(HeaderProblem) -> Scan {
        guard bytes.count >= headerSize else { throw .tooShort(bytes.count) }
        guard Array(bytes[0 ..< 8]) == magic else { throw .badMagic }
        let version = bytes.readLE(UInt32.self, at: 8)
        guard version == OutboxFormat.version else { throw .unsupportedVersion(version) }
        var offset = headerSize
        var records: [Record] = []
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else {
                return Scan(records: records, goodLength: offset, problem: "torn record header at byte \(offset)")
            }
            let length = Int(bytes.readLE(UInt32.self, at: offset))
            let crc = bytes.readLE(UInt32.self, at: offset + 4)
            guard length > 0, length <= maxBodySize else {
                return Scan(records: records, goodLength: offset, problem: "implausible record length \(length) at byte \(offset)")
            }
            guard bytes.count - offset - 8 >= length else {
                return Scan(records: records, goodLength: offset, problem: "torn record at byte \(offset) (\(length) bytes expected)")
            }
            let body = bytes[(offset + 8) ..< (offset + 8 + length)]
            guard CRC32C.checksum(body) == crc else {
                return Scan(records: records, goodLength: offset, problem: "checksum mismatch at byte \(offset)")
            }
            guard let record = decodeBody(Array(body)) else {
                return Scan(records: records, goodLength: offset, problem: "undecodable record at byte \(offset)")
            }
            records.append(record)
            offset += 8 + length
        }
        return Scan(records: records, goodLength: offset, problem: nil)
    }

    static func decodeBody(_ body: [UInt8]) -> Record? {
        var reader = ByteReader(body)
        guard let type = reader.byte(), let id = reader.u64() else { return nil }
        switch type {
        case 2:
            return reader.atEnd ? .done(id: id) : nil
        case 1:
            guard let kind = reader.byte(), let qos = reader.byte(), let retain = reader.byte(),
                  let topic = reader.short(), let correlation = reader.short(), let alarmID = reader.short(),
                  let payloadLength = reader.u32(), let payload = reader.bytes(Int(payloadLength)), reader.atEnd,
                  let topicText = String(validating: topic, as: UTF8.self),
                  let alarmText = String(validating: alarmID, as: UTF8.self) else { return nil }
            return .put(id: id, Message(kind: kind, qos: qos, retain: retain != 0, topic: topicText,
                                        correlationData: correlation.isEmpty ? nil : correlation,
                                        alarmID: alarmText.isEmpty ? nil : alarmText, payload: payload))
        default:
            return nil
        }
    }
}

private struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { offset == bytes.count }
    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset ..< offset + count])
    }
    mutating func byte() -> UInt8? { bytes(1)?.first }
    mutating func u32() -> UInt32? { bytes(4).map { $0.readLE(UInt32.self, at: 0) } }
    mutating func u64() -> UInt64? { bytes(8).map { $0.readLE(UInt64.self, at: 0) } }
    mutating func short() -> [UInt8]? {
        guard let length = bytes(2).map({ Int($0[0]) | Int($0[1]) << 8 }) else { return nil }
        return bytes(length)
    }
}

extension [UInt8] {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendShort(_ bytes: [UInt8]) {
        let count = Swift.min(bytes.count, Int(UInt16.max))
        appendLE(UInt16(count))
        append(contentsOf: bytes.prefix(count))
    }

    func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value = T.zero
        for index in 0 ..< MemoryLayout<T>.size { value |= T(self[offset + index]) << (8 * index) }
        return value
    }
}
