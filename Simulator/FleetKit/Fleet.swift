import AgentRuntime
import ConfigLoader
import Foundation
import GPIOAdapter
import Logging
import MQTTAdapter
import ParkGuardCore
import ServiceLifecycle
import SimulatorKit
import UnixSignals

/// What a fleet run did: the figures an observer checks the broker's side against.
public struct FleetReport: Codable, Sendable {
    public var units: Int
    public var started: Int
    /// The first few start-up failures (the count is `units - started`).
    public var startFailures: [String]
    public var presses: Int
    public var stormPresses: Int
    public var pressesByUnit: [String: Int]
    /// Seconds from the first unit's start to the last one's.
    public var rampSeconds: Double
    public var openFileLimit: Int
    /// CPU time (user + system) of the whole fleet process, and its peak resident memory.
    public var cpuSeconds: Double
    public var peakRSSKiB: Int
    /// Alarms the units still held when they shut down (queued, in flight or awaiting a
    /// receipt), and how long the settle phase waited for that to reach 0.
    public var alarmsOutstandingAtEnd: Int?
    public var settleSeconds: Double?
}

/// N real agents in one process: each unit is an ``AgentInstance`` assembled from its own
/// configuration (bell state machines, publisher, durable outbox, heartbeat, camera monitor),
/// with a ``VirtualChip`` of its own behind an ``InProcessGPIO``. All MQTT clients share one
/// ``MosquittoNetworkLoop`` thread; the simulated cameras are shared by the units.
public final class Fleet: Sendable {
    private let plan: FleetPlan
    private let logger: Logger
    private let chips: [VirtualChip]
    private let tally = Locked(Tally())
    private let instances = Locked<[AgentInstance]>([])
    private let settled = Locked<(outstanding: Int, seconds: Double)?>(nil)

    private struct Tally {
        var started = 0
        var failures: [String] = []
        var presses: [Int] = []
        var stormPresses = 0
        var holding: Set<Int> = []
        var firstStart: ContinuousClock.Instant?
        var lastStart: ContinuousClock.Instant?
    }

    public init(plan: FleetPlan, logger: Logger) {
        self.plan = plan
        self.logger = logger
        chips = (0 ..< plan.units).map { VirtualChip(label: "fleet-\(plan.unitID(local: $0))", lineCount: 24) }
        tally.withLock { $0.presses = Array(repeating: 0, count: plan.units) }
    }

