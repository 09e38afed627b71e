import Foundation
import ParkGuardTestKit
import Testing

/// One simulated park unit: a broker, the real `parkguard-sim` and the real `parkguardd`, with
/// an independent subscriber watching everything the unit publishes.
final class Unit: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    let directory: ScratchDirectory
    let broker: Broker
    /// The unit's district when it runs as deployed (its own certificate, mutual TLS on the
    /// broker `parkguard-provision` renders, confined by its ACL); nil on an open broker.
    let district: ProvisionedDistrict?
    let proxy: LinkProxy?
    let subscriber: Subscriber
    let simulator: Child
    let controlAddress: String
    let configPath: String
    /// The daemon's control socket (`parkguardd doctor` asks it while the daemon runs).
    var controlSocket: String { directory.file("state.control.sock") }
    private(set) var agent: Child?
    let root = "parkguard/v1/test-park/unit-1"
    private var agentRuns = 0

    /// - Parameters:
    ///   - mqtt5: the agent's protocol (`false` = MQTT 3.1.1).
    ///   - extraConfig: YAML appended to the generated config.
    ///   - persistent: the broker keeps sessions on disk and the subscriber's session is persistent,
    ///     so the subscriber misses nothing across a broker crash.
    ///   - viaProxy: the agent reaches the broker through a ``LinkProxy`` the test can cut.
    ///   - secured: a provisioned district: the unit, the subscriber and the hub connect over
    ///     mutual TLS to the rendered broker (the subscriber and the hub as the hub identity).
    ///   - edit: changes to the generated configuration text.
    ///   - simArguments: more arguments for `parkguard-sim serve` (a scenario file, say).
    init(mqtt5: Bool = true, startAgent: Bool = true, persistent: Bool = false, viaProxy: Bool = false, secured: Bool = false,
         simArguments: [String] = [], edit: (String) -> String = { $0 }) async throws {
        precondition(!(secured && (viaProxy || persistent)), "a secured unit runs on the rendered broker as it is")
        directory = try ScratchDirectory()
        if secured {
            let district = try await ProvisionedDistrict(in: directory)
            try await district.addUnits(site: "test-park", ["unit-1"])
            self.district = district
            broker = try await district.broker()
        } else {
            district = nil
            broker = try await Broker(in: directory, persistent: persistent)
        }
        proxy = viaProxy ? try LinkProxy(upstreamPort: broker.port) : nil
        subscriber = try await Subscriber(broker: broker, in: directory, persistent: persistent,
                                          host: district == nil ? "127.0.0.1" : "localhost", tls: Self.clientTLS(district))
        configPath = directory.file("agent.yaml")
        try edit(Self.config(brokerPort: proxy?.port ?? broker.port, socket: directory.file("gpio.sock"),
                             state: directory.file("state"), mqtt5: mqtt5, cameraPorts: (freePort(), freePort()),
                             tlsBundle: district.map { $0.bundles("test-park") + "/unit-1" }))
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        simulator = try Child(Products.path("parkguard-sim"),
                              ["serve", "--agent-config", configPath, "--socket", directory.file("gpio.sock"), "--listen", "127.0.0.1:0"] + simArguments,
                              in: directory, name: "sim")
        var address: String?
        _ = try await eventually(timeout: .seconds(10)) { [simulator] in
            address = simulator.stdout.split(separator: "\n").first { $0.hasPrefix("control api: http://") }
                .map { String($0.dropFirst("control api: http://".count)) }
            return address != nil && simulator.stdout.contains("gpio socket:")
        }
        guard let address else { throw HarnessError("simulator did not start: \(simulator.stderr)") }
        controlAddress = address
        if startAgent { try await start() }
    }

    /// mosquitto_sub/pub options for the hub identity of `district` (none on an open broker).
    static func clientTLS(_ district: ProvisionedDistrict?) -> [String] {
        district.map { ["--cafile", $0.caFile, "--cert", $0.hubCertFile, "--key", $0.hubKeyFile] } ?? []
    }

    /// The hub's `--broker` and TLS options for this unit's broker.
    var hubBrokerArguments: [String] {
        guard let district else { return ["--broker", "127.0.0.1:\(broker.port)"] }
        return ["--broker", "localhost:\(broker.port)"] + district.hubTLSArguments
    }

    /// - Parameter tlsBundle: the unit's bundle from `parkguard-provision unit create`: mutual TLS
    ///   with its certificate, to `localhost` (the name in the rendered broker's certificate).
    static func config(brokerPort: Int, socket: String, state: String, mqtt5: Bool,
                       cameraPorts: (rtsp: Int, http: Int) = (freePort(), freePort()), tlsBundle: String? = nil) -> String {
        let tls = tlsBundle.map { "\n  tls:\n    caFile: \($0)/tls/ca.crt\n    certFile: \($0)/tls/unit.crt\n    keyFile: \($0)/tls/unit.key" } ?? ""
        return """
        site: test-park
        unit: unit-1
        broker:
          host: \(tlsBundle == nil ? "127.0.0.1" : "localhost")
          port: \(brokerPort)
          protocol: \(mqtt5 ? "mqtt5" : "mqtt311")
          clientId: parkguard-test-\(brokerPort)-\(getpid())
          reconnectInitial: 200ms
          reconnectMax: 1s\(tls)
        gpio:
          backend: sim
          socket: \(socket)
        cameras:
          - id: cam-1
            host: 127.0.0.1
            rtsp: { port: \(cameraPorts.rtsp), path: /stream1 }
            onvif: { port: \(cameraPorts.http) }
            snapshot: { port: \(cameraPorts.http) }
            interval: 2s
        location: {latitude: 37.5665, longitude: 126.978, description: "north gate"}
        bells:
          - id: b1
            location: {latitude: 37.56702, longitude: 126.97695, description: "north gate, beside the toilets"}
            line: 1
            debounce: 20ms
            holdAfter: 3s
            stuckAfter: 6s
            acknowledgedFor: 2s
            cameras:
              - id: cam-1
                preset: gate
          - id: b2
            line: 2
          - id: b3
            line: 3
          - id: b4
            line: 4
        inputs:
          - id: t1
            kind: tamper
            line: 10
            bell: b1
        outputs:
          - id: strobe
            role: strobe
            line: 20
          - id: siren
            role: siren
            line: 21
          - id: accepted-b1
            role: callAccepted
            line: 22
            bells: [b1]
        heartbeatInterval: 2s
        stateDirectory: \(state)
        controlSocket: \(state).control.sock
        # No hub runs in these tests: the broker's PUBACK retires alarms (the receipt tests run a hub).
        delivery: {retireOn: puback}
        """
    }

    /// Starts the agent and waits for its retained `online` status (or only for its lines, when
    /// the broker is out of reach).
    func start(expectOnline: Bool = true) async throws {
        agentRuns += 1
        let skip = subscriber.messages.count
        agent = try Child(Products.path("parkguardd"), ["--config", configPath, "--log-level", "debug"], in: directory, name: "agent-\(agentRuns)")
        if expectOnline {
            _ = try await subscriber.wait(skipping: skip, "status online") { $0.topic == "\(root)/status" && $0.string("state") == "online" }
        }
        // The lines are requested right after start; wait until the simulator shows them.
        _ = try await eventually { (try? await self.lines().contains { $0["consumer"] as? String == "parkguardd" }) ?? false }
    }

    /// Runs a `parkguard-sim` control verb against this unit's simulator.
    @discardableResult
    func sim(_ arguments: String...) async throws -> String { try await sim(arguments) }

    @discardableResult
    func sim(_ arguments: [String]) async throws -> String {
        let result = try await run(Products.path("parkguard-sim"), arguments + ["--control", controlAddress])
        guard result.status == 0 else {
            throw HarnessError("parkguard-sim \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)\(result.error)"
                               + "\nsimulator running: \(simulator.process.isRunning); its log:\n\(simulator.stderr.suffix(3000))")
        }
        return result.output
    }

    func lines() async throws -> [[String: Any]] {
        let output = try await sim("lines")
        return (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]]) ?? []
    }

    /// Whether the named output is on, as the simulator sees the pin.
    func output(_ name: String) async throws -> Bool {
        try await outputs(name)[0]
    }

    /// Whether each named output is on, from one reading of the lines.
    func outputs(_ names: String...) async throws -> [Bool] {
        let lines = try await lines()
        return names.map { name in lines.first { $0["name"] as? String == name }?["on"] as? Bool ?? false }
    }

    /// Publishes a command as the hub would.
    func command(_ name: String, _ payload: String, correlationData: String? = nil, mqtt5: Bool = true) async throws {
        try await publish(broker: broker, topic: "\(root)/cmd/\(name)", payload: payload, correlationData: correlationData, mqtt5: mqtt5,
                          host: district == nil ? "127.0.0.1" : "localhost", tls: Self.clientTLS(district))
    }

    /// Waits for an alarm of `kind` on `bell`, after `skipping` earlier messages.
    func alarm(_ kind: String, bell: String = "b1", skipping: Int = 0, timeout: Duration = .seconds(10)) async throws -> Received {
        try await subscriber.wait(timeout: timeout, skipping: skipping, "\(kind) alarm on \(bell)") {
            $0.topic == "\(root)/bell/\(bell)/alarm" && $0.string("kind") == kind
        }
    }

    func alarms() -> [Received] { subscriber.messages.filter { $0.topic.hasSuffix("/alarm") } }

    /// The ids of every alarm the agent logged as raised, over all its runs. The agent logs an
    /// alarm only once it is handed over and written to its outbox.
    func loggedAlarmIDs() -> [String] {
        (1 ... max(1, agentRuns)).flatMap { run -> [String] in
            let log = (try? String(contentsOfFile: directory.file("agent-\(run).err"), encoding: .utf8)) ?? ""
            return log.split(separator: "\n").filter { $0.contains(": bell ") }.compactMap { line in
                line.range(of: "id=").map { String(line[$0.upperBound...].prefix(36)) }
            }
        }
    }

    /// Waits until every logged alarm id has reached the subscriber; returns (lost, duplicates).
    func deliveryReport(timeout: Duration = .seconds(60)) async throws -> (logged: Int, lost: [String], duplicates: Int) {
        var missing: [String] = []
        _ = try await eventually(timeout: timeout) {
            let received = Set(alarms().compactMap { $0.string("id") })
            missing = loggedAlarmIDs().filter { !received.contains($0) }
            return missing.isEmpty
        }
        let ids = alarms().compactMap { $0.string("id") }
        return (loggedAlarmIDs().count, missing, ids.count - Set(ids).count)
    }

    /// Runs a control verb in the background (for bursts that overlap with faults).
    func simInBackground(_ arguments: String...) throws -> Child {
        try Child(Products.path("parkguard-sim"), arguments + ["--control", controlAddress], in: directory,
                  name: "sim-verb-\(UInt32.random(in: 0 ... .max))")
    }

    /// Validates every message this unit published against docs/asyncapi.yaml.
    func validateContract(excluding: (Received) -> Bool = { _ in false }) async throws {
        let messagesPath = directory.file("messages.jsonl")
        try subscriber.writeForValidation(to: messagesPath, excluding: excluding)
        let validator = Products.packageRoot + "/Tests/contract/validate.py"
        let spec = Products.packageRoot + "/docs/asyncapi.yaml"
        let python = Self.python
        let result = try await run(python[0], Array(python.dropFirst()) + [validator, spec, messagesPath])
        #expect(result.status == 0, "contract violations:\n\(result.output)\(result.error)")
    }

    /// A Python with `jsonschema` and `yaml`: Debian's first, else the one on PATH.
    static let python: [String] = {
        for candidate in [["/usr/bin/python3"], ["/usr/bin/env", "python3"]] {
            if (try? runBlocking(candidate[0], Array(candidate.dropFirst()) + ["-c", "import jsonschema, yaml"]).status) == 0 { return candidate }
        }
        return ["/usr/bin/python3"]
    }()
}
