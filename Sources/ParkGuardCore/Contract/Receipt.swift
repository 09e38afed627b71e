#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// `cmd/receipt`: the hub's word that alarms are committed in its alarm log.
///
/// A unit keeps every alarm in its outbox, and publishes it again, until a receipt names it:
/// the broker's PUBACK only says the broker has it. The payload:
///
/// ```json
/// {"schema": "parkguard/receipt/1", "ids": ["<alarm id>", ...], "hub": "control-1", "time": "2026-12-03T08:00:00.000Z"}
/// ```
///
/// Receipts are idempotent: naming an alarm that is already retired changes nothing, which is
/// why a replayed (signed) receipt is harmless and needs no replay counter.
public struct Receipt: Sendable, Equatable {
    /// The alarms the hub has committed (or found already committed).
    public var ids: [String]
    /// The hub instance that sent it, for logs.
    public var hub: String?

    public init(ids: [String], hub: String? = nil) {
        self.ids = ids
        self.hub = hub
    }

    /// The largest payload a unit reads (100 ids of 64 bytes fit with room to spare; the signed
    /// envelope is about 4/3 of its inner payload).
    public static let maxPayloadBytes = 16 * 1024
    /// Ids in one receipt.
    public static let maxIDs = 100
    /// Bytes of one id (the agent's ids are 36).
    public static let maxIDBytes = 64
    public static let schema = "parkguard/receipt/1"

    /// The unsigned JSON payload.
    public func payload(time: String? = nil) -> [UInt8] {
        struct Body: Encodable {
            var schema = Receipt.schema
            var ids: [String]
            var hub: String?
            var time: String?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Body(ids: ids, hub: hub, time: time))).map { [UInt8]($0) } ?? []
    }

    /// Validates a receipt payload.
    /// - Throws: ``CommandError`` naming the field; a refused receipt retires nothing.
    public static func parse(_ payload: [UInt8]) throws(CommandError) -> Receipt {
        guard payload.count <= maxPayloadBytes else {
            throw CommandError(field: "payload", "is \(payload.count) bytes; at most \(maxPayloadBytes) are accepted")
        }
        guard String(validating: payload, as: UTF8.self) != nil else { throw CommandError(field: "payload", "is not valid UTF-8") }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(payload)) } catch {
            throw CommandError(field: "payload", "is not valid JSON")
        }
        guard case .object(let fields) = value else { throw CommandError(field: "payload", "must be a JSON object, got \(value.typeName)") }
        if let unknown = fields.keys.sorted().first(where: { !["schema", "ids", "hub", "time"].contains($0) }) {
            throw CommandError(field: String(unknown.prefix(64)), "is not a field of a receipt (schema, ids, hub, time)")
        }
        guard case .string(let schema)? = fields["schema"], schema == Self.schema else {
            throw CommandError(field: "schema", "must be '\(Self.schema)'")
        }
        guard case .array(let list)? = fields["ids"] else { throw CommandError(field: "ids", "is required: an array of alarm ids") }
        guard (1 ... maxIDs).contains(list.count) else {
            throw CommandError(field: "ids", "has \(list.count) entries; a receipt names 1 to \(maxIDs) alarms")
        }
        var ids: [String] = []
        ids.reserveCapacity(list.count)
        for (index, entry) in list.enumerated() {
            guard case .string(let id) = entry, (1 ... maxIDBytes).contains(id.utf8.count) else {
                throw CommandError(field: "ids[\(index)]", "must be an alarm id of 1 to \(maxIDBytes) bytes")
            }
            ids.append(id)
        }
        var hub: String?
        if let value = fields["hub"] {
            guard case .string(let name) = value, isHubName(name) else {
                throw CommandError(field: "hub", "must be 1 to 64 characters of [A-Za-z0-9._-]")
            }
            hub = name
        }
        if let value = fields["time"] {
            guard case .string(let text) = value, text.utf8.count <= 40 else { throw CommandError(field: "time", "must be an RFC 3339 time") }
        }
        return Receipt(ids: ids, hub: hub)
    }

    /// 1 to 64 characters of `[A-Za-z0-9._-]`.
    public static func isHubName(_ name: String) -> Bool {
        (1 ... 64).contains(name.utf8.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }
}
