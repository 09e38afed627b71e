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
        var arguments = ["-p", "\(broker.port)", "-h", host] + tls + ["-t", "parkguard/#", "-F", "%j",
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

/// Publishes with `mosquitto_pub` (an independent client, as the hub would be).
func publish(broker: Broker, topic: String, payload: String, correlationData: String? = nil, mqtt5: Bool = true, retain: Bool = false,
             host: String = "127.0.0.1", tls: [String] = []) async throws {
    var arguments = ["-p", "\(broker.port)", "-h", host] + tls + ["-t", topic, "-m", payload, "-q", "1", "-V", mqtt5 ? "mqttv5" : "mqttv311"]
    if let correlationData { arguments += ["-D", "publish", "correlation-data", correlationData] }
    if retain { arguments.append("-r") }
    let result = try await run("/usr/bin/mosquitto_pub", arguments)
    if result.status != 0 { throw HarnessError("mosquitto_pub failed: \(result.error)") }
}
