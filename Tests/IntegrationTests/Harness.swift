import Foundation
import Testing

/// Where the built products are: next to the test bundle, or `$PARKGUARD_BIN_DIR`.
enum Products {
    static let directory: String = {
        if let dir = ProcessInfo.processInfo.environment["PARKGUARD_BIN_DIR"] { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }()
    static func path(_ name: String) -> String { directory + "/" + name }
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
}

/// A scratch directory removed at the end (kept when `PARKGUARD_KEEP_TMP` is set).
final class ScratchDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    let path: String
    init() throws {
        var template = Array("/tmp/parkguard-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        path = String(cString: made)
    }
    deinit {
        if ProcessInfo.processInfo.environment["PARKGUARD_KEEP_TMP"] == nil { try? FileManager.default.removeItem(atPath: path) }
    }
    func file(_ name: String) -> String { path + "/" + name }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A free TCP port on loopback (bound, read, released; callers retry on a lost race).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length)
            return getsockname(fd, pointer, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}

/// A child process with its output in files.
final class Child: @unchecked Sendable {
    // @unchecked: Process is used from one test at a time.
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ executable: String, _ arguments: [String], in directory: ScratchDirectory, name: String,
         environment: [String: String] = [:]) throws {
        stdoutPath = directory.file("\(name).out")
        stderrPath = directory.file("\(name).err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = FileHandle.nullDevice
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "JOURNAL_STREAM")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { if process.isRunning { kill(process.processIdentifier, signal) } }

    /// Waits for the exit; returns the status, or nil on timeout.
    func exitStatus(within timeout: Duration = .seconds(10)) async throws -> Int32? {
        guard try await eventually(timeout: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Runs a short command to completion; returns status and stdout.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let error = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
}

/// A real mosquitto broker on a free loopback port.
final class Broker: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    let port: Int
    private let directory: ScratchDirectory
    private var child: Child?

    init(in directory: ScratchDirectory) async throws {
        self.directory = directory
        for _ in 0 ..< 5 {
            let port = freePort()
            let config = directory.file("mosquitto-\(port).conf")
            try """
            listener \(port) 127.0.0.1
            allow_anonymous true
            persistence false
            log_dest stderr
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let child = try Child("/usr/sbin/mosquitto", ["-c", config], in: directory, name: "mosquitto-\(port)")
            if try await eventually(timeout: .seconds(5), { isListening(port) || !child.process.isRunning }), child.process.isRunning {
                self.port = port
                self.child = child
                return
            }
            child.signal(SIGKILL)
        }
        throw HarnessError("mosquitto did not start on any of 5 free ports")
    }

    /// Kills the broker (as a crash would).
    func stop() async throws {
        child?.signal(SIGKILL)
        _ = try await child?.exitStatus()
        child = nil
    }

    /// Starts it again on the same port.
    func restart() async throws {
        let config = directory.file("mosquitto-\(port).conf")
        let child = try Child("/usr/sbin/mosquitto", ["-c", config], in: directory, name: "mosquitto-\(port)-again")
        guard try await eventually(timeout: .seconds(10), { isListening(port) }) else { throw HarnessError("broker restart failed") }
        self.child = child
    }
}

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

    init(broker: Broker, in directory: ScratchDirectory, name: String = "sub", mqtt5: Bool = true) async throws {
        child = try Child("/usr/bin/mosquitto_sub", ["-p", "\(broker.port)", "-h", "127.0.0.1", "-t", "parkguard/#", "-F", "%j",
                                                    "-V", mqtt5 ? "mqttv5" : "mqttv311", "-q", "1", "-i", "test-\(name)-\(getpid())-\(broker.port)"],
                      in: directory, name: name)
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
    func writeForValidation(to path: String) throws {
        let lines = try messages.filter { !$0.topic.contains("/cmd/") || $0.topic.hasSuffix("/result") }.map { message -> String in
            let data = try JSONSerialization.data(withJSONObject: ["topic": message.topic, "payload": message.payload ?? ""])
            return String(decoding: data, as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// Publishes with `mosquitto_pub` (an independent client, as the hub would be).
func publish(broker: Broker, topic: String, payload: String, correlationData: String? = nil, mqtt5: Bool = true, retain: Bool = false) throws {
    var arguments = ["-p", "\(broker.port)", "-h", "127.0.0.1", "-t", topic, "-m", payload, "-q", "1", "-V", mqtt5 ? "mqttv5" : "mqttv311"]
    if let correlationData { arguments += ["-D", "publish", "correlation-data", correlationData] }
    if retain { arguments.append("-r") }
    let result = try run("/usr/bin/mosquitto_pub", arguments)
    if result.status != 0 { throw HarnessError("mosquitto_pub failed: \(result.error)") }
}
