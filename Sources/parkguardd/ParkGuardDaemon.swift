import AgentRuntime
import ArgumentParser
import ConfigLoader
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import ParkGuardCore
import SystemCrypto

/// `parkguardd`: the ParkGuard field agent; `parkguardd doctor` checks the unit it runs on.
@main
struct ParkGuardDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguardd",
        abstract: "ParkGuard field agent: emergency bells over GPIO to the district hub over MQTT.",
        version: ParkGuardVersion.current,
        subcommands: [RunAgent.self, Doctor.self, MakeRequest.self],
        defaultSubcommand: RunAgent.self)
}

/// Writes `text` whole to `fd` (standard output or error), retrying short and interrupted writes;
/// a failed write (a closed pipe, `| head`) ends it quietly.
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Loads the configuration or exits 78 with every problem in it.
func loadConfig(_ path: String, command: String) throws -> AgentConfig {
    do { return try ConfigFile.load(path: path) } catch {
        writeAll(STDERR_FILENO, "\(error)\n")
        writeAll(STDERR_FILENO, "\(command): configuration invalid (\(error.count) problem\(error.count == 1 ? "" : "s"))\n")
        throw ExitCode(ExitCodeValue.config.rawValue)
    }
}

/// The daemon itself (the default: `parkguardd --config FILE`).
struct RunAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent (the default when no subcommand is given).",
        discussion: """
        Exit codes: 0 ok, 64 bad command line, 69 MQTT library unavailable, 74 state directory \
        not writable, 78 bad configuration.
        """)

    @Option(name: .long, help: "The configuration file.")
    var config = "/etc/parkguard/agent.yaml"

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and exit (0 valid, 78 invalid).")
    var checkConfig = false

    @Option(name: .long, help: "Override the configured log level (debug, info, notice, warning, error).")
    var logLevel: String?

    func validate() throws {
        if let logLevel, LogLevel(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let agentConfig = try loadConfig(config, command: "parkguardd")
        if checkConfig {
            print("\(config): OK — site \(agentConfig.site), unit \(agentConfig.unit), \(agentConfig.bells.count) bell(s), \(agentConfig.inputs.count) input(s), \(agentConfig.outputs.count) output(s)")
            return
        }
        let level = logLevel.flatMap(LogLevel.init(rawValue:)) ?? agentConfig.logLevel
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, level: level.swiftLog) }
        let logger = Logger(label: "parkguardd")
        do {
            try await Agent.run(config: agentConfig, logger: logger)
        } catch let error as StartupError {
            logger.critical("cannot start: \(error.message)")
            throw ExitCode(error.code.rawValue)
        }
    }
}

