import Foundation
import ParkGuardTestKit
import Testing

/// `parkguard-provision` run as a technician would, and the broker it configures judged by a
/// real mosquitto with real clients (mosquitto_pub/sub) and the real daemon.
private struct Provision {
    let directory: ScratchDirectory
    var district: String { directory.file("district") }

    @discardableResult
    func callAllowingFailure(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
        try await run(Products.path("parkguard-provision"), arguments)
    }

    @discardableResult
    func call(_ arguments: String...) async throws -> String {
        let result = try await callAllowingFailure(arguments)
        guard result.status == 0 else { throw HarnessError("parkguard-provision \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.error)") }
        return result.output
    }

    func inventory() -> Data { FileManager.default.contents(atPath: district + "/inventory.json") ?? Data() }
}

/// A mosquitto started on the rendered configuration.
private final class DistrictBroker: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    private(set) var port: Int
    let directory: ScratchDirectory
    private var child: Child?
    private var runs = 0

    init(directory: ScratchDirectory, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// (Re)starts mosquitto on the configuration `render(port)` writes (`user root` added because the
    /// test runs as root and the key files are 0600). Free ports are in the ephemeral range, so a
    /// port can be taken by another test's connection between two starts: then a new port is used.
    func start(_ render: (Int) async throws -> String) async throws {
        child?.signal(SIGTERM)
        if let child { _ = try await child.exitStatus() }
        var candidate = port
        for _ in 0 ..< 5 {
            runs += 1
            let rendered = try await render(candidate)
            let text = "user root\n" + (try String(contentsOfFile: rendered, encoding: .utf8))
            let path = directory.file("broker-\(runs).conf")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let started = try Child("/usr/sbin/mosquitto", ["-c", path], in: directory, name: "mosquitto-\(runs)")
            if try await eventually(timeout: .seconds(10), { isListening(candidate) || !started.process.isRunning }), started.process.isRunning {
                child = started
                port = candidate
                return
            }
            started.signal(SIGKILL)
            candidate = freePort()
        }
        throw HarnessError("mosquitto did not start on any of 5 ports: \(child?.stderr ?? "")")
    }

    func stop() { child?.signal(SIGTERM) }

    /// Client options for an identity's certificate and key.
    func tls(cert: String?, key: String?, ca: String) -> [String] {
        ["-h", "localhost", "-p", "\(port)", "--cafile", ca, "-V", "mqttv5"] + (cert.map { ["--cert", $0] } ?? []) + (key.map { ["--key", $0] } ?? [])
    }
}

