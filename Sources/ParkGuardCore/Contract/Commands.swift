#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// A command from the hub on `cmd/{name}`, validated.
public struct Command: Sendable, Equatable {
    public enum Name: String, Sendable, CaseIterable {
        /// The control centre took the call: light "call accepted", bell → `acknowledged`.
        case ack
        /// Silence the siren of one bell, or of every bell.
        case silence
        /// Run the self-test of outputs and inputs.
        case test
        /// Republish every retained state.
        case rebirth
    }
    public var name: Name
    /// The request's correlation id (MQTT 3.1.1 carries it in the payload).
    public var correlationID: String?
    public var bell: String?
    /// Who sent it (operator or console), for the log and the result.
    public var by: String?

    public init(name: Name, correlationID: String? = nil, bell: String? = nil, by: String? = nil) {
        self.name = name
        self.correlationID = correlationID
        self.bell = bell
        self.by = by
    }
}

/// Why a command was refused; `field` names the offending part of the payload.
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String?
    public var message: String
    public init(field: String?, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

/// Validates command payloads. An empty payload is allowed for commands without arguments.
public enum CommandParser {
    public static let maxPayloadBytes = 4096

    /// Parses the payload of `cmd/{name}`.
    /// - Parameters:
    ///   - bells: the configured bell ids, to check `bell` against.
    /// - Throws: ``CommandError`` naming the field; a refused command changes nothing.
    public static func parse(name: String, payload: [UInt8], bells: Set<String>) throws(CommandError) -> Command {
        guard let command = Command.Name(rawValue: name) else {
            throw CommandError(field: "topic", "unknown command '\(name.prefix(64))'; known: \(Command.Name.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard payload.count <= maxPayloadBytes else {
            throw CommandError(field: "payload", "is \(payload.count) bytes; at most \(maxPayloadBytes) are accepted")
        }
        var fields: [String: JSONValue] = [:]
        if !payload.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard String(validating: payload, as: UTF8.self) != nil else {
                throw CommandError(field: "payload", "is not valid UTF-8")
            }
            let value: JSONValue
            do { value = try JSONDecoder().decode(JSONValue.self, from: Data(payload)) }
            catch { throw CommandError(field: "payload", "is not valid JSON") }
            guard case .object(let object) = value else {
                throw CommandError(field: "payload", "must be a JSON object, got \(value.typeName)")
            }
            fields = object
        }
        func string(_ key: String, maxLength: Int) throws(CommandError) -> String? {
            guard let value = fields[key] else { return nil }
            guard case .string(let text) = value else {
                throw CommandError(field: key, "must be a string, got \(value.typeName)")
            }
            guard text.utf8.count <= maxLength else {
                throw CommandError(field: key, "is longer than \(maxLength) bytes")
            }
            return text
        }
        let allowed: Set<String> = switch command {
        case .ack, .silence: ["schema", "correlationId", "bell", "by"]
        case .test, .rebirth: ["schema", "correlationId", "by"]
        }
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw CommandError(field: String(unknown.prefix(64)), "is not a field of '\(name)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
        if let schema = try string("schema", maxLength: 64), schema != "parkguard/cmd/1" {
            throw CommandError(field: "schema", "must be 'parkguard/cmd/1', got '\(schema)'")
        }
        let correlation = try string("correlationId", maxLength: 128)
        let by = try string("by", maxLength: 64)
        let bell = try string("bell", maxLength: 32)
        if let bell, !bells.contains(bell) {
            throw CommandError(field: "bell", "no bell '\(bell)' on this unit")
        }
        if command == .ack, bell == nil {
            throw CommandError(field: "bell", "is required for ack")
        }
        return Command(name: command, correlationID: correlation, bell: bell, by: by)
    }

    /// The `correlationId` of a payload that may be refused, so that the refusal can still
    /// carry it under MQTT 3.1.1 (which has no correlation data property): a string of at most
    /// 128 bytes in a JSON object within the size bound, else nil.
    public static func correlationID(in payload: [UInt8]) -> String? {
        guard payload.count <= maxPayloadBytes, payload.contains(UInt8(ascii: "{")),
              case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)),
              case .string(let id)? = fields["correlationId"], id.utf8.count <= 128 else { return nil }
        return id
    }
}

/// `cmd/{name}/result`: the answer to one command.
public struct CommandResultPayload: Encodable, Sendable {
    public var schema = "parkguard/cmd-result/1"
    public var command: String
    public var ok: Bool
    public var correlationId: String?
    public var bell: String?
    public var state: BellState?
    public var error: ErrorBody?
    public var selfTest: SelfTestReport?
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool

    public struct ErrorBody: Encodable, Sendable {
        public var field: String?
        public var message: String
    }

    public init(command: String, correlationID: String?, stamp: Stamp, bell: String? = nil, state: BellState? = nil,
                error: CommandError? = nil, selfTest: SelfTestReport? = nil) {
        self.command = command
        self.ok = error == nil && (selfTest?.passed ?? true)
        self.correlationId = correlationID
        self.bell = bell
        self.state = state
        self.error = error.map { ErrorBody(field: $0.field, message: $0.message) }
        self.selfTest = selfTest
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
    }
}

/// What the self-test found.
public struct SelfTestReport: Codable, Sendable, Equatable {
    public struct OutputCheck: Codable, Sendable, Equatable {
        public var id: String
        public var role: String
        public var ok: Bool
        public var detail: String?
        public init(id: String, role: String, ok: Bool, detail: String?) {
            self.id = id
            self.role = role
            self.ok = ok
            self.detail = detail
        }
    }
    public struct InputCheck: Codable, Sendable, Equatable {
        public var id: String
        /// `bell`, `tamper` or `door`.
        public var kind: String
        public var active: Bool?
        public var ok: Bool
        public var detail: String?
        public init(id: String, kind: String, active: Bool?, ok: Bool, detail: String?) {
            self.id = id
            self.kind = kind
            self.active = active
            self.ok = ok
            self.detail = detail
        }
    }
    public var outputs: [OutputCheck]
    public var inputs: [InputCheck]
    public let passed: Bool
    public init(outputs: [OutputCheck], inputs: [InputCheck]) {
        self.outputs = outputs
        self.inputs = inputs
        passed = outputs.allSatisfy(\.ok) && inputs.allSatisfy(\.ok)
    }
}
