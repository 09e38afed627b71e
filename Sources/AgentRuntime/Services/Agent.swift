import CameraProbe
import ConfigLoader
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import GPIOAdapter
import Logging
import MQTTAdapter
import ParkGuardCore
import ServiceLifecycle
import SystemCrypto
import UnixSignals

/// Exit codes of `parkguardd`, from `sysexits.h`, one per kind of failure.
public enum ExitCode: Int32, Sendable {
    case ok = 0
    /// Bad command line.
    case usage = 64
    /// A required service (the MQTT library) cannot be set up.
    case unavailable = 69
    /// Internal error.
    case software = 70
    /// A file that must not be replaced (the unit's key) is already there.
    case cannotCreate = 73
    /// The state directory cannot be written.
    case ioError = 74
    /// Bad configuration (file, key, secret file).
    case config = 78
}

/// A start-up failure with its exit code and a message for the technician.
public struct StartupError: Error, CustomStringConvertible {
    public var code: ExitCode
    public var message: String
    public var description: String { message }
}

/// What differs between a field unit and one of the fleet simulator's many units in one process.
public struct AgentEnvironment: Sendable {
    /// The MQTT network loop to share (the fleet's); `nil` gives the unit a loop of its own. The
    /// unit's bell loop, controller and publisher run on it.
    public var network: MosquittoNetworkLoop?
    /// Opens the GPIO chip; `nil` opens what `gpio.backend` in the configuration names.
    public var openBackend: (@Sendable () async throws(GPIOError) -> any GPIOBackend)?
    /// Signals that shut the unit down gracefully (none for a unit inside a fleet).
    public var shutdownSignals: [UnixSignal]
    /// Whether the unit opens its control socket (`controlSocket`); a fleet's units do not.
    public var controlSocket = true

    /// A field unit: its own loop thread, the configured chip, SIGTERM and SIGINT.
    public static let fieldUnit = AgentEnvironment(network: nil, openBackend: nil, shutdownSignals: [.sigterm, .sigint])

    public init(network: MosquittoNetworkLoop?, openBackend: (@Sendable () async throws(GPIOError) -> any GPIOBackend)?,
                shutdownSignals: [UnixSignal]) {
        self.network = network
        self.openBackend = openBackend
        self.shutdownSignals = shutdownSignals
    }
}

/// One assembled agent: its services (MQTT session, bell loop, heartbeat, cameras) in a group,
/// and what to close after them. A service itself, so a fleet runs many in one process.
public struct AgentInstance: Service {
    let group: ServiceGroup
    let finish: @Sendable () -> Void
    let logger: Logger
    let publisher: Publisher

    /// Alarms this unit still holds for delivery (queued, in flight, or awaiting the hub's receipt).
    public func alarmsOutstanding() async -> Int { await publisher.alarmsOutstanding }

    public func run() async throws {
        do {
            try await group.run()
        } catch {
            logger.error("service failed", metadata: ["error": "\(error)"])
        }
        finish()
        logger.notice("parkguardd stopped")
    }
}

/// Builds the agent from a validated configuration and runs it until SIGTERM/SIGINT.
public enum Agent {
    /// Runs the agent; returns when it has shut down.
    /// - Throws: ``StartupError`` for anything that stops it from starting.
    public static func run(config: AgentConfig, logger: Logger) async throws {
        try await assemble(config: config, logger: logger, environment: .fieldUnit).run()
    }