/// `parkguardd doctor`: one command that proves a freshly wired unit works.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this unit: configuration, storage, clock, certificate, broker, bells, outputs, cameras.",
        discussion: """
        With the daemon running it asks the daemon over its control socket (the daemon holds the \
        lines; run as root or as a member of the parkguard group); with the daemon stopped it opens \
        the lines itself. On a terminal it asks you to press each bell and shows the press, its \
        debounce and its release; Enter skips a bell. While the daemon runs, each press is a real \
        alarm at the control room.
        Exit codes: 0 working (warnings allowed), 1 a check failed, 64 bad command line, 78 bad configuration.
        """)

    @Option(name: .long, help: "The configuration file.")
    var config = "/etc/parkguard/agent.yaml"

    @Flag(name: .long, help: "Print the report as JSON (no prompts) for scripts.")
    var json = false

    @Flag(name: .long, help: "Switch each output on for half a second and read it back.")
    var outputs = false

    @Flag(name: .customLong("no-press"), help: "Do not ask for bell presses (the default when not on a terminal).")
    var noPress = false

    @Flag(name: .long, help: "Ask for bell presses even when not on a terminal (for scripted tests).")
    var press = false

    @Option(name: .customLong("press-timeout"), help: "Seconds to wait for each bell's press (5 to 300).")
    var pressTimeout = 30

    func validate() throws {
        guard (5 ... 300).contains(pressTimeout) else { throw ValidationError("--press-timeout must be from 5 to 300 seconds") }
        if press && noPress { throw ValidationError("--press and --no-press exclude each other") }
        if press && json { throw ValidationError("--press asks on the screen; --json prints only the report") }
    }

    func run() async throws {
        let agentConfig = try loadConfig(config, command: "parkguardd doctor")
        let terminal = isatty(0) == 1 && isatty(1) == 1
        let pressTest = press || (terminal && !noPress && !json)
        let options = DoctorOptions(configPath: config, switchOutputs: outputs, pressTest: pressTest, pressTimeout: .seconds(pressTimeout))
        let keyboard = pressTest ? StandardInputLines.start() : nil
        let doctor = UnitDoctor(config: agentConfig, options: options, keyboard: keyboard) { text in
            guard !json else { return }
            // A closed pipe (`| head`) is not a crash: the write fails and the checks go on.
            writeAll(STDOUT_FILENO, text + "\n")
        }
        let report = await doctor.run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            writeAll(STDOUT_FILENO, String(decoding: (try? encoder.encode(report)) ?? Data(), as: UTF8.self) + "\n")
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// `parkguardd csr`: the unit's key and certificate signing request, made on the unit.
struct MakeRequest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csr",
        abstract: "Make this unit's key (it never leaves the unit) and a signing request for the district.",
        discussion: """
        Writes unit.key (mode 0600, never overwritten) and unit.csr into --out. Take unit.csr to \
        the district: `parkguard-provision unit sign` makes the certificate and `unit bundle` the \
        unit's configuration around this key.
        Exit codes: 0 written, 64 bad command line, 73 a key is already there, 74 cannot write, 70 libcrypto failed.
        """)

    @Option(help: "Site id ([a-z0-9-]{1,32}).") var site: String
    @Option(help: "Unit id ([a-z0-9-]{1,32}).") var unit: String
    @Option(help: "Where to write unit.key (0600) and unit.csr.") var out = "/etc/parkguard/tls"

    func validate() throws {
        guard Identifier.isValid(site) else { throw ValidationError("--site must match [a-z0-9-]{1,32}; got '\(site.prefix(40))'") }
        guard Identifier.isValid(unit) else { throw ValidationError("--unit must match [a-z0-9-]{1,32}; got '\(unit.prefix(40))'") }
    }

    func run() throws {
        let request: UnitKeyRequest
        do { request = try UnitKeyRequest.make(commonName: "unit:\(site):\(unit)") } catch {
            writeAll(STDERR_FILENO, "parkguardd csr: \(error)\n")
            throw ExitCode(ExitCodeValue.software.rawValue)
        }
        let keyPath = out + "/unit.key", requestPath = out + "/unit.csr"
        do throws(StateStoreError) {
            try makeDirectories(out)
            try DurableFile.create(path: keyPath, with: request.keyPEM, mode: 0o600)
            try DurableFile.replace(path: requestPath, with: request.requestPEM, mode: 0o644)
        } catch {
            writeAll(STDERR_FILENO, "parkguardd csr: \(error)\n")
            throw ExitCode(error.message.hasPrefix("already exists") ? ExitCodeValue.cannotCreate.rawValue : ExitCodeValue.ioError.rawValue)
        }
        writeAll(STDOUT_FILENO, "key: \(keyPath) (0600, stays here)\nrequest: \(requestPath) — take it to the district for `parkguard-provision unit sign`\n")
    }

    /// `mkdir -p`, 0755 for what it makes.
    private func makeDirectories(_ path: String) throws(StateStoreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw StateStoreError(path: prefix, message: String(cString: strerror(errno)))
            }
        }
    }
}

/// Lines typed on standard input, read by a thread of their own (a blocking read never holds
/// a task); the thread ends with the process.
enum StandardInputLines {
    static func start() -> AsyncStream<String> {
        let (lines, sink) = AsyncStream.makeStream(of: String.self)
        detachThread(named: "pg-stdin") {
            while let line = readLine() { sink.yield(line) }
            sink.finish()
        }
        return lines
    }
}

typealias ExitCodeValue = AgentRuntime.ExitCode

extension LogLevel {
    var swiftLog: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        }
    }
}
