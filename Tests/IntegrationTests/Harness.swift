import Foundation
import ParkGuardTestKit
import Testing

/// A message as an independent client (`mosquitto_sub`) received it.
struct Received: Sendable {
    var topic: String
    var payload: String?
    var retained: Bool
    var correlationData: String?

    func string(_ key: String) -> String? { object?[key] as? String }
    func int(_ key: String) -> Int? { object?[key] as? Int }
    var object: [String: Any]? {
        guard let payload, let data = payload.data(using: .utf8) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }
}

/// `mosquitto_sub` on `parkguard/#`, every message kept in order.
final class Subscriber: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    private let child: Child

    /// - Parameter persistent: a persistent session (clean session off) that the broker keeps
    ///   across its own restarts, and that mosquitto_sub resumes when it reconnects.
    /// - Parameter host, tls: where and how to connect (`localhost` and the hub identity's
    ///   `--cafile/--cert/--key` on a provisioned district's broker).
    init(broker: Broker, in directory: ScratchDirectory, name: String = "sub", mqtt5: Bool = true, persistent: Bool = false,
         host: String = "127.0.0.1", tls: [String] = []) async throws {
        // Pictures are binary, which the JSON lines of `-F %j` cannot carry (a zero byte ends a
        // payload there); a ``SnapshotSubscriber`` sees them.
        var arguments = ["-p", "\(broker.port)", "-h", host] + tls + ["-t", "parkguard/#", "-T", "parkguard/v1/+/+/snapshot/#", "-F", "%j",
                         "-V", mqtt5 ? "mqttv5" : "mqttv311", "-q", "1", "-i", "test-\(name)-\(getpid())-\(broker.port)"]
        if persistent { arguments += ["-c"] + (mqtt5 ? ["-x", "3600"] : []) }
        // mosquitto forwards QoS 0 (telemetry) only while the subscriber's QoS 1 window has room;
        // a hub draining a unit's backlog needs a wide window, as this subscriber asks for.
        if mqtt5 { arguments += ["-D", "connect", "receive-maximum", "65535"] }
        child = try Child("/usr/bin/mosquitto_sub", arguments, in: directory, name: name)
        try await Task.sleep(for: .milliseconds(300))
    }

    var messages: [Received] {
        child.stdout.split(separator: "\n").compactMap { line in
            guard let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let topic = object["topic"] as? String else { return nil }
            let properties = object["properties"] as? [String: Any]
            return Received(topic: topic, payload: object["payload"] as? String, retained: (object["retain"] as? Int ?? 0) != 0,
                            correlationData: properties?["correlation-data"] as? String)
        }
    }

    /// Waits for the first message (after `skipping` earlier ones) that satisfies `match`.
    func wait(timeout: Duration = .seconds(10), skipping: Int = 0, _ description: String,
              _ match: (Received) -> Bool) async throws -> Received {
        var found: Received?
        _ = try await eventually(timeout: timeout) {
            found = messages.dropFirst(skipping).first(where: match)
            return found != nil
        }
        guard let found else {
            throw HarnessError("timed out waiting for \(description); got:\n" + messages.suffix(15).map { "\($0.topic) \($0.payload ?? "")" }.joined(separator: "\n"))
        }
        return found
    }

    func stop() { child.signal(SIGTERM) }

    /// Writes every received message as JSON lines `{"topic","payload"}` for the contract validator.
    /// Commands other than receipts (which the tests publish by hand, some malformed on purpose)
    /// are left out, and so is whatever `excluding` names.
    func writeForValidation(to path: String, excluding: (Received) -> Bool = { _ in false }) throws {
        let lines = try messages.filter { (!$0.topic.contains("/cmd/") || $0.topic.hasSuffix("/result") || $0.topic.hasSuffix("/cmd/receipt")) && !excluding($0) }
            .map { message -> String in
            let data = try JSONSerialization.data(withJSONObject: ["topic": message.topic, "payload": message.payload ?? ""])
            return String(decoding: data, as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// `mosquitto_sub` on everything the units publish, binary-safe, for the pictures: each message's
/// topic, MQTT 5 content type and user properties, and its payload (as hex on the wire).
final class SnapshotSubscriber: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    private let child: Child

    struct Picture: Sendable {
        var topic: String
        var contentType: String
        var properties: [String: String]
        var jpeg: [UInt8]
    }

    init(broker: Broker, in directory: ScratchDirectory, mqtt5: Bool = true) async throws {
        child = try Child("/usr/bin/mosquitto_sub", ["-p", "\(broker.port)", "-h", "127.0.0.1", "-t", "parkguard/v1/#",
                                                     "-F", "%t|%C|%P|%x", "-V", mqtt5 ? "mqttv5" : "mqttv311", "-q", "1",
                                                     "-i", "test-pictures-\(getpid())-\(broker.port)"],
                          in: directory, name: "pictures")
        try await Task.sleep(for: .milliseconds(300))
    }

    /// The pictures received, in order.
    var pictures: [Picture] { messages.filter { $0.topic.contains("/snapshot/") } }

    /// Every message received, in order.
    var messages: [Picture] {
        child.stdout.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, fields[3].count % 2 == 0 else { return nil }
            var properties: [String: String] = [:]
            for pair in fields[2].split(separator: " ") {
                let parts = pair.split(separator: ":", maxSplits: 1).map(String.init)
                if parts.count == 2 { properties[parts[0]] = parts[1] }
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(fields[3].count / 2)
            var index = fields[3].startIndex
            while index < fields[3].endIndex {
                let next = fields[3].index(index, offsetBy: 2)
                guard let byte = UInt8(fields[3][index ..< next], radix: 16) else { return nil }
                bytes.append(byte)
                index = next
            }
            return Picture(topic: fields[0], contentType: fields[1], properties: properties, jpeg: bytes)
        }
    }

    /// Waits for the first picture that satisfies `match`.
    func wait(timeout: Duration = .seconds(15), _ description: String, _ match: (Picture) -> Bool) async throws -> Picture {
        var found: Picture?
        _ = try await eventually(timeout: timeout) {
            found = pictures.first(where: match)
            return found != nil
        }
        guard let found else { throw HarnessError("timed out waiting for \(description); got: \(pictures.map(\.topic))") }
        return found
    }

    /// Checks every picture against the contract (`Tests/contract/validate.py`, base64 lines).
    func validateContract(in directory: ScratchDirectory) async throws {
        let path = directory.file("pictures.jsonl")
        let lines = try pictures.map { picture in
            String(decoding: try JSONSerialization.data(withJSONObject: ["topic": picture.topic, "payload": Data(picture.jpeg).base64EncodedString(),
                                                                         "encoding": "base64"]), as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await run(Unit.python[0], Array(Unit.python.dropFirst()) + [Products.packageRoot + "/Tests/contract/validate.py",
                                                                                    Products.packageRoot + "/docs/asyncapi.yaml", path])
        #expect(result.status == 0, "contract violations:\n\(result.output)\(result.error)")
    }

    func stop() { child.signal(SIGTERM) }
}

/// Publishes with `mosquitto_pub` (an independent client, as the hub would be).
func publish(broker: Broker, topic: String, payload: String, correlationData: String? = nil, mqtt5: Bool = true, retain: Bool = false,
             host: String = "127.0.0.1", tls: [String] = []) async throws {
    var arguments = ["-p", "\(broker.port)", "-h", host] + tls + ["-t", topic, "-m", payload, "-q", "1", "-V", mqtt5 ? "mqttv5" : "mqttv311"]
    if let correlationData { arguments += ["-D", "publish", "correlation-data", correlationData] }
    if retain { arguments.append("-r") }
    let result = try await run("/usr/bin/mosquitto_pub", arguments)
    if result.status != 0 { throw HarnessError("mosquitto_pub failed: \(result.error)") }
}