    /// Opens the state, outbox and broker client of `config` and wires the services; nothing
    /// runs until the returned instance does.
    /// - Throws: ``StartupError`` for anything that stops it from starting.
    public static func assemble(config: AgentConfig, logger: Logger, environment: AgentEnvironment) async throws -> AgentInstance {
        let clock = SystemClock()
        let store: UnitStateStore
        do { store = try UnitStateStore(directory: config.stateDirectory, logger: logger) } catch {
            throw StartupError(code: .ioError, message: "state directory: \(error)")
        }
        let bootID = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingWhitespace ?? "unknown"
        let topics = config.topics
        let password = try readSecret(config.broker.passwordFile, key: "broker.passwordFile")
        if let keyFile = config.broker.tls?.keyFile { try checkPrivate(keyFile, key: "broker.tls.keyFile") }
        let authenticator = config.commands.hubKeys.isEmpty && config.commands.requireSignature.isEmpty ? nil
            : try CommandAuthenticator(config: config.commands, unit: "\(config.site)/\(config.unit)",
                                       stateDirectory: config.stateDirectory, clock: clock)
        var cameraCredentials: [String: CameraCredentials] = [:]
        for (index, camera) in config.cameras.enumerated() {
            guard let username = camera.username else { continue }
            let secret = try readSecret(camera.passwordFile, key: "cameras[\(index)].passwordFile") ?? ""
            cameraCredentials[camera.id] = CameraCredentials(username: username, password: secret)
        }
        var will = StatusPayload(online: false, site: config.site, unit: config.unit, version: ParkGuardVersion.current, bootID: bootID,
                                 session: store.session, stamp: clock.stamp(), reason: "connection lost")
        will.location = config.location
        let willPayload = PayloadEncoder.encode(will)
        let broker = config.broker
        let settings = MQTTSettings(
            host: broker.host, port: broker.port, clientID: broker.clientID, mqtt5: broker.protocolVersion == .mqtt5,
            keepalive: broker.keepalive, username: broker.username, password: password, caFile: broker.tls?.caFile,
            certFile: broker.tls?.certFile, keyFile: broker.tls?.keyFile, verifyHostname: broker.tls?.verifyHostname ?? true,
            reconnectInitial: broker.reconnectInitial, reconnectMax: broker.reconnectMax, maxInflight: broker.maxInflight,
            will: (topics.status, willPayload))
        let client: MosquittoClient
        let network: MosquittoNetworkLoop
        do throws(MQTTError) {
            if let shared = environment.network { network = shared } else { network = try MosquittoNetworkLoop() }
            client = try MosquittoClient(settings: settings, network: network, logger: logger)
        } catch {
            throw StartupError(code: error.code == 8 || error.code == 3 ? .config : .unavailable, message: "MQTT setup: \(error)")
        }
        let (faults, faultSink) = AsyncStream.makeStream(of: String?.self)
        let (outbox, recovery) = Outbox.open(path: config.outbox.path, logger: logger) { faultSink.yield($0) }
        let publisher = Publisher(client: client, loop: network, topics: topics, clock: clock, maxInflight: broker.maxInflight,
                                  maxQueued: config.outbox.maxRecords, maxBytes: config.outbox.maxBytes,
                                  maxSnapshotBytes: config.snapshots?.queueBytes, outbox: outbox,
                                  protocolName: broker.protocolVersion.rawValue, delivery: config.delivery, logger: logger)
        // What a previous run left unsent goes out first, in its original order.
        await publisher.restore(recovery.messages.compactMap { Outgoing(id: $0.id, restoring: $0.message) })
        let cameraHealth = CameraHealthBoard()
        // The certificate's expiry goes into every status, so the hub warns before it lapses.
        let certificateExpires = config.broker.tls?.certFile.flatMap { try? UnitCertificate.inspect(certificate: $0, caFile: nil).expiresAt }
        let controller = AgentController(config: config, clock: clock, publisher: publisher, store: store,
                                         version: ParkGuardVersion.current, bootID: bootID, cameraHealth: cameraHealth,
                                         certificateExpires: certificateExpires, logger: logger)
        await publisher.setOnConnect { awaiting in await controller.retainedSnapshot(awaitingReceipt: awaiting) }
        let inbox = AgentInbox()
        // A self-test changes the controller's deadline outside the bell loop: the loop is woken to set its timer.
        await controller.setWake { [inbox] in inbox.post(.tick) }
        let notifier = SystemdNotifier()
        let gpio = config.gpio
        let configuredBackend: @Sendable () async throws(GPIOError) -> any GPIOBackend = { () async throws(GPIOError) -> any GPIOBackend in
            switch gpio.backend {
            case .gpiod(let chip): try GPIODChip(chip: chip, consumer: gpio.consumer)
            case .sim(let socket): try await SimGPIOClient(socketPath: socket, consumer: gpio.consumer)
            }
        }
        let openBackend = environment.openBackend ?? configuredBackend
        logger.notice("parkguardd starting", metadata: [
            "version": "\(ParkGuardVersion.current)", "site": "\(config.site)", "unit": "\(config.unit)",
            "session": "\(store.session)", "bells": "\(config.bells.count)",
            "broker": "\(broker.host):\(broker.port)", "protocol": "\(broker.protocolVersion.rawValue)",
        ])
        await controller.announce(.started, "parkguardd \(ParkGuardVersion.current) started",
                                  data: ["session": "\(store.session)", "bootId": bootID])
        if let note = store.recoveryNote {
            logger.error("\(note)")
            await controller.announce(.storageFault, note)
        }
        await announce(recovery, controller: controller, logger: logger)
        let session = MQTTSession(client: client, publisher: publisher, controller: controller, inbox: inbox, topics: topics,
                                  bells: Set(config.bells.map(\.id)), authenticator: authenticator, clock: clock, logger: logger)
        let (selfTestTriggers, selfTestSink) = AsyncStream.makeStream(of: SelfTestTrigger.self, bufferingPolicy: .bufferingNewest(4))
        let selfTests = SelfTestService(config: config, controller: controller, publisher: publisher, clock: clock,
                                        triggers: selfTestTriggers, sink: selfTestSink, logger: logger)
        let loop = BellLoop(controller: controller, publisher: publisher, inbox: inbox, openBackend: openBackend,
                            clock: clock, notifier: notifier, selfTests: selfTestSink, logger: logger)
        let heartbeat = Heartbeat(publisher: publisher, controller: controller, outbox: outbox, storageFaults: faults, topics: topics,
                                  interval: config.heartbeatInterval, diskPath: config.stateDirectory, clock: clock, started: clock.now())
        let cameras = CameraMonitor(cameras: config.cameras, credentials: cameraCredentials, config: config.cameraHealth,
                                    board: cameraHealth, publisher: publisher, topics: topics, clock: clock, logger: logger)
        let camerasByID = Dictionary(config.cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var snapshots: CameraSnapshots?
        var snapshotSink: AsyncStream<CameraSnapshots.Request>.Continuation?
        if let snapshotConfig = config.snapshots {
            let (requests, sink) = AsyncStream.makeStream(of: CameraSnapshots.Request.self, bufferingPolicy: .bufferingNewest(64))
            snapshotSink = sink
            await controller.setCameraSnapshots(sink)
            snapshots = CameraSnapshots(cameras: camerasByID, credentials: cameraCredentials, requests: requests, config: snapshotConfig,
                                        health: config.cameraHealth, publisher: publisher, controller: controller, topics: topics,
                                        clock: clock, logger: logger)
        }
        let (motionRequests, motionSink) = AsyncStream.makeStream(of: CameraMotion.Request.self, bufferingPolicy: .bufferingNewest(64))
        await controller.setCameraMotion(motionSink)
        let motion = CameraMotion(cameras: camerasByID, credentials: cameraCredentials, requests: motionRequests, sink: motionSink,
                                  controller: controller, snapshots: snapshotSink, config: config.cameraHealth, clock: clock, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: session, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "mqtt"),
            .init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "bells"),
            .init(service: heartbeat, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "heartbeat"),
            .init(service: cameras, successTerminationBehavior: .ignore, serviceName: "cameras"),
            .init(service: motion, successTerminationBehavior: .ignore, serviceName: "camera-motion"),
            .init(service: selfTests, successTerminationBehavior: .ignore, serviceName: "self-test"),
        ]
        if let snapshots {
            services.append(.init(service: snapshots, successTerminationBehavior: .ignore, serviceName: "camera-snapshots"))
        }
        if environment.controlSocket, let path = config.controlSocket {
            services.append(.init(service: ControlSocket(path: path, controller: controller, selfTest: { await selfTests.runOnce(.doctor) },
                                                         logger: logger),
                                  successTerminationBehavior: .ignore, serviceName: "control"))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: environment.shutdownSignals,
            cancellationSignals: [],
            logger: logger))
        return AgentInstance(group: group, finish: {
            notifier.notify("STOPPING=1")
            faultSink.finish()
            outbox.close()
        }, logger: logger, publisher: publisher)
    }

    /// Reports what opening the outbox found on `event`.
    static func announce(_ recovery: Outbox.Recovery, controller: AgentController, logger: Logger) async {
        if let reason = recovery.unusable {
            logger.critical("outbox unusable: alarms are kept in memory only", metadata: ["error": "\(reason)"])
            await controller.announce(.storageFault, "outbox unusable: \(reason); alarms are kept in memory only")
        }
        if let reason = recovery.setAside {
            logger.error("\(reason)")
            await controller.announce(.outboxRecovered, reason, data: ["records": "0", "quarantinedBytes": "0"])
        } else if recovery.recordsRead > 0 || recovery.quarantinedBytes > 0 {
            var data = ["records": "\(recovery.messages.count)", "quarantinedBytes": "\(recovery.quarantinedBytes)"]
            data["quarantine"] = recovery.quarantinePath
            let message = recovery.quarantinedBytes > 0
                ? "outbox recovered \(recovery.messages.count) unsent message(s); \(recovery.quarantinedBytes) damaged byte(s) quarantined"
                : "outbox recovered \(recovery.messages.count) unsent message(s)"
            logger.notice("\(message)")
            await controller.announce(.outboxRecovered, message, data: data)
        }
    }

    /// Refuses a secret file (password, private key) that others can read.
    static func checkPrivate(_ path: String, key: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw StartupError(code: .config, message: "\(key) \(path): \(String(cString: strerror(errno)))")
        }
        // Group read is allowed: the package installs secrets root:parkguard 0640.
        if info.st_mode & 0o007 != 0 {
            throw StartupError(code: .config, message: "\(key) \(path): permissions \(String(info.st_mode & 0o777, radix: 8)) let others read it; chmod 600 it (or 640 with a group only the service user is in)")
        }
    }

    /// Reads a secret file, refusing one that others can read.
    static func readSecret(_ path: String?, key: String) throws -> String? {
        guard let path else { return nil }
        try checkPrivate(path, key: key)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StartupError(code: .config, message: "\(key) \(path): cannot be read as UTF-8 text")
        }
        // Line breaks only: a space may be part of a password.
        return String(text.drop { $0.isNewline }.reversed().drop { $0.isNewline }.reversed())
    }
}