@Suite("Provisioning: district CA, mutual TLS and a broker that confines every unit", .serialized)
struct ProvisioningTests {
    @Test("units connect over mutual TLS; the broker refuses no certificate, another CA, revoked units, writes into another unit's root, reading its commands, and commands from units")
    func brokerConfinesUnits() async throws {
        let scratch = try ScratchDirectory()
        let p = Provision(directory: scratch)
        let port = freePort()
        try await p.call("ca", "init", "--district", p.district, "--name", "Test District")
        // Unit A: bundle flow (key made here). Unit B: CSR flow, key and request made "on the unit"
        // by the daemon's binary (libcrypto), as a unit with only the package does.
        try await p.call("unit", "create", "--district", p.district, "--site", "north-park", "--unit", "gate-1",
                   "--broker", "localhost:\(port)", "--out", scratch.file("a"), "--etc", scratch.file("a"))
        let csr = try await run(Products.path("parkguardd"), ["csr", "--site", "north-park", "--unit", "gate-2", "--out", scratch.file("b-unit")])
        #expect(csr.status == 0, "\(csr.error)")
        let again = try await run(Products.path("parkguardd"), ["csr", "--site", "north-park", "--unit", "gate-2", "--out", scratch.file("b-unit")])
        #expect(again.status == 73 && again.error.contains("already exists; not overwriting it"), "a second csr must not replace the key: \(again)")
        try await p.call("unit", "sign", "--district", p.district, "--site", "north-park", "--unit", "gate-2",
                   "--csr", scratch.file("b-unit/unit.csr"), "--out", scratch.file("b.crt"))
        try await p.call("unit", "bundle", "--district", p.district, "--site", "north-park", "--unit", "gate-2", "--cert", scratch.file("b.crt"),
                   "--broker", "localhost:\(port)", "--out", scratch.file("b"), "--etc", scratch.file("b"))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("b/tls/unit.key")), "the CSR flow's bundle must not carry a key")
        try await p.call("hub", "create", "--district", p.district, "--name", "control", "--out", scratch.file("hub"))
        func renderBroker(_ port: Int) async throws -> String {
            try await p.call("broker", "config", "--district", p.district, "--host", "localhost", "--port", "\(port)", "--bind", "127.0.0.1",
                       "--out", scratch.file("broker"))
            return scratch.file("broker/parkguard.conf")
        }
        let keyMode = try FileManager.default.attributesOfItem(atPath: scratch.file("a/tls/unit.key"))[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        let broker = DistrictBroker(directory: scratch, port: port)
        try await broker.start(renderBroker)
        defer { broker.stop() }
        let ca = scratch.file("broker/ca.crt")
        var hub = broker.tls(cert: scratch.file("hub/hub.crt"), key: scratch.file("hub/hub.key"), ca: ca)
        var unitA = broker.tls(cert: scratch.file("a/tls/unit.crt"), key: scratch.file("a/tls/unit.key"), ca: ca)
        var unitB = broker.tls(cert: scratch.file("b/tls/unit.crt"), key: scratch.file("b-unit/unit.key"), ca: ca)

        // The hub sees everything; unit B listens on unit A's command topic.
        let hubSub = try Child("/usr/bin/mosquitto_sub", hub + ["-t", "parkguard/#", "-F", "%t %p", "-i", "hub-\(port)"], in: scratch, name: "hub-sub")
        let spy = try Child("/usr/bin/mosquitto_sub", unitB + ["-t", "parkguard/v1/north-park/gate-1/cmd/#", "-F", "%t %p", "-i", "spy-\(port)"],
                            in: scratch, name: "spy")
        defer { hubSub.signal(SIGTERM); spy.signal(SIGTERM) }
        try await Task.sleep(for: .milliseconds(500))

        // The real daemon with unit A's bundle, over mutual TLS with hostname verification.
        let config = try String(contentsOfFile: scratch.file("a/agent.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "  backend: gpiod\n", with: "  backend: sim\n  socket: \(scratch.file("none.sock"))\n")
            .replacingOccurrences(of: "  port: \(port)\n", with: "  port: \(broker.port)\n")
            + "stateDirectory: \(scratch.file("a-state"))\n"
            + "commands:\n  hubKeys:\n    - { hub: control, keyFile: \(scratch.file("hub/hub.pub")) }\n"
            + "heartbeatInterval: 1s\ndelivery: {receiptTimeout: 1s, receiptTimeoutMax: 2s}\n"
        try config.write(toFile: scratch.file("a/agent.yaml"), atomically: true, encoding: .utf8)
        let agent = try Child(Products.path("parkguardd"), ["--config", scratch.file("a/agent.yaml")], in: scratch, name: "agent")
        defer { agent.signal(SIGTERM) }
        #expect(try await eventually(timeout: .seconds(15)) { hubSub.stdout.contains("parkguard/v1/north-park/gate-1/status {") && hubSub.stdout.contains("\"online\"") },
                "agent log: \(agent.stderr)")

        func publish(_ options: [String], _ topic: String, _ payload: String) async throws -> (status: Int32, output: String, error: String) {
            try await run("/usr/bin/mosquitto_pub", options + ["-t", topic, "-m", payload, "-q", "1"])
        }
        // What units may and may not do.
        #expect(try await publish(unitB, "parkguard/v1/north-park/gate-2/event", #"{"mark":"b-own"}"#).status == 0)
        _ = try await publish(unitB, "parkguard/v1/north-park/gate-1/event", #"{"mark":"b-into-a"}"#)
        _ = try await publish(unitB, "parkguard/v1/north-park/gate-2/cmd/silence", #"{"mark":"unit-command"}"#)
        _ = try await publish(unitA, "parkguard/v1/north-park/gate-1/cmd/ack", #"{"mark":"unit-self-command"}"#)
        // A receipt from a unit (to another unit, or to itself) would retire alarms: the ACL refuses it.
        _ = try await publish(unitB, "parkguard/v1/north-park/gate-1/cmd/receipt", #"{"mark":"unit-receipt"}"#)
        _ = try await publish(unitA, "parkguard/v1/north-park/gate-1/cmd/receipt", #"{"mark":"unit-self-receipt"}"#)
        // The hub may command, signed: the daemon answers on cmd/test/result.
        func signed(_ command: String, unit: String = "gate-1", key: String = scratch.file("hub/hub.key"), payload: String) async throws -> String {
            try await p.call("hub", "sign", "--name", "control", "--key", key, "--site", "north-park", "--unit", unit, "--command", command,
                       "--payload", payload).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let good = try await signed("test", payload: #"{"correlationId":"signed-1"}"#)
        #expect(try await publish(hub, "parkguard/v1/north-park/gate-1/cmd/test", good).status == 0)
        #expect(try await eventually(timeout: .seconds(10)) { hubSub.stdout.contains(#""correlationId":"signed-1""#) })
        // Unsigned, replayed, forged (a key that is not the hub's), or signed for another unit: refused, naming the field.
        let rogueHub = Provision(directory: try ScratchDirectory())
        try await rogueHub.call("ca", "init", "--district", rogueHub.district, "--name", "Rogue hub")
        try await rogueHub.call("hub", "create", "--district", rogueHub.district, "--name", "control", "--out", rogueHub.directory.file("h"))
        let refusals: [(payload: String, field: String)] = [
            (#"{"correlationId":"unsigned"}"#, #""field":"sig""#),
            (good, #""field":"signed.ts""#),
            (try await signed("test", key: rogueHub.directory.file("h/hub.key"), payload: #"{"correlationId":"forged"}"#), #""field":"sig""#),
            (try await signed("test", unit: "gate-2", payload: #"{"correlationId":"elsewhere"}"#), #""field":"signed.unit""#),
            (try await signed("silence", payload: "{}"), #""field":"signed.command""#),
        ]
        for refusal in refusals {
            let before = hubSub.stdout.components(separatedBy: "cmd/test/result").count
            #expect(try await publish(hub, "parkguard/v1/north-park/gate-1/cmd/test", refusal.payload).status == 0)
            #expect(try await eventually(timeout: .seconds(10)) { hubSub.stdout.components(separatedBy: "cmd/test/result").count > before })
            let answer = hubSub.stdout.components(separatedBy: "\n").last { $0.contains("cmd/test/result") } ?? ""
            #expect(answer.contains(#""ok":false"#) && answer.contains(refusal.field), "\(answer)")
        }
        #expect(hubSub.stdout.components(separatedBy: #""correlationId":"signed-1""#).count == 2, "the replay must not run the test again")
        try await Task.sleep(for: .milliseconds(500))
        #expect(hubSub.stdout.contains("b-own"))
        #expect(!hubSub.stdout.contains("b-into-a"), "unit B wrote into unit A's root")
        #expect(!hubSub.stdout.contains("unit-command"), "a unit published a command")
        #expect(!hubSub.stdout.contains("unit-self-command"), "a unit published a command to itself")
        #expect(!hubSub.stdout.contains("unit-receipt") && !hubSub.stdout.contains("unit-self-receipt"), "a unit published a receipt")

        // The real hub with its district identity (mutual TLS, hostname verified) and its signing
        // key: it logs the unit's alarms (the line faults of a unit without its GPIO) and its
        // signed receipts retire them on the unit, which requires signed receipts.
        let realHub = try Child(Products.path("parkguard-hub"), [
            "run", "--broker", "localhost:\(broker.port)", "--db", scratch.file("hub.sqlite"), "--client-id", "control-1",
            "--ca-file", ca, "--cert-file", scratch.file("hub/hub.crt"), "--key-file", scratch.file("hub/hub.key"),
            "--signing-key", scratch.file("hub/hub.key"), "--signing-name", "control",
        ], in: scratch, name: "parkguard-hub")
        defer { realHub.signal(SIGTERM) }
        #expect(try await eventually(timeout: .seconds(20)) {
            hubSub.stdout.contains("parkguard/v1/north-park/gate-1/cmd/receipt {\"hub\":\"control\"")
                && hubSub.stdout.split(separator: "\n").last { $0.hasPrefix("parkguard/v1/north-park/gate-1/telemetry") }?.contains(#""awaiting":0"#) == true
        }, "hub: \(realHub.stderr.suffix(800))")
        let rows = try await run(Products.path("parkguard-hub"), ["alarms", "--db", scratch.file("hub.sqlite"), "--since", "1h", "--json"]).output
        #expect(rows.contains(#""kind":"lineFault""#), "log: \(rows)")
        realHub.signal(SIGTERM)
        #expect(!spy.stdout.contains("cmd/test"), "unit B read unit A's commands: \(spy.stdout)")

        // Without a certificate, and with a certificate from another CA: refused at the handshake.
        #expect(try await publish(broker.tls(cert: nil, key: nil, ca: ca), "parkguard/v1/x", "no-cert").status != 0)
        let rogue = Provision(directory: try ScratchDirectory())
        try await rogue.call("ca", "init", "--district", rogue.district, "--name", "Rogue")
        try await rogue.call("unit", "create", "--district", rogue.district, "--site", "north-park", "--unit", "gate-1",
                       "--broker", "localhost:\(port)", "--out", rogue.directory.file("r"))
        let foreign = broker.tls(cert: rogue.directory.file("r/tls/unit.crt"), key: rogue.directory.file("r/tls/unit.key"), ca: ca)
        #expect(try await publish(foreign, "parkguard/v1/north-park/gate-1/event", "rogue").status != 0)

        // Revoked: the CRL refuses unit B at the handshake after the broker reloads it; A is unaffected.
        try await p.call("unit", "revoke", "--district", p.district, "--site", "north-park", "--unit", "gate-2")
        try await broker.start(renderBroker)
        #expect(!(try String(contentsOfFile: scratch.file("broker/acl"), encoding: .utf8)).contains("gate-2"))
        unitA = broker.tls(cert: scratch.file("a/tls/unit.crt"), key: scratch.file("a/tls/unit.key"), ca: ca)
        unitB = broker.tls(cert: scratch.file("b/tls/unit.crt"), key: scratch.file("b-unit/unit.key"), ca: ca)
        hub = broker.tls(cert: scratch.file("hub/hub.crt"), key: scratch.file("hub/hub.key"), ca: ca)
        _ = hub
        let revoked = try await publish(unitB, "parkguard/v1/north-park/gate-2/event", "revoked")
        #expect(revoked.status != 0, "a revoked unit connected: \(revoked)")
        // The broker has just restarted on a loaded machine: a first attempt may find it still
        // loading its certificates; a refusal would fail every attempt.
        var after: (status: Int32, output: String, error: String) = (1, "", "")
        for _ in 0 ..< 3 where after.status != 0 {
            after = try await publish(unitA, "parkguard/v1/north-park/gate-1/event", #"{"mark":"a-after"}"#)
            if after.status != 0 { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(after.status == 0, "unit A after unit B's revocation: \(after)")
    }

    @Test("bad inputs to every provisioning command get clear errors and distinct exit codes, and leave the inventory unchanged")
    func badInputs() async throws {
        let scratch = try ScratchDirectory()
        let p = Provision(directory: scratch)
        try await p.call("ca", "init", "--district", p.district, "--name", "Test District")
        try await p.call("unit", "create", "--district", p.district, "--site", "s1", "--unit", "u1", "--broker", "localhost", "--out", scratch.file("u1"))
        try await p.call("unit", "csr", "--site", "s1", "--unit", "u2", "--out", scratch.file("u2"))
        try "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".write(toFile: scratch.file("junk.csr"), atomically: true, encoding: .utf8)
        // A request whose signature no longer matches its content.
        var tampered = try String(contentsOfFile: scratch.file("u2/unit.csr"), encoding: .utf8)
        let marker = tampered.index(tampered.endIndex, offsetBy: -40)
        tampered.replaceSubrange(marker ... marker, with: tampered[marker] == "A" ? "B" : "A")
        try tampered.write(toFile: scratch.file("tampered.csr"), atomically: true, encoding: .utf8)
        let before = p.inventory()

        let cases: [(arguments: [String], status: Int32, message: String)] = [
            (["ca", "init", "--district", p.district, "--name", "Again"], 73, "already holds a district CA"),
            (["unit", "create", "--district", p.district, "--site", "s1", "--unit", "u1", "--broker", "localhost", "--out", scratch.file("dup")], 75, "already has an active certificate"),
            (["unit", "create", "--district", p.district, "--site", "S_1", "--unit", "u9", "--broker", "localhost", "--out", scratch.file("x")], 64, "--site must match"),
            (["unit", "create", "--district", p.district, "--site", "s1", "--unit", "u9", "--broker", "localhost:99999", "--out", scratch.file("x")], 64, "broker"),
            (["unit", "sign", "--district", p.district, "--site", "s1", "--unit", "u3", "--csr", scratch.file("u2/unit.csr"), "--out", scratch.file("c1")], 65, "not 'unit:s1:u3'"),
            (["unit", "sign", "--district", p.district, "--site", "s1", "--unit", "u2", "--csr", scratch.file("junk.csr"), "--out", scratch.file("c2")], 65, "not a PEM certificate signing request"),
            (["unit", "sign", "--district", p.district, "--site", "s1", "--unit", "u2", "--csr", scratch.file("tampered.csr"), "--out", scratch.file("c3")], 65, "does not verify"),
            (["unit", "sign", "--district", p.district, "--site", "s1", "--unit", "u2", "--csr", scratch.file("missing.csr"), "--out", scratch.file("c4")], 66, "cannot be read"),
            (["unit", "revoke", "--district", p.district, "--site", "s1", "--unit", "nobody"], 66, "not in the inventory"),
            (["unit", "create", "--district", scratch.file("nowhere"), "--site", "s1", "--unit", "u5", "--broker", "localhost", "--out", scratch.file("y")], 66, "no inventory"),
            (["unit", "bundle", "--district", p.district, "--site", "s1", "--unit", "u1", "--cert", scratch.file("u1/agent.yaml"), "--broker", "localhost", "--out", scratch.file("z")], 65, "not a PEM certificate"),
            (["unit", "create", "--district", p.district, "--site", "s1", "--unit", "u6", "--broker", "localhost", "--out", scratch.file("u1")], 73, "already holds a bundle"),
        ]
        for item in cases {
            let result = try await p.callAllowingFailure(item.arguments)
            #expect(result.status == item.status, "\(item.arguments.joined(separator: " ")): \(result.status) \(result.error)")
            #expect(result.error.contains(item.message), "\(item.arguments.joined(separator: " ")): \(result.error)")
            #expect(p.inventory() == before, "\(item.arguments.joined(separator: " ")) changed the inventory")
        }
        // A CA key others can read is refused before anything is signed.
        chmod(p.district + "/ca.key", 0o644)
        let unsafe = try await p.callAllowingFailure(["unit", "create", "--district", p.district, "--site", "s1", "--unit", "u7", "--broker", "localhost", "--out", scratch.file("w")])
        #expect(unsafe.status == 78)
        #expect(unsafe.error.contains("chmod 600"))
        #expect(p.inventory() == before)
        chmod(p.district + "/ca.key", 0o600)

        // The daemon refuses a unit key others can read.
        chmod(scratch.file("u1/tls/unit.key"), 0o644)
        let config = try String(contentsOfFile: scratch.file("u1/agent.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "/etc/parkguard", with: scratch.file("u1"))
        try config.write(toFile: scratch.file("u1/agent.yaml"), atomically: true, encoding: .utf8)
        let agent = try await run(Products.path("parkguardd"), ["--config", scratch.file("u1/agent.yaml")])
        #expect(agent.status == 78)
        #expect(agent.error.contains("broker.tls.keyFile"))
    }
}
