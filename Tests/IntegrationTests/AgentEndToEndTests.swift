import Foundation
import ParkGuardTestKit
import Testing

/// End to end: real mosquitto, real simulator, real daemon, an independent subscriber.
@Suite("Agent end to end", .serialized)
struct AgentEndToEndTests {
    @Test("a press arrives at the hub as a valid alarm, with the bell state, and the strobe and siren switch on")
    func pressArrives() async throws {
        let unit = try await Unit()
        try await unit.sim("press", "b1")
        let press = try await unit.alarm("press")
        #expect(press.int("seq") ?? 0 >= 1)
        #expect(press.string("bell") == "b1")
        #expect(press.string("state") == "alarm")
        #expect((press.object?["cameras"] as? [[String: Any]])?.first?["id"] as? String == "cam-1")
        #expect(press.string("id")?.count == 36)
        #expect(!press.retained)
        _ = try await unit.subscriber.wait("bell state alarm") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "alarm" }
        #expect(try await eventually { try await unit.outputs("strobe", "siren").allSatisfy { $0 } })
        try await unit.sim("release", "b1")
        let release = try await unit.alarm("release")
        #expect(release.int("seq") == (press.int("seq") ?? 0) + 1)
        // The unit reports how quickly its outputs followed the press (edge read → last output set).
        let telemetry = try await unit.subscriber.wait("telemetry with the annunciation figure") {
            $0.topic == "\(unit.root)/telemetry" && $0.object?["annunciation"] != nil
        }
        let annunciation = try #require(telemetry.object?["annunciation"] as? [String: Any])
        #expect(annunciation["presses"] as? Int == 1)
        #expect((annunciation["maxMs"] as? Double ?? -1) >= (annunciation["p50Ms"] as? Double ?? 0))
        #expect((annunciation["maxMs"] as? Double ?? 1e9) < 5000, "outputs within seconds of the read")
        try await unit.validateContract()
    }

    @Test("a bounce train is one press; holding reports hold; a stuck bell becomes a fault and recovers")
    func bounceHoldStuck() async throws {
        let unit = try await Unit()
        try await unit.sim("bounce", "b1", "--edges", "9", "--interval-us", "500", "--final", "pressed")
        _ = try await unit.alarm("press")
        _ = try await unit.alarm("hold", timeout: .seconds(5))
        _ = try await unit.alarm("stuck", timeout: .seconds(8))
        _ = try await unit.subscriber.wait("fault state") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "fault" }
        #expect(unit.alarms().filter { $0.string("kind") == "press" }.count == 1, "bounces must not raise extra presses")
        try await unit.sim("release", "b1")
        _ = try await unit.alarm("recovered")
        _ = try await unit.subscriber.wait("idle state") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "idle" }
        try await unit.validateContract()
    }

    @Test("edges the chip dropped (an event-buffer overflow) are announced and counted, and the next press still raises its alarm")
    func lostEdgesAreReported() async throws {
        let unit = try await Unit()
        // As libgpiod 2 shows an overflow: 476 edges numbered and dropped, the level unchanged.
        try await unit.sim("overflow", "b1", "--lost", "476")
        try await unit.sim("press", "b1")
        let lost = try await unit.subscriber.wait("edgesLost event") { $0.topic == "\(unit.root)/event" && $0.string("event") == "edgesLost" }
        let data = try #require(lost.object?["data"] as? [String: String])
        #expect(data["count"] == "476")
        #expect(data["total"] == "476")
        #expect(data["bell"] == "b1")
        #expect(lost.string("message")?.contains("476 edge(s)") == true)
        _ = try await unit.alarm("press")
        let telemetry = try await unit.subscriber.wait("telemetry counting the lost edges") {
            $0.topic == "\(unit.root)/telemetry" && ($0.object?["edgesLost"] as? Int ?? 0) > 0
        }
        #expect(telemetry.object?["edgesLost"] as? Int == 476)
        // A second overflow adds to the count.
        try await unit.sim("overflow", "b1", "--lost", "24")
        try await unit.sim("release", "b1")
        let second = try await unit.subscriber.wait("second edgesLost") {
            $0.topic == "\(unit.root)/event" && $0.string("event") == "edgesLost" && ($0.object?["data"] as? [String: String])?["count"] == "24"
        }
        #expect((second.object?["data"] as? [String: String])?["total"] == "500")
        _ = try await unit.alarm("release")
        try await unit.validateContract()
    }

    @Test("the hub's ack lights call-accepted, moves the bell to acknowledged and answers with the correlation")
    func acknowledge() async throws {
        let unit = try await Unit()
        try await unit.sim("click", "b1", "--ms", "100")
        _ = try await unit.alarm("release")
        #expect(try await unit.output("accepted-b1") == false)
        try await unit.command("ack", #"{"bell":"b1","by":"operator-7"}"#, correlationData: "corr-42")
        let result = try await unit.subscriber.wait("ack result") { $0.topic == "\(unit.root)/cmd/ack/result" }
        #expect(result.object?["ok"] as? Bool == true)
        #expect(result.correlationData == "corr-42", "MQTT 5 correlation data is echoed")
        #expect(result.string("correlationId") == "corr-42")
        #expect(result.string("state") == "acknowledged")
        #expect(try await eventually { try await unit.output("accepted-b1") })
        _ = try await unit.subscriber.wait("acknowledged state") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "acknowledged" }
        // acknowledgedFor is 2 s in the test config.
        _ = try await unit.subscriber.wait(timeout: .seconds(6), "back to idle") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "idle" && $0.int("mono") ?? 0 > result.int("mono") ?? 0 }
        try await unit.validateContract()
    }

    @Test("malformed and unknown commands get error results and change nothing")
    func malformedCommands() async throws {
        let unit = try await Unit()
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press")
        // The bell's state follows its alarm: counted before the commands, not after them.
        _ = try await unit.subscriber.wait("bell state alarm") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "alarm" }
        let before = unit.subscriber.messages.count
        try await unit.command("ack", "this is not json")
        try await unit.command("ack", #"{"bell":"nope"}"#)
        try await unit.command("ack", #"{"bell":"b1","injected":"x"}"#)
        try await unit.command("ack", #"{"bell":["b1"]}"#)
        try await unit.command("launch", "{}")
        try await unit.command("ack", String(repeating: "{", count: 5000))
        for _ in 0 ..< 6 {
            _ = try await unit.subscriber.wait("error results") { _ in
                unit.subscriber.messages.dropFirst(before).filter { $0.topic.hasSuffix("/result") }.count >= 6
            }
        }
        let results = unit.subscriber.messages.dropFirst(before).filter { $0.topic.hasSuffix("/result") }
        #expect(results.count == 6)
        #expect(results.allSatisfy { $0.object?["ok"] as? Bool == false })
        #expect(Set(results.compactMap { ($0.object?["error"] as? [String: Any])?["field"] as? String }) == ["payload", "bell", "injected", "topic"])
        // Nothing changed: no state message, no output switched.
        #expect(!unit.subscriber.messages.dropFirst(before).contains { $0.topic.hasSuffix("/state") })
        #expect(try await unit.output("accepted-b1") == false)
        // And the agent still works.
        try await unit.command("ack", #"{"bell":"b1"}"#)
        _ = try await unit.subscriber.wait(skipping: before, "acknowledged") { $0.topic == "\(unit.root)/bell/b1/state" && $0.string("state") == "acknowledged" }
        try await unit.validateContract()
    }

    @Test("silence switches the siren off and keeps the strobe; self-test reports outputs and inputs; rebirth republishes state")
    func silenceTestRebirth() async throws {
        let unit = try await Unit()
        try await unit.sim("press", "b2")
        _ = try await unit.alarm("press", bell: "b2")
        #expect(try await eventually { try await unit.output("siren") })
        try await unit.command("silence", #"{"bell":"b2","correlationId":"s-1"}"#)
        _ = try await unit.subscriber.wait("silence result") { $0.topic == "\(unit.root)/cmd/silence/result" && $0.string("correlationId") == "s-1" }
        #expect(try await eventually { try await !unit.output("siren") })
        #expect(try await unit.output("strobe"))
        try await unit.command("test", #"{"correlationId":"t-1"}"#)
        let test = try await unit.subscriber.wait("test result") { $0.topic == "\(unit.root)/cmd/test/result" }
        let report = test.object?["selfTest"] as? [String: Any]
        let inputs = report?["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.count == 5, "4 bells and 1 tamper input")
        #expect(inputs.first { $0["id"] as? String == "b2" }?["ok"] as? Bool == false, "b2 is held pressed: the self-test flags it")
        #expect(test.object?["ok"] as? Bool == false)
        let before = unit.subscriber.messages.count
        try await unit.command("rebirth", "", correlationData: "r-1")
        _ = try await unit.subscriber.wait(skipping: before, "status again") { $0.topic == "\(unit.root)/status" && $0.string("state") == "online" }
        for bell in ["b1", "b2", "b3", "b4"] {
            _ = try await unit.subscriber.wait(skipping: before, "state of \(bell)") { $0.topic == "\(unit.root)/bell/\(bell)/state" }
        }
        try await unit.validateContract()
    }

    @Test("tamper opening and closing is reported on the linked bell")
    func tamper() async throws {
        let unit = try await Unit()
        try await unit.sim("press", "t1")
        let tamper = try await unit.alarm("tamper")
        #expect(tamper.string("input") == "t1")
        try await unit.sim("release", "t1")
        _ = try await unit.alarm("tamperRestored")
        try await unit.validateContract()
    }

    @Test("SIGTERM publishes offline explicitly; SIGKILL leaves it to the Last Will")
    func offlineStatus() async throws {
        let unit = try await Unit()
        let skip = unit.subscriber.messages.count
        unit.agent?.signal(SIGTERM)
        #expect(try await unit.agent?.exitStatus() == 0)
        let clean = try await unit.subscriber.wait(skipping: skip, "clean offline") { $0.topic == "\(unit.root)/status" && $0.string("state") == "offline" }
        #expect(clean.string("reason") == "clean shutdown")

        try await unit.start()
        let skip2 = unit.subscriber.messages.count
        unit.agent?.signal(SIGKILL)
        _ = try await unit.agent?.exitStatus()
        let will = try await unit.subscriber.wait(skipping: skip2, "last will") { $0.topic == "\(unit.root)/status" && $0.string("state") == "offline" }
        #expect(will.string("reason") == "connection lost")
        // The retained status a late subscriber sees is offline too.
        let late = try await run("/usr/bin/mosquitto_sub", ["-p", "\(unit.broker.port)", "-t", "\(unit.root)/status", "-C", "1", "-W", "5"])
        #expect(late.output.contains(#""state":"offline""#))
        try await unit.validateContract()
    }

    @Test("after a restart the session number and seq grow")
    func restartGrowsSessionAndSeq() async throws {
        let unit = try await Unit()
        try await unit.sim("click", "b3", "--ms", "50")
        let first = try await unit.alarm("release", bell: "b3")
        let firstSession = first.int("session") ?? 0
        unit.agent?.signal(SIGTERM)
        _ = try await unit.agent?.exitStatus()
        try await unit.start()
        let skip = unit.subscriber.messages.count
        try await unit.sim("click", "b3", "--ms", "50")
        let second = try await unit.alarm("press", bell: "b3", skipping: skip)
        #expect(second.int("session") == firstSession + 1)
        #expect(second.int("seq") ?? 0 > first.int("seq") ?? 0)
        // A SIGKILL in between must not make seq repeat either.
        unit.agent?.signal(SIGKILL)
        _ = try await unit.agent?.exitStatus()
        try await unit.start()
        let skip2 = unit.subscriber.messages.count
        try await unit.sim("press", "b3")
        let third = try await unit.alarm("press", bell: "b3", skipping: skip2)
        #expect(third.int("session") == firstSession + 2)
        #expect(third.int("seq") ?? 0 > second.int("seq") ?? 0)
    }

    @Test("alarms raised while the broker is down are delivered when it comes back")
    func brokerDownThenUp() async throws {
        let unit = try await Unit()
        try await unit.broker.stop()
        try await unit.sim("click", "b4", "--ms", "50")
        try await Task.sleep(for: .milliseconds(500))
        try await unit.broker.restart()
        let subscriber = try await Subscriber(broker: unit.broker, in: unit.directory, name: "sub-after")
        _ = try await subscriber.wait(timeout: .seconds(15), "queued press") { $0.topic == "\(unit.root)/bell/b4/alarm" && $0.string("kind") == "press" }
        _ = try await subscriber.wait("queued release") { $0.topic == "\(unit.root)/bell/b4/alarm" && $0.string("kind") == "release" }
        // It subscribed again after the reconnect: commands still reach it.
        try await unit.command("ack", #"{"bell":"b4","correlationId":"after-reconnect"}"#)
        let result = try await subscriber.wait("ack after reconnect") { $0.topic == "\(unit.root)/cmd/ack/result" }
        #expect(result.string("correlationId") == "after-reconnect")
        #expect(result.object?["ok"] as? Bool == true)
        // Heartbeats from the outage were queued and drained too; a fresh one counts the reconnect.
        _ = try await subscriber.wait("telemetry counting the reconnect") {
            $0.topic == "\(unit.root)/telemetry" && ($0.object?["link"] as? [String: Any])?["reconnects"] as? Int == 1
        }
    }

    @Test("MQTT 3.1.1 works too, with the correlation id in the payload, also in a refusal")
    func mqtt311() async throws {
        let unit = try await Unit(mqtt5: false)
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press")
        try await unit.command("ack", #"{"bell":"b1","correlationId":"v3-1"}"#, mqtt5: false)
        let result = try await unit.subscriber.wait("ack result") { $0.topic == "\(unit.root)/cmd/ack/result" }
        #expect(result.string("correlationId") == "v3-1")
        #expect(result.object?["ok"] as? Bool == true)
        // A refused command's result carries the request's correlation id too.
        try await unit.command("ack", #"{"bell":"no-such-bell","correlationId":"v3-2"}"#, mqtt5: false)
        let refused = try await unit.subscriber.wait("refused ack result") {
            $0.topic == "\(unit.root)/cmd/ack/result" && $0.string("correlationId") == "v3-2"
        }
        #expect(refused.object?["ok"] as? Bool == false)
        try await unit.validateContract()
    }
}

@Suite("Command line")
struct CommandLineTests {
    @Test("--check-config exits 0 for a valid file and 78 with file:line:key for an invalid one")
    func checkConfig() async throws {
        let directory = try ScratchDirectory()
        let good = directory.file("good.yaml")
        try Unit.config(brokerPort: 1883, socket: "/tmp/x.sock", state: directory.file("s"), mqtt5: true).write(toFile: good, atomically: true, encoding: .utf8)
        let ok = try await run(Products.path("parkguardd"), ["--check-config", "--config", good])
        #expect(ok.status == 0)
        let bad = directory.file("bad.yaml")
        try Unit.config(brokerPort: 99999, socket: "/tmp/x.sock", state: directory.file("s"), mqtt5: true)
            .replacingOccurrences(of: "debounce: 20ms", with: "debounce: 20ms\n    colour: red")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let failed = try await run(Products.path("parkguardd"), ["--check-config", "--config", bad])
        #expect(failed.status == 78)
        #expect(failed.error.contains("bad.yaml:5: broker.port: must be between 1 and 65535"))
        #expect(failed.error.contains("bad.yaml:26: bells[0].colour: unknown key"))
        let missing = try await run(Products.path("parkguardd"), ["--check-config", "--config", directory.file("none.yaml")])
        #expect(missing.status == 78)
        #expect(missing.error.contains("none.yaml"))
        let usage = try await run(Products.path("parkguardd"), ["--bogus"])
        #expect(usage.status == 64)
    }

    @Test("an alias bomb and a 2 MiB file are refused with exit 78 and one short line each, not a crash")
    func boundedConfig() async throws {
        let directory = try ScratchDirectory()
        let bomb = directory.file("bomb.yaml")
        // Nine levels of anchors, each a list of nine aliases of the level below: 9^9 strings.
        let levels = (1 ... 9).map { "a\($0): &a\($0) [" + Array(repeating: "*a\($0 - 1)", count: 9).joined(separator: ", ") + "]" }
        try (["site: north-park", "unit: gate-1", "a0: &a0 [\"lol\"]"] + levels).joined(separator: "\n")
            .write(toFile: bomb, atomically: true, encoding: .utf8)
        let refused = try await run(Products.path("parkguardd"), ["--check-config", "--config", bomb])
        #expect(refused.status == 78)
        #expect(refused.error.contains("bomb.yaml:"), "names the file")
        #expect(refused.error.contains("more than 50000 YAML nodes once aliases are expanded"))
        #expect(refused.error.utf8.count < 600)
        let huge = directory.file("huge.yaml")
        try ("site: " + String(repeating: "x", count: 2 << 20) + "\n").write(toFile: huge, atomically: true, encoding: .utf8)
        let big = try await run(Products.path("parkguardd"), ["--check-config", "--config", huge])
        #expect(big.status == 78)
        #expect(big.error.contains("huge.yaml: is larger than 1 MiB"))
        #expect(big.error.utf8.count < 600)
    }

    @Test("a world-readable password file stops the agent with exit 78 before it touches anything")
    func passwordFilePermissions() async throws {
        let directory = try ScratchDirectory()
        let secret = directory.file("password")
        try "hunter2".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o644)
        let config = directory.file("agent.yaml")
        try Unit.config(brokerPort: 1883, socket: "/tmp/x.sock", state: directory.file("s"), mqtt5: true)
            .replacingOccurrences(of: "  reconnectMax: 1s", with: "  reconnectMax: 1s\n  username: u\n  passwordFile: \(secret)")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await run(Products.path("parkguardd"), ["--config", config])
        #expect(result.status == 78)
        #expect(result.error.contains("chmod 600"))
        #expect(!result.error.contains("hunter2"))
    }

    @Test("the simulator's CLI names unknown bells and refuses bad arguments")
    func simulatorCLI() async throws {
        let unit = try await Unit(startAgent: false)
        let unknown = try await run(Products.path("parkguard-sim"), ["press", "nope", "--control", unit.controlAddress])
        #expect(unknown.status == 2)
        #expect(unknown.output.contains("no bell, input, output or line called 'nope'"))
        let badUsage = try await run(Products.path("parkguard-sim"), ["bounce", "b1", "--final", "sideways", "--control", unit.controlAddress])
        #expect(badUsage.status == 64)
        let noServer = try await run(Products.path("parkguard-sim"), ["press", "b1", "--control", "127.0.0.1:\(freePort())"])
        #expect(noServer.status != 0)
        #expect(noServer.error.contains("is `parkguard-sim serve` running?"))
    }
}