    /// Runs the fleet until its duration has passed or SIGTERM/SIGINT; every unit then shuts
    /// down cleanly (publishing `offline`). Returns what was pressed.
    public func run() async throws -> FleetReport {
        let fileLimit = raiseOpenFileLimit()
        // One network loop per core: each loop is also the executor of its units' bell loops,
        // controllers and publishers, so one loop for all would put the whole fleet on one thread.
        let networks = try (0 ..< max(1, ProcessInfo.processInfo.activeProcessorCount)).map { _ in try MosquittoNetworkLoop() }
        let cameraPorts = (0 ..< plan.cameras).map { _ in (rtsp: loopbackFreePort(), http: loopbackFreePort()) }
        var configs: [AgentConfig] = []
        configs.reserveCapacity(plan.units)
        for index in 0 ..< plan.units {
            let yaml = plan.agentYAML(index: index, cameraPorts: cameraPorts)
            do {
                configs.append(try ConfigFile.parse(yaml, file: "fleet/\(plan.unitID(local: index)).yaml"))
            } catch {
                throw FleetError("unit \(index)'s generated configuration is invalid: \(error)")
            }
        }
        let cameras = configs.prefix(plan.cameras).compactMap { $0.cameras.first }
            .map { VirtualCamera(config: $0, password: nil, auth: .none) }
        let ramp = Duration.milliseconds(Int(plan.rampSeconds * 1000))
        let units = UnitStarter(fleet: self, configs: configs, networks: networks, ramp: ramp)
        let presses = PressDriver(fleet: self, ramp: ramp)
        let timer = FleetTimer(fleet: self, duration: ramp + .milliseconds(Int(plan.durationSeconds * 1000)))
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: CameraServers(cameras: cameras, logger: logger), successTerminationBehavior: .ignore),
                .init(service: units),
                .init(service: presses, successTerminationBehavior: .ignore),
                .init(service: timer, successTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: ProgressWriter(fleet: self), successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger))
        try await group.run()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return tally.withLock { tally in
            var byUnit: [String: Int] = [:]
            for (index, count) in tally.presses.enumerated() where count > 0 { byUnit[plan.unitID(local: index)] = count }
            let rampTaken = tally.firstStart.flatMap { first in tally.lastStart.map { Double((first.duration(to: $0)).milliseconds) / 1000 } } ?? 0
            let settle = settled.withLock { $0 }
            return FleetReport(units: plan.units, started: tally.started, startFailures: Array(tally.failures.prefix(5)),
                               presses: tally.presses.reduce(0, +), stormPresses: tally.stormPresses, pressesByUnit: byUnit,
                               rampSeconds: rampTaken, openFileLimit: fileLimit, cpuSeconds: cpu, peakRSSKiB: usage.ru_maxrss,
                               alarmsOutstandingAtEnd: settle?.outstanding, settleSeconds: settle?.seconds)
        }
    }

    // MARK: Parts

    /// Starts unit `i` at `i/N` of the ramp and runs it until the group shuts down.
    private struct UnitStarter: Service {
        let fleet: Fleet
        let configs: [AgentConfig]
        let networks: [MosquittoNetworkLoop]
        let ramp: Duration

        func run() async throws {
            let start = ContinuousClock.now
            let count = configs.count
            await withDiscardingTaskGroup { group in
                for (index, config) in configs.enumerated() {
                    let due = start + ramp * (Double(index) / Double(max(1, count)))
                    guard (try? await Task.sleep(until: due)) != nil, !isShuttingDown else { break }
                    let instance: AgentInstance
                    do {
                        instance = try await fleet.assemble(index: index, config: config, network: networks[index % networks.count])
                    } catch {
                        fleet.tally.withLock { $0.failures.append("\(fleet.plan.unitID(local: index)): \(error)") }
                        continue
                    }
                    group.addTask { try? await instance.run() }
                }
            }
        }

        private var isShuttingDown: Bool { Task.isShuttingDownGracefully }
    }

    private func assemble(index: Int, config: AgentConfig, network: MosquittoNetworkLoop) async throws -> AgentInstance {
        let chip = chips[index]
        let consumer = config.gpio.consumer
        var unitLogger = Logger(label: "fleet.\(config.unit)")
        unitLogger.logLevel = Logger.Level(rawValue: plan.unitLogLevel) ?? .error
        var environment = AgentEnvironment(network: network, openBackend: { InProcessGPIO(chip: chip, consumer: consumer) },
                                           shutdownSignals: [])
        environment.controlSocket = false
        let instance = try await Agent.assemble(config: config, logger: unitLogger, environment: environment)
        instances.withLock { $0.append(instance) }
        tally.withLock { tally in
            tally.started += 1
            let now = ContinuousClock.now
            if tally.firstStart == nil { tally.firstStart = now }
            tally.lastStart = now
        }
        return instance
    }

    /// Presses bell 1 of `index`'s unit for the plan's hold time; false if it is already held
    /// or the unit's bell line is not requested (the unit is not running).
    private func press(_ index: Int, storm: Bool) -> Bool {
        let claimed = tally.withLock { $0.holding.insert(index).inserted }
        guard claimed else { return false }
        let chip = chips[index]
        guard chip.lines()[1].consumer != nil, (try? chip.setContact(line: 1, active: true)) == true else {
            tally.withLock { _ = $0.holding.remove(index) }
            return false
        }
        tally.withLock { tally in
            tally.presses[index] += 1
            if storm { tally.stormPresses += 1 }
        }
        let hold = Duration.milliseconds(plan.holdMilliseconds)
        Task { [self] in
            try? await Task.sleep(for: hold)
            _ = try? chip.setContact(line: 1, active: false)
            // The contact stays open a moment before it may be pressed again: two presses in one
            // debounce window would be one press, as on a real bell.
            try? await Task.sleep(for: .milliseconds(200))
            tally.withLock { _ = $0.holding.remove(index) }
        }
        return true
    }

    /// The press scenario: a steady rate at random units, and optionally one storm.
    private struct PressDriver: Service {
        let fleet: Fleet
        let ramp: Duration

        func run() async throws {
            let plan = fleet.plan
            let begin = ContinuousClock.now + ramp + .seconds(2)
            let end = begin - .seconds(2) + .milliseconds(Int((plan.durationSeconds - plan.drainSeconds) * 1000))
            try await untilGracefulShutdown { [fleet] in
                var random = SeededRandom(seed: plan.seed)
                var storm = plan.stormAfterSeconds.map { begin + .milliseconds(Int($0 * 1000)) }
                try await Task.sleep(until: begin)
                var next = begin
                while ContinuousClock.now < end {
                    if let due = storm, ContinuousClock.now >= due {
                        storm = nil
                        let count = max(1, Int(Double(plan.units) * plan.stormFraction))
                        var chosen = Set<Int>()
                        while chosen.count < count { chosen.insert(Int(random.next() % UInt64(plan.units))) }
                        for index in chosen.sorted() { _ = fleet.press(index, storm: true) }
                    }
                    if plan.pressRate > 0 {
                        _ = fleet.press(Int(random.next() % UInt64(plan.units)), storm: false)
                        next = next + .milliseconds(max(1, Int(1000 / plan.pressRate)))
                    } else {
                        next = next + .milliseconds(100)
                    }
                    try await Task.sleep(until: min(next, end))
                }
            }
        }
    }

    /// Appends `wall-ms outstanding` lines to the plan's progress file every half second.
    private struct ProgressWriter: Service {
        let fleet: Fleet
        func run() async throws {
            guard let path = fleet.plan.progressPath else { return }
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: path) else { return }
            defer { try? handle.close() }
            @Sendable func sample() async {
                let outstanding = await fleet.alarmsOutstanding()
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try? handle.write(contentsOf: Data("\(now) \(outstanding)\n".utf8))
            }
            try await untilGracefulShutdown {
                while true {
                    await sample()
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            await sample()  // the state the units shut down in
        }
    }

    /// Alarms every running unit still holds.
    func alarmsOutstanding() async -> Int {
        var total = 0
        for instance in instances.withLock({ $0 }) { total += await instance.alarmsOutstanding() }
        return total
    }

    /// Ends the run after its duration, and after the settle phase: until no unit holds an
    /// alarm (every one receipted), or `settleSeconds` have passed.
    private struct FleetTimer: Service {
        let fleet: Fleet
        let duration: Duration
        func run() async throws {
            try await untilGracefulShutdown { [fleet] in
                try await Task.sleep(for: duration)
                guard fleet.plan.settleSeconds > 0 else { return }
                let start = ContinuousClock.now
                let deadline = start + .milliseconds(Int(fleet.plan.settleSeconds * 1000))
                var outstanding = await fleet.alarmsOutstanding()
                while outstanding > 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(250))
                    outstanding = await fleet.alarmsOutstanding()
                }
                let seconds = Double(start.duration(to: .now).milliseconds) / 1000
                fleet.settled.withLock { $0 = (outstanding, seconds) }
            }
        }
    }
}

/// A fleet that cannot be set up.
public struct FleetError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Every unit holds a few descriptors (its broker socket and libmosquitto's wake-up socket pair,
/// its outbox): raise the soft limit to the hard one, and the hard one too where allowed.
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    var wanted = rlimit(rlim_cur: 1 << 20, rlim_max: 1 << 20)
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &wanted) == 0 { return Int(wanted.rlim_cur) }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}

/// A loopback TCP port the kernel just handed out and released.
func loopbackFreePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
