import ArgumentParser
import ConfigLoader
import Foundation
import Logging
import ParkGuardCore
import ServiceLifecycle
import SimulatorKit
import UnixSignals

/// `parkguard-sim`: the ParkGuard simulator and its control verbs.
@main
struct ParkGuardSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguard-sim",
        abstract: "Virtual GPIO chip, virtual cameras and control API for running parkguardd without hardware.",
        version: ParkGuardVersion.current,
        subcommands: [Serve.self, Press.self, Release.self, Click.self, Hold.self, Bounce.self, Overflow.self, Wiring.self, Lines.self, Outputs.self,
                      Cameras.self, Camera.self, FleetCommand.self])
}

/// Where the control API of a running simulator listens.
struct ControlOptions: ParsableArguments {
    @Option(name: .long, help: "Control API address of the running simulator (host:port). Also $PARKGUARD_SIM_CONTROL.")
    var control = ProcessInfo.processInfo.environment["PARKGUARD_SIM_CONTROL"] ?? "127.0.0.1:8787"

    func validate() throws {
        _ = try endpoint()
    }

    func endpoint() throws -> (String, Int) {
        guard let colon = control.lastIndex(of: ":"), let port = Int(control[control.index(after: colon)...]), (1 ... 65535).contains(port) else {
            throw ValidationError("--control must be host:port, like 127.0.0.1:8787; got '\(control)'")
        }
        return (String(control[..<colon]), port)
    }

    /// Sends a request; prints the JSON answer; fails with exit 1 on an error answer.
    func send(_ method: String, _ path: String) async throws {
        let (host, port) = try endpoint()
        let (status, body): (Int, String)
        do {
            (status, body) = try await ControlClient.request(host: host, port: port, method: method, path: path)
        } catch {
            throw RuntimeFailure("cannot reach the simulator's control API at \(control): \(error) (is `parkguard-sim serve` running?)")
        }
        print(body)
        if status >= 400 { throw ExitCode(status == 404 ? 2 : 1) }
    }
}

struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Serves the virtual chip and the control API until SIGTERM/SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the virtual GPIO chip and the control API.")

    @Option(name: .long, help: "The agent's configuration, to name lines after its bells, inputs and outputs.")
    var agentConfig: String?

    @Option(name: .long, help: "Unix socket for the agent's sim GPIO backend.")
    var socket = "/run/parkguard-sim/gpio.sock"

    @Option(name: .long, help: "Control API listen address (loopback only); port 0 picks a free port.")
    var listen = "127.0.0.1:8787"

    @Option(name: .long, help: "Number of lines on the virtual chip.")
    var lines = 64

    @Option(name: .long, help: "How cameras with a username ask for it: digest, basic or none.")
    var cameraAuth = "digest"

    @Flag(name: .long, help: "Do not serve the agent config's cameras.")
    var noCameras = false

    @Option(name: .long, help: "A scenario file: a timeline of presses and camera faults (see docs/simulator.md).")
    var scenario: String?

    func validate() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0 ... 65535).contains(port) else {
            throw ValidationError("--listen must be host:port, like 127.0.0.1:8787")
        }
        let host = String(listen[..<colon])
        guard host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.") else {
            throw ValidationError("--listen must be a loopback address: the control API has no authentication")
        }
        guard (1 ... 1024).contains(lines) else { throw ValidationError("--lines must be from 1 to 1024") }
        guard VirtualCamera.AuthMode(rawValue: cameraAuth) != nil else { throw ValidationError("--camera-auth must be digest, basic or none") }
        if scenario != nil, agentConfig == nil { throw ValidationError("--scenario needs --agent-config, to know the bells and cameras it names") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "parkguard-sim")
        var names = LineNames()
        var cameras: [VirtualCamera] = []
        if let agentConfig {
            let config: AgentConfig
            do { config = try ConfigFile.load(path: agentConfig) } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(78)
            }
            names = LineNames(config: config)
            if !noCameras { cameras = try Self.cameras(of: config, auth: VirtualCamera.AuthMode(rawValue: cameraAuth) ?? .digest, logger: logger) }
        }
        let colon = listen.lastIndex(of: ":")!
        let host = String(listen[..<colon])
        let port = Int(listen[listen.index(after: colon)...])!
        let chip = VirtualChip(lineCount: lines, names: names)
        let socketPath = socket
        let gpio = GPIOSocketServer(chip: chip, path: socket, logger: logger) {
            FileHandle.standardOutput.write(Data("gpio socket: \(socketPath)\n".utf8))
        }
        var scenarioRunner: ScenarioRunner?
        if let scenario {
            do {
                let text = try ConfigFile.read(path: scenario)
                let parsed = try Scenario.decode(try ConfigFile.tree(text, file: scenario), file: scenario, faults: CameraFault.allCases.map(\.rawValue))
                let runner = ScenarioRunner(scenario: parsed, chip: chip, cameras: cameras, logger: logger)
                try runner.validate(file: scenario)
                scenarioRunner = runner
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(78)
            }
        }
        let cameraCount = cameras.count
        let cameraServers = CameraServers(cameras: cameras, logger: logger) {
            FileHandle.standardOutput.write(Data("cameras: \(cameraCount) serving\n".utf8))
        }
        let control = ControlAPI(chip: chip, cameras: cameras, host: host, port: port, logger: logger) { bound in
            FileHandle.standardOutput.write(Data("control api: http://\(host):\(bound)\n".utf8))
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: gpio), .init(service: control),
                       .init(service: cameraServers, successTerminationBehavior: .ignore)]
                + (scenarioRunner.map { [.init(service: $0, successTerminationBehavior: .ignore)] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

extension Serve {
    /// The agent config's cameras on loopback addresses, each with its password file read.
    static func cameras(of config: AgentConfig, auth: VirtualCamera.AuthMode, logger: Logger) throws -> [VirtualCamera] {
        var cameras: [VirtualCamera] = []
        for camera in config.cameras {
            guard camera.host == "127.0.0.1" || camera.host == "localhost" || camera.host == "::1" else {
                logger.notice("camera not simulated: its host is not a loopback address", metadata: ["camera": "\(camera.id)", "host": "\(camera.host)"])
                continue
            }
            var password: String?
            if let file = camera.passwordFile {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    FileHandle.standardError.write(Data("camera \(camera.id): cannot read passwordFile \(file)\n".utf8))
                    throw ExitCode(78)
                }
                password = text.trimmingCharacters(in: .newlines)
            }
            // Its PTZ presets: home, and every preset the agent's bells turn it to or back to.
            let links = config.bells.flatMap(\.cameras).filter { $0.id == camera.id }
            let presets = ["home"] + links.flatMap { [$0.preset, $0.home].compactMap { $0 } }
            cameras.append(VirtualCamera(config: camera, password: password, auth: auth, presets: presets))
        }
        return cameras
    }
}

/// Verbs that act on one named input.
struct InputArgument: ParsableArguments {
    @Argument(help: "Bell or input id from the agent's config (or a line number).")
    var name: String

    func validate() throws {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") }) else {
            throw ValidationError("'\(name)' is not a bell or input id")
        }
    }
}

struct Press: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close a bell's contact (and keep it closed).")
    @OptionGroup var input: InputArgument
    @OptionGroup var options: ControlOptions
    func run() async throws { try await options.send("POST", "/v1/inputs/\(input.name)/press") }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open a bell's contact.")
    @OptionGroup var input: InputArgument
    @OptionGroup var options: ControlOptions
    func run() async throws { try await options.send("POST", "/v1/inputs/\(input.name)/release") }
}

struct Click: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Press and release after --ms milliseconds.")
    @OptionGroup var input: InputArgument
    @Option(help: "How long the contact stays closed.") var ms = 200
    @OptionGroup var options: ControlOptions
    func run() async throws { try await options.send("POST", "/v1/inputs/\(input.name)/click?ms=\(ms)") }
}

struct Hold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Press, hold for --seconds, release.")
    @OptionGroup var input: InputArgument
    @Option(help: "How long the contact stays closed.") var seconds = 5.0
    @OptionGroup var options: ControlOptions
    func validate() throws {
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be more than 0 and at most 3600") }
    }
    func run() async throws { try await options.send("POST", "/v1/inputs/\(input.name)/hold?ms=\(Int(seconds * 1000))") }
}

struct Bounce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A bounce train: --edges toggles --interval-us apart, ending --final.")
    @OptionGroup var input: InputArgument
    @Option(help: "Number of toggles.") var edges = 6
    @Option(help: "Microseconds between toggles.") var intervalUs = 1000
    @Option(help: "Level at the end: pressed or released.") var final = "pressed"
    @OptionGroup var options: ControlOptions
    func validate() throws {
        guard final == "pressed" || final == "released" else { throw ValidationError("--final must be pressed or released") }
    }
    func run() async throws {
        try await options.send("POST", "/v1/inputs/\(input.name)/bounce?edges=\(edges)&intervalUs=\(intervalUs)&final=\(final)")
    }
}

