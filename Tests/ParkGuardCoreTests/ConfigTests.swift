import ConfigLoader
import Foundation
import ParkGuardCore
import Testing

private let valid = """
site: north-park
unit: gate-1
broker:
  host: 127.0.0.1
  port: 1883
gpio:
  backend: sim
  socket: /tmp/x.sock
bells:
  - id: b1
    line: 17
    debounce: 20ms
    cameras:
      - id: cam-1
        preset: gate
inputs:
  - id: t1
    line: 22
    bell: b1
outputs:
  - id: strobe
    role: strobe
    line: 23
    duration: 30s
"""

private func errors(_ yaml: String) -> [ConfigError] {
    do {
        _ = try ConfigFile.parse(yaml, file: "agent.yaml")
        return []
    } catch {
        return error.errors
    }
}

@Suite("Configuration")
struct ConfigTests {
    @Test("a valid file gives every value, with defaults for what it leaves out")
    func validFile() throws {
        let config = try ConfigFile.parse(valid, file: "agent.yaml")
        #expect(config.site == "north-park")
        #expect(config.broker.clientID == "parkguard-north-park-gate-1")
        #expect(config.broker.protocolVersion == .mqtt5)
        #expect(config.gpio.backend == .sim(socket: "/tmp/x.sock"))
        #expect(config.bells[0].timing.debounce == .milliseconds(20))
        #expect(config.bells[0].timing.holdAfter == .seconds(3))
        #expect(config.bells[0].setup == LineSetup(line: 17, activeLow: true, bias: .pullUp))
        #expect(config.bells[0].cameras == [CameraLink(id: "cam-1", preset: "gate")])
        #expect(config.outputs[0].duration == .seconds(30))
        #expect(config.topics.bellAlarm("b1") == "parkguard/v1/north-park/gate-1/bell/b1/alarm")
    }

    @Test("a unit and its bells carry a location: coordinates, a description or both; a bell without one is where its unit is")
    func locations() throws {
        let located = valid.replacingOccurrences(of: "bells:\n  - id: b1\n", with: """
            location: {latitude: 37.5665, longitude: 126.978, description: "north gate, beside the toilets"}
            bells:
              - id: b1
                location: {description: "playground, east fence"}

            """)
        let config = try ConfigFile.parse(located, file: "agent.yaml")
        #expect(config.location == Location(latitude: 37.5665, longitude: 126.978, description: "north gate, beside the toilets"))
        #expect(config.bells[0].location == Location(description: "playground, east fence"))
        for (location, words) in [("{latitude: 37.5}", "latitude and longitude go together"), ("{latitude: 91, longitude: 0}", "latitude: must be from -90.0 to 90.0"),
                                  ("{latitude: north, longitude: 0}", "expected a number"), ("{}", "give latitude and longitude, a description, or both"),
                                  ("{description: \"\(String(repeating: "x", count: 121))\"}", "1 to 120 bytes"), ("{floor: 2}", "floor: unknown key")] {
            let found = errors(valid.replacingOccurrences(of: "bells:\n", with: "location: \(location)\nbells:\n"))
            #expect(found.count >= 1 && found.contains { "\($0)".contains(words) }, "\(location): \(found)")
            #expect(found.allSatisfy { "\($0)".contains("location") }, "\(found)")
        }
    }

    @Test("an unknown key is an error that names its line and path")
    func unknownKey() {
        let yaml = valid.replacingOccurrences(of: "    debounce: 20ms", with: "    debounce: 20ms\n    debouce: 5ms")
        #expect(errors(yaml) == [ConfigError(file: "agent.yaml", line: 13, key: "bells[0].debouce", message: "unknown key")])
    }

    @Test("a bad duration names file, line and key")
    func badDuration() {
        let yaml = valid.replacingOccurrences(of: "debounce: 20ms", with: "debounce: fast")
        let found = errors(yaml)
        #expect(found.count == 1)
        #expect(found.first?.line == 12)
        #expect(found.first?.key == "bells[0].debounce")
        #expect(found.first?.description.hasPrefix("agent.yaml:12: bells[0].debounce: expected a duration") == true)
    }

    @Test("a duration too large for the clock is refused with its bounds, not a crash")
    func durationPastTheClock() {
        let yaml = valid.replacingOccurrences(of: "debounce: 20ms", with: "debounce: 1e300h")
        let found = errors(yaml)
        #expect(found.count == 1)
        #expect(found.first?.key == "bells[0].debounce")
        #expect(found.first?.message.hasPrefix("must be between") == true)
        #expect(found.first?.message.hasSuffix("got '1e300h'") == true)
    }

