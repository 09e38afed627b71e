import Foundation
import ParkGuardCore

// Shared by the integration tests and the benchmarks: real processes, free loopback ports.

/// Where the built products are: next to the test bundle, or `$PARKGUARD_BIN_DIR`.
public enum Products {
    public static let directory: String = {
        if let dir = ProcessInfo.processInfo.environment["PARKGUARD_BIN_DIR"] { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }()
    public static func path(_ name: String) -> String { directory + "/" + name }
    /// Whether `name` was built: every product is, except those a unit-side build
    /// (`PARKGUARD_UNIT_ONLY=1`, in another Debian release's root) leaves out.
    public static func built(_ name: String) -> Bool { FileManager.default.isExecutableFile(atPath: path(name)) }
    /// The package root (this file is Tests/ParkGuardTestKit/ProcessKit.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
}

/// A scratch directory removed at the end (kept when `PARKGUARD_KEEP_TMP` is set).
public final class ScratchDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let path: String
    public init() throws {
        var template = Array("/tmp/parkguard-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        path = String(cString: made)
    }
    deinit {
        if ProcessInfo.processInfo.environment["PARKGUARD_KEEP_TMP"] == nil { try? FileManager.default.removeItem(atPath: path) }
    }
    public func file(_ name: String) -> String { path + "/" + name }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Ports this process has handed out: random picks must not repeat (two servers of one test, or
/// of two parallel tests, would otherwise get the same port now and then).
private let handedOut = Locked<Set<Int>>([])

/// A free TCP port on loopback, below the kernel's ephemeral range (bound, released; callers
/// retry on a lost race). Ports the kernel hands out itself are ephemeral ones, which any
/// outgoing connection of a parallel test (a fleet holds hundreds) may take as its local port
/// before the server that was meant to listen there binds it.
public func freePort() -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
    let below = max(1025, range - 12000) ..< max(1026, range)
    for _ in 0 ..< 200 {
        let port = Int.random(in: below)
        guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
        if bindLoopback(port: port) != nil { return port }
    }
    return bindLoopback(port: 0) ?? 0
}

/// Binds 127.0.0.1:`port` (0: the kernel picks), releases it, and returns the port bound.
private func bindLoopback(port: Int) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func isListening(_ port: Int) -> Bool {
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
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// A child process with its output in files.
public final class Child: @unchecked Sendable {
    // @unchecked: Process is used from one test at a time.
    public let process = Process()
    public let stdoutPath: String
    public let stderrPath: String
    /// The child's standard input, when started `withInput` (else it reads /dev/null).
    public let input: Pipe?

    public init(_ executable: String, _ arguments: [String], in directory: ScratchDirectory, name: String,
         environment: [String: String] = [:], withInput: Bool = false) throws {
        stdoutPath = directory.file("\(name).out")
        stderrPath = directory.file("\(name).err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        input = withInput ? Pipe() : nil
        process.standardInput = input ?? FileHandle.nullDevice
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

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    /// Types `text` on the child's standard input (started `withInput`).
    public func type(_ text: String) { try? input?.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }
    /// Closes the child's standard input: end of input, as ^D at a terminal.
    public func endInput() { try? input?.fileHandleForWriting.close() }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { if process.isRunning { kill(process.processIdentifier, signal) } }

    /// Waits for the exit; returns the status, or nil on timeout.
    public func exitStatus(within timeout: Duration = .seconds(10)) async throws -> Int32? {
        guard try await eventually(timeout: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Runs a short command to completion on a thread of its own; returns status, stdout and
/// stderr. Async tests must use this, never ``runBlocking(_:_:environment:)``: a blocking wait
/// holds one of the few threads of Swift's concurrency pool (2 on a 2-core machine), and two
/// such waits stall every other test's tasks for the commands' whole run (a camera probe
/// bounded at 2.55 s took 8.5 s in a full-suite pass).
@discardableResult
public func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, error: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runBlocking(executable, arguments, environment: environment) })
        }
    }
}

/// Runs CPU-bound test work (thousands of parses) on a thread of its own and returns its result,
/// for the reason ``run(_:_:environment:)`` does: a synchronous test body holds one of the
/// concurrency pool's 2 threads for its whole run. Two of them (the config fuzz loop took 26 s)
/// left no thread to resume a camera probe whose network deadline had fired: a probe bounded at
/// 2.55 s measured 8.3 s. Check the result with `#expect` after, on the test's own task.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs a short command to completion, blocking the calling thread: for synchronous callers
/// only (a `static let` probing whether a tool is installed).
@discardableResult
public func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
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
public final class Broker: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    public let port: Int
    private let directory: ScratchDirectory
    private var child: Child?

    /// - Parameter persistent: keep sessions and queued messages on disk (saved every second),
    ///   so a persistent subscriber misses nothing across a broker crash and restart.
    public convenience init(in directory: ScratchDirectory, persistent: Bool = false) async throws {
        try await self.init(in: directory) { port in
            let persistence = persistent
                ? "persistence true\npersistence_location \(directory.path)/\nautosave_interval 1\nuser root"
                : "persistence false"
            return """
            listener \(port) 127.0.0.1
            allow_anonymous true
            \(persistence)
            max_inflight_messages 0
            max_queued_messages 200000
            set_tcp_nodelay true
            log_dest stderr
            """
        }
    }

    /// A broker on the configuration `render(port)` returns for a free port (tried up to 5 times:
    /// a free port can be taken before mosquitto binds it). `restart()` reuses the same file.
    public init(in directory: ScratchDirectory, config render: (Int) async throws -> String) async throws {
        self.directory = directory
        for _ in 0 ..< 5 {
            let port = freePort()
            let config = directory.file("mosquitto-\(port).conf")
            try await render(port).write(toFile: config, atomically: true, encoding: .utf8)
            let child = try Child("/usr/sbin/mosquitto", ["-c", config], in: directory, name: "mosquitto-\(port)")
            if try await eventually(timeout: .seconds(10), { isListening(port) || !child.process.isRunning }), child.process.isRunning {
                self.port = port
                self.child = child
                return
            }
            child.signal(SIGKILL)
        }
        throw HarnessError("mosquitto did not start on any of 5 free ports")
    }

    /// The broker's process id while it runs.
    public var pid: Int32? { child?.process.processIdentifier }

    /// Kills the broker (as a crash would).
    public func stop() async throws {
        child?.signal(SIGKILL)
        _ = try await child?.exitStatus()
        child = nil
    }

    /// Starts it again on the same port.
    public func restart() async throws {
        let config = directory.file("mosquitto-\(port).conf")
        let child = try Child("/usr/sbin/mosquitto", ["-c", config], in: directory, name: "mosquitto-\(port)-again")
        guard try await eventually(timeout: .seconds(10), { isListening(port) }) else { throw HarnessError("broker restart failed") }
        self.child = child
    }
}