struct Overflow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drop edges as an overflowing kernel event buffer would: the next edge's number jumps by --lost.",
        discussion: "As libgpiod 2 shows an overflow: the line's level is unchanged, and the agent reports the gap (event edgesLost, telemetry edgesLost) when the next edge arrives.")
    @OptionGroup var input: InputArgument
    @Option(help: "Edges lost (1 to 1000000).") var lost = 100
    @OptionGroup var options: ControlOptions
    func validate() throws {
        guard (1 ... 1_000_000).contains(lost) else { throw ValidationError("--lost must be from 1 to 1000000") }
    }
    func run() async throws {
        try await options.send("POST", "/v1/inputs/\(input.name)/overflow?lost=\(lost)")
    }
}

struct Wiring: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Break (or mend) a bell's wiring, for the self-test to find.",
        discussion: "Faults: stuck (the line never changes: presses and the test drive do nothing), drive-cut (the test drive does not reach the bell; presses still work), press-during-test (drive-cut, and a person presses 0.3 s into each test drive for 1.2 s), none (mended).")
    @OptionGroup var input: InputArgument
    @Option(help: "stuck, drive-cut, press-during-test or none.") var fault: String
    @OptionGroup var options: ControlOptions
    func validate() throws {
        guard fault == "none" || VirtualChip.WiringFault(rawValue: fault) != nil else {
            throw ValidationError("--fault must be stuck, drive-cut, press-during-test or none")
        }
    }
    func run() async throws { try await options.send("POST", "/v1/inputs/\(input.name)/wiring?fault=\(fault)") }
}

struct Lines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every line of the virtual chip.")
    @OptionGroup var options: ControlOptions
    func run() async throws { try await options.send("GET", "/v1/lines") }
}

struct Outputs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the outputs the agent drives (strobe, siren, call accepted).")
    @OptionGroup var options: ControlOptions
    func run() async throws { try await options.send("GET", "/v1/outputs") }
}

struct Cameras: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every simulated camera with its faults.")
    @OptionGroup var options: ControlOptions
    func run() async throws { try await options.send("GET", "/v1/cameras") }
}

struct Camera: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inject or clear a fault on a simulated camera.",
        discussion: """
            Faults: \(CameraFault.allCases.map(\.rawValue).joined(separator: ", ")).
            Examples: parkguard-sim camera cam-1 fault slow --delay-ms 2000
                      parkguard-sim camera cam-1 clear
            """)
    @Argument(help: "Camera id from the agent's config.") var id: String
    @Argument(help: "fault, clear or auth.") var action: String
    @Argument(help: "The fault (for fault and clear) or the auth mode (none, basic, digest).") var value: String?
    @Option(help: "Delay of the slow fault.") var delayMs: Int?
    @Option(help: "Clock offset of the drift fault.") var driftSeconds: Int?
    @OptionGroup var options: ControlOptions

    func validate() throws {
        guard Identifier.isValid(id) else { throw ValidationError("'\(id)' is not a camera id") }
        switch action {
        case "fault":
            guard let value, CameraFault(rawValue: value) != nil else {
                throw ValidationError("fault needs one of: \(CameraFault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        case "clear":
            if let value, CameraFault(rawValue: value) == nil { throw ValidationError("unknown fault '\(value)'") }
        case "auth":
            guard let value, VirtualCamera.AuthMode(rawValue: value) != nil else { throw ValidationError("auth needs none, basic or digest") }
        default:
            throw ValidationError("action must be fault, clear or auth")
        }
    }

    func run() async throws {
        var query: [String] = []
        if let delayMs { query.append("delayMs=\(delayMs)") }
        if let driftSeconds { query.append("driftSeconds=\(driftSeconds)") }
        let path: String = switch action {
        case "fault": "/v1/cameras/\(id)/fault/\(value ?? "")"
        case "clear": value.map { "/v1/cameras/\(id)/clear/\($0)" } ?? "/v1/cameras/\(id)/clear"
        default: "/v1/cameras/\(id)/auth?mode=\(value ?? "")"
        }
        try await options.send("POST", path + (query.isEmpty || action == "auth" ? "" : "?" + query.joined(separator: "&")))
    }
}