    @Test("every problem is reported at once, in file order")
    func severalErrors() {
        let yaml = valid
            .replacingOccurrences(of: "unit: gate-1", with: "unit: Gate_1")
            .replacingOccurrences(of: "port: 1883", with: "port: 70000")
        let found = errors(yaml)
        #expect(found.map(\.key) == ["unit", "broker.port"])
        #expect(found.map(\.line) == [2, 5])
    }

    @Test("missing required keys are named")
    func missingKeys() {
        let found = errors("site: a\nunit: b\ngpio:\n  backend: sim\nbells: []\n")
        #expect(found.contains { $0.message == "missing required key 'broker'" })
    }

    @Test("cross references are checked: lines used twice, unknown bells")
    func crossReferences() {
        let yaml = valid
            .replacingOccurrences(of: "    line: 22\n    bell: b1", with: "    line: 17\n    bell: b9")
        let found = errors(yaml)
        #expect(found.contains { $0.key == "inputs[0].line" && $0.message.contains("already used by bell b1") })
        #expect(found.contains { $0.key == "inputs[0].bell" && $0.message.contains("'b9'") })
    }

    @Test("cameras: endpoints, credentials and the health policy are read; defaults fill the rest")
    func cameras() throws {
        let yaml = valid + """

            cameras:
              - id: cam-1
                host: 10.0.0.5
                rtsp: { port: 8554, path: /live }
                snapshot: { port: 8080 }
                username: viewer
                passwordFile: /etc/parkguard/cam-1.pass
                interval: 10s
              - id: cam-2
                host: cam-2.park.example
            cameraHealth: { failuresToDown: 4, slowAfter: 500ms }
            """
        let config = try ConfigFile.parse(yaml, file: "agent.yaml")
        #expect(config.cameras[0].rtsp == CameraConfig.Endpoint(port: 8554, path: "/live"))
        #expect(config.cameras[0].snapshot == CameraConfig.Endpoint(port: 8080, path: "/snapshot.jpg"))
        #expect(config.cameras[0].onvif == nil)
        #expect(config.cameras[0].interval == .seconds(10))
        #expect(config.cameras[1].rtsp == CameraConfig.Endpoint(port: 554, path: "/"))
        #expect(config.cameras[1].interval == .seconds(30))
        #expect(config.cameraHealth.policy.failuresToDown == 4)
        #expect(config.cameraHealth.policy.successesToUp == 2)
        #expect(config.cameraHealth.policy.slowAfter == .milliseconds(500))
    }

    @Test("camera mistakes name their line and key")
    func cameraErrors() {
        let yaml = valid + """

            cameras:
              - id: cam-1
                host: rtsp://10.0.0.5/live
                passwordFile: /x
              - id: cam-2
                host: 10.0.0.6
                rtsp: false
              - id: cam-3
                host: 10.0.0.7
                rtsp: { path: live }
            cameraHealth: { slowAfter: 10s, stepTimeout: 5s }
            """
        let found = errors(yaml)
        let hostLine = yaml.components(separatedBy: "\n").firstIndex { $0.contains("rtsp://") }.map { $0 + 1 }
        #expect(found.contains { $0.key == "cameras[0].host" && $0.line == hostLine })
        #expect(found.contains { $0.key == "cameras[0].passwordFile" && $0.message.contains("username") })
        #expect(found.contains { $0.key == "cameras[1]" && $0.message.contains("nothing to probe") })
        #expect(found.contains { $0.key == "cameras[2].rtsp.path" })
        #expect(found.contains { $0.key == "cameraHealth.slowAfter" })
    }

