import AgentRuntime
import ArgumentParser
import ConfigLoader
import Foundation
import Logging
import ParkGuardCore

/// `parkguardd`: the ParkGuard field agent.
@main
struct ParkGuardDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguardd",
        abstract: "ParkGuard field agent: emergency bells over GPIO to the district hub over MQTT.",
        discussion: """
        Exit codes: 0 ok, 64 bad command line, 69 MQTT library unavailable, 74 state directory \
        not writable, 78 bad configuration.
        """,
        version: ParkGuardVersion.current)

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
        let agentConfig: AgentConfig
        do { agentConfig = try ConfigFile.load(path: config) } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            FileHandle.standardError.write(Data("parkguardd: configuration invalid (\(error.count) problem\(error.count == 1 ? "" : "s"))\n".utf8))
            throw ExitCode(ExitCodeValue.config.rawValue)
        }
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
