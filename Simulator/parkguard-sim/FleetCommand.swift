import ArgumentParser
import FleetKit
import Foundation
import Logging
import ParkGuardCore

/// `parkguard-sim fleet`: N real agents in one process against one broker.
struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Run many virtual units (each a real agent runtime) against one broker.",
        discussion: """
        Every unit is the agent's own runtime (bell state machines, publisher, durable outbox, heartbeat, \
        camera monitor) with a virtual chip of its own; all units share one MQTT network thread. Units start \
        evenly over the ramp, then presses follow the scenario: --rate presses per second at random units, and \
        with --storm-after a storm that presses --storm-fraction of the units at once. A mass reconnect is \
        what happens when the broker restarts under a running fleet (parkguard-bench does that and times it). \
        At the end, the units shut down cleanly and the run's report (presses per unit) is printed as JSON.
        """)

    @Option(help: "Number of units.")
    var units = 100

    @Option(help: "Number of the first unit (to split one site over several fleet processes).")
    var firstUnit = 0

    @Option(help: "The broker, host:port.")
    var broker = "127.0.0.1:1883"

    @Option(help: "Site id of the fleet's units (topics parkguard/v1/SITE/uNNNNN/...).")
    var site = "fleet"

    @Option(help: "Directory for the units' state and outboxes (default: a new temporary directory, removed at the end).")
    var stateDir: String?

    @Option(help: "Seconds over which the units start (default: units / 500).")
    var ramp: Double?

    @Option(help: "Heartbeat interval of every unit, seconds.")
    var heartbeat = 30

    @Option(help: "Simulated cameras shared by the fleet (unit i probes camera i % N; 0: none).")
    var cameras = 16

    @Option(help: "Seconds between probes of each unit's camera.")
    var cameraInterval = 300

    @Option(help: "Presses per second over the whole fleet.")
    var rate = 2.0

    @Option(help: "Seconds after the ramp when a storm presses a fraction of the units at once.")
    var stormAfter: Double?

    @Option(help: "Fraction of the units a storm presses.")
    var stormFraction = 0.1

    @Option(help: "Seconds the fleet runs after the ramp (0: until SIGTERM).")
    var duration = 60.0

    @Option(help: "Seconds before the end when presses stop, so every alarm is delivered before the units shut down.")
    var drain = 5.0

    @Option(help: "Seed of the press scenario.")
    var seed: UInt64 = 1

    @Option(help: "Log level of the units: trace, debug, info, notice, warning, error, critical.")
    var unitLogLevel = "error"

    @Option(help: "Also write the report here.")
    var report: String?

    @Option(help: "What retires the units' alarms: receipt (the hub's receipt, the default) or puback (the broker's, for runs without a hub).")
    var retireOn = "receipt"

    @Option(help: "Seconds a unit waits for a receipt before publishing an alarm again (doubling up to --receipt-timeout-max).")
    var receiptTimeout = 10.0

    @Option(help: "Longest wait for a receipt between two publications of an alarm, seconds.")
    var receiptTimeoutMax = 120.0

    @Option(help: "After the run, wait up to this many seconds until no unit holds an alarm (all receipted); 0: do not wait.")
    var settle = 0.0

    @Option(help: "Append 'WALL-MS OUTSTANDING' lines here every half second (the alarms the units hold).")
    var progress: String?

    @Option(help: ArgumentHelp("Mutual TLS: a directory with one bundle per unit (DIR/UNIT/tls/ca.crt, unit.crt, unit.key), as `parkguard-provision unit create --out DIR/UNIT` writes them; --broker must then name the host in the broker's certificate.", valueName: "dir"))
    var tlsBundles: String?

    func validate() throws {
        guard (1 ... 100_000).contains(units) else { throw ValidationError("--units must be from 1 to 100000") }
        guard (0 ... 99_999).contains(firstUnit) else { throw ValidationError("--first-unit must be from 0 to 99999") }
        guard brokerEndpoint != nil else { throw ValidationError("--broker must be host:port, like 127.0.0.1:1883; got '\(broker)'") }
        guard (1 ... 3600).contains(heartbeat) else { throw ValidationError("--heartbeat must be from 1 to 3600 seconds") }
        guard (0 ... 1024).contains(cameras) else { throw ValidationError("--cameras must be from 0 to 1024") }
        guard cameraInterval >= 1 else { throw ValidationError("--camera-interval must be at least 1 second") }
        guard rate >= 0, rate <= 1000 else { throw ValidationError("--rate must be from 0 to 1000 presses per second") }
        guard (0 ... 1).contains(stormFraction) else { throw ValidationError("--storm-fraction must be from 0 to 1") }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        guard Logger.Level(rawValue: unitLogLevel) != nil else { throw ValidationError("--unit-log-level: unknown level '\(unitLogLevel)'") }
        guard retireOn == "receipt" || retireOn == "puback" else { throw ValidationError("--retire-on must be receipt or puback") }
        guard (1 ... 600).contains(receiptTimeout) else { throw ValidationError("--receipt-timeout must be from 1 to 600 seconds") }
        guard receiptTimeoutMax >= receiptTimeout, receiptTimeoutMax <= 3600 else {
            throw ValidationError("--receipt-timeout-max must be from --receipt-timeout to 3600 seconds")
        }
        guard (0 ... 86_400).contains(settle) else { throw ValidationError("--settle must be from 0 to 86400 seconds") }
        if let tlsBundles {
            // Every unit's bundle, before any unit starts: a missing one would only show as a
            // unit that never connects.
            for index in firstUnit ..< firstUnit + units {
                let unit = FleetPlan.unitID(index)
                for file in ["ca.crt", "unit.crt", "unit.key"] where !FileManager.default.isReadableFile(atPath: "\(tlsBundles)/\(unit)/tls/\(file)") {
                    throw ValidationError("--tls-bundles \(tlsBundles): \(unit)/tls/\(file) cannot be read")
                }
            }
        }
    }

    private var brokerEndpoint: (host: String, port: Int)? { HostPort.parse(broker) }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .notice
            return handler
        }
        let logger = Logger(label: "parkguard-sim.fleet")
        let (host, port) = brokerEndpoint!
        let temporary = stateDir == nil
        let directory = stateDir ?? NSTemporaryDirectory() + "parkguard-fleet-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(atPath: directory) } }
        var plan = FleetPlan(units: units, firstUnit: firstUnit, site: site, brokerHost: host, brokerPort: port, stateDirectory: directory, rampSeconds: ramp,
                             heartbeatSeconds: heartbeat, cameras: cameras, cameraIntervalSeconds: cameraInterval, pressRate: rate,
                             stormAfterSeconds: stormAfter, stormFraction: stormFraction,
                             durationSeconds: duration == 0 ? Double(Int32.max) : duration, drainSeconds: drain, seed: seed, unitLogLevel: unitLogLevel)
        plan.retireOn = retireOn
        plan.receiptTimeoutMilliseconds = Int(receiptTimeout * 1000)
        plan.receiptTimeoutMaxMilliseconds = Int(receiptTimeoutMax * 1000)
        plan.settleSeconds = settle
        plan.progressPath = progress
        plan.tlsBundles = tlsBundles
        logger.notice("fleet starting", metadata: ["units": "\(units)", "broker": "\(broker)", "ramp": "\(plan.rampSeconds)s"])
        let result: FleetReport
        do {
            result = try await Fleet(plan: plan, logger: logger).run()
        } catch let error as FleetError {
            FileHandle.standardError.write(Data("parkguard-sim fleet: \(error)\n".utf8))
            throw ExitCode(78)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(result)
        if let report { try data.write(to: URL(fileURLWithPath: report)) }
        FileHandle.standardOutput.write(data + Data("\n".utf8))
        logger.notice("fleet stopped", metadata: ["started": "\(result.started)", "presses": "\(result.presses)"])
        if result.started < result.units { throw ExitCode(1) }
    }
}