    @Test("a scenario is read in time order; mistakes name their line")
    func scenario() throws {
        let text = "steps:\n  - { at: 5s, camera: cam-1, clear: all }\n  - { at: 1s, press: b1 }\n  - { at: 2s, camera: cam-1, fault: slow, delayMs: 900 }\nrepeat: 10s\n"
        let scenario = try Scenario.decode(try ConfigFile.tree(text, file: "s.yaml"), file: "s.yaml", faults: ["slow"])
        #expect(scenario.steps.map(\.action) == [.press("b1"), .cameraFault(camera: "cam-1", fault: "slow", delayMs: 900, driftSeconds: nil),
                                                 .cameraClear(camera: "cam-1", fault: nil)])
        #expect(scenario.repeatEvery == .seconds(10))
        let bad = "steps:\n  - { at: 1s }\n  - { at: 2s, press: b1, release: b1 }\n  - { at: 3s, camera: c, fault: melt }\n"
        #expect(throws: ConfigErrors.self) { try Scenario.decode(try ConfigFile.tree(bad, file: "s.yaml"), file: "s.yaml", faults: ["slow"]) }
        do {
            _ = try Scenario.decode(try ConfigFile.tree(bad, file: "s.yaml"), file: "s.yaml", faults: ["slow"])
        } catch {
            #expect(error.errors.map(\.line) == [2, 3, 4])
        }
    }

    @Test("a board profile names the chip, and header pins map to its lines")
    func boardProfiles() throws {
        let yaml = valid
            .replacingOccurrences(of: "  backend: sim\n  socket: /tmp/x.sock", with: "  backend: gpiod\n  board: raspberry-pi-5")
            .replacingOccurrences(of: "    line: 17\n", with: "    pin: 11\n")
            .replacingOccurrences(of: "    line: 22\n", with: "    pin: 15\n")
        let config = try ConfigFile.parse(yaml, file: "agent.yaml")
        #expect(config.gpio.backend == .gpiod(chip: "pinctrl-rp1"))
        #expect(config.bells[0].setup.line == 17)
        #expect(config.inputs[0].setup.line == 22)
        #expect(BoardProfile.raspberryPi4.chip == "pinctrl-bcm2711")
        #expect(BoardProfile.orangePiZero.line(forPin: 12) == .success(7))

        let power = errors(yaml.replacingOccurrences(of: "    pin: 11\n", with: "    pin: 2\n"))
        #expect(power.contains { $0.key == "bells[0].pin" && $0.message.contains("5 V power, not a GPIO") && $0.line == 11 })
        let noBoard = errors(valid.replacingOccurrences(of: "    line: 17\n", with: "    pin: 11\n"))
        #expect(noBoard.contains { $0.key == "bells[0].pin" && $0.message.contains("set gpio.board") })
        let both = errors(yaml.replacingOccurrences(of: "    pin: 11\n", with: "    pin: 11\n    line: 17\n"))
        #expect(both.contains { $0.key == "bells[0].pin" && $0.message.contains("not both") })
        let unknown = errors(yaml.replacingOccurrences(of: "board: raspberry-pi-5", with: "board: banana"))
        #expect(unknown.contains { $0.key == "gpio.board" && $0.message.contains("raspberry-pi-4") })
    }

    @Test("YAML syntax errors give a line")
    func syntaxError() {
        let found = errors("site: a\nunit: [b\nbroker: {}\n")
        #expect(found.count == 1)
        #expect(found.first?.line ?? 0 > 0)
        #expect(found.first?.message.contains("YAML") == true)
    }

    @Test("an empty file and a non-mapping document are errors, not crashes")
    func emptyAndScalar() {
        #expect(errors("").first?.message == "the file is empty")
        #expect(!errors("just a string").isEmpty)
        #expect(!errors("- a\n- b\n").isEmpty)
    }

    @Test("the shipped example configuration is valid")
    func exampleIsValid() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/ParkGuardCoreTests/ConfigTests.swift", with: "Firmware/config/agent.example.yaml")
        let config = try ConfigFile.load(path: path)
        #expect(config.bells.count == 2)
    }

    @Test("units: durations and sizes parse, nonsense does not")
    func units() {
        #expect(ConfigUnits.duration("250ms") == .milliseconds(250))
        #expect(ConfigUnits.duration("1.5s") == .milliseconds(1500))
        #expect(ConfigUnits.duration("2m") == .seconds(120))
        #expect(ConfigUnits.duration("5") == nil)
        #expect(ConfigUnits.duration("-1s") == nil)
        #expect(ConfigUnits.duration("inf s") == nil)
        // Past Int64 nanoseconds (the fuzzer's find): saturates, so a range check refuses it.
        #expect(ConfigUnits.duration("1e300s") == .nanoseconds(Int64.max))
        #expect(ConfigUnits.duration("9.3e18ms") == .nanoseconds(Int64.max))
        #expect(ConfigUnits.bytes("16MiB") == 16 << 20)
        #expect(ConfigUnits.bytes("12") == 12)
        #expect(ConfigUnits.bytes("x") == nil)
    }
}
