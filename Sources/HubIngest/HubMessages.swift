import Foundation
import ParkGuardCore

/// A unit of the fleet: `parkguard/v1/{site}/{unit}`.
public struct UnitKey: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public var site: String
    public var unit: String

    public init(site: String, unit: String) {
        self.site = site
        self.unit = unit
    }

    public var description: String { "\(site)/\(unit)" }
    public var topics: Topics { Topics(site: site, unit: unit) }
    public static func < (a: UnitKey, b: UnitKey) -> Bool { (a.site, a.unit) < (b.site, b.unit) }
}

/// What a topic of contract v1 is, parsed from its name.
enum TopicKind: Equatable {
    case status
    case telemetry
    case event
    case alarm(bell: String)
    case bellState(bell: String)
    case cameraHealth(camera: String)
    case commandResult(command: String)
    case selfTest
    /// A command to a unit (published by a hub, ours or another): not telemetry, ignored.
    case command(String)
    case rttProbe
    /// `snapshot/{alarmId}/{camera}/{stage}`: a JPEG.
    case snapshot(alarmId: String, camera: String, stage: SnapshotStage)

    /// Parses `parkguard/v1/{site}/{unit}/...`; `nil` names what is wrong.
    static func parse(_ topic: String) -> Result<(UnitKey, TopicKind), HubInputError> {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, parts[0] == "parkguard", parts[1] == "v1", !parts[2].isEmpty, !parts[3].isEmpty else {
            return .failure(HubInputError(topic: topic, field: "topic", "is not parkguard/v1/{site}/{unit}/..."))
        }
        let key = UnitKey(site: parts[2], unit: parts[3])
        let rest = Array(parts[4...])
        if rest.count == 4, rest[0] == "snapshot" {
            switch SnapshotMeta.topicFields(Array(rest[1...])) {
            case .success(let fields): return .success((key, .snapshot(alarmId: fields.alarmId, camera: fields.camera, stage: fields.stage)))
            case .failure(let problem): return .failure(HubInputError(topic: topic, field: "topic", problem.description))
            }
        }
        let kind: TopicKind? = switch rest.count {
        case 1:
            switch rest[0] {
            case "status": .status
            case "telemetry": .telemetry
            case "event": .event
            case "rtt": .rttProbe
            case "selftest": .selfTest
            default: nil
            }
        case 2 where rest[0] == "cmd": .command(rest[1])
        case 3 where rest[0] == "bell" && rest[2] == "alarm": .alarm(bell: rest[1])
        case 3 where rest[0] == "bell" && rest[2] == "state": .bellState(bell: rest[1])
        case 3 where rest[0] == "camera" && rest[2] == "health": .cameraHealth(camera: rest[1])
        case 3 where rest[0] == "cmd" && rest[2] == "result": .commandResult(command: rest[1])
        default: nil
        }
        guard let kind else { return .failure(HubInputError(topic: topic, field: "topic", "is not a topic of contract v1")) }
        return .success((key, kind))
    }
}

/// A message the hub refused, with the topic and the field at fault.
public struct HubInputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var topic: String
    public var field: String
    public var message: String

    public init(topic: String, field: String, _ message: String) {
        self.topic = topic
        self.field = field
        self.message = message
    }

    public var description: String { "\(topic): \(field) \(message)" }
}

/// A value from a payload as a refusal quotes it: at most 64 characters, so a refusal line stays
/// short however long the value (payloads are up to ``HubCore/maxPayloadBytes``).
func quote(_ value: String) -> String {
    value.count <= 64 ? "'\(value)'" : "'\(value.prefix(64))…'"
}

/// The contract's payloads as the hub reads them: every field the hub relies on is required and
/// typed, and `schema` must name the payload the topic carries.
enum HubPayload {
    struct Status: Decodable {
        var schema: String
        var state: String
        var site: String
        var unit: String
        var version: String
        var session: UInt64
        var time: String
        var reason: String?
        var location: Location?
        var certificateExpires: String?
    }

    struct Telemetry: Decodable {
        var schema: String
        var session: UInt64
        var time: String
        var outboxDepth: Int
        var receipts: Receipts?

        struct Receipts: Decodable {
            var mode: String
            var awaiting: Int
            var oldestSeconds: Double?
        }
    }

    struct BellState: Decodable {
        var schema: String
        var bell: String
        var state: ParkGuardCore.BellState
        var time: String
    }

    struct CameraHealth: Decodable {
        var schema: String
        var camera: String
        var status: CameraStatus
        var reasons: [String]
        var time: String
    }

    struct CommandResult: Decodable {
        var schema: String
        var command: String
        var ok: Bool
        var correlationId: String?
        var bell: String?
        var state: ParkGuardCore.BellState?
        var error: ErrorBody?
        var time: String
        /// The answer to `test`.
        var selfTest: SelfTest?

        struct ErrorBody: Decodable {
            var field: String?
            var message: String
        }

        struct SelfTest: Decodable {
            struct Check: Decodable {
                var id: String
                var ok: Bool
                var detail: String?
            }
            var passed: Bool
            var outputs: [Check]
            var inputs: [Check]

            /// "passed", or what failed: `siren-1: no read-back; b2: line open` (at most 8 named).
            var summary: String {
                if passed { return "self-test passed" }
                let failed = (outputs + inputs).filter { !$0.ok }
                let named = failed.prefix(8).map { "\($0.id.prefix(32))" + ($0.detail.map { ": \($0.prefix(80))" } ?? "") }
                return "self-test found problems: " + named.joined(separator: "; ") + (failed.count > 8 ? "; \(failed.count - 8) more" : "")
            }
        }
    }

    struct Event: Decodable {
        var schema: String
        var event: String
        var message: String
        var session: UInt64
        var data: [String: String]?
    }

    static let schemas: [String: String] = [
        "status": "parkguard/status/1", "telemetry": "parkguard/telemetry/1", "alarm": "parkguard/alarm/1",
        "bellState": "parkguard/bell-state/1", "cameraHealth": "parkguard/camera-health/1",
        "commandResult": "parkguard/cmd-result/1", "event": "parkguard/event/1", "selfTest": "parkguard/selftest/1",
    ]

    /// One decoder for every message: it holds only its options, so sharing it is safe, and the
    /// hub no longer builds one per message on its hottest path.
    static let decoder = JSONDecoder()

    /// Decodes `T`, naming the first field at fault, and checks `schema`.
    static func decode<T: Decodable>(_ type: T.Type, _ payload: [UInt8], topic: String, schema: String,
                                     schemaOf: (T) -> String) throws(HubInputError) -> T {
        let value: T
        do {
            value = try decoder.decode(T.self, from: Data(payload))
        } catch let DecodingError.keyNotFound(key, _) {
            throw HubInputError(topic: topic, field: key.stringValue, "is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            // At the root (a string, a number, an array): the payload itself is at fault.
            if context.codingPath.isEmpty { throw HubInputError(topic: topic, field: "payload", "must be a JSON object") }
            throw HubInputError(topic: topic, field: path(context), "has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            throw HubInputError(topic: topic, field: context.codingPath.isEmpty ? "payload" : path(context),
                                context.codingPath.isEmpty ? "is not valid JSON" : "has a value outside the contract")
        } catch {
            throw HubInputError(topic: topic, field: "payload", "cannot be read: \(error)")
        }
        guard schemaOf(value) == schema else {
            throw HubInputError(topic: topic, field: "schema", "is \(quote(schemaOf(value))), expected '\(schema)'")
        }
        return value
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
