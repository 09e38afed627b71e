import Foundation
import ParkGuardTestKit
import Testing

/// The control-room console in a real browser (headless Chromium), against the real daemon, the
/// simulator, mosquitto and `parkguard-hub`.
@Suite("Hub console", .serialized)
struct ConsoleTests {
    @Test("in Chromium: a press appears live with its camera, Acknowledge reaches the unit, and its call-accepted light goes on")
    func browserAcknowledges() async throws {
        let unit = try await Unit()
        let db = unit.directory.file("hub.sqlite")
        let hub = try Child(Products.path("parkguard-hub"), ["run", "--broker", "127.0.0.1:\(unit.broker.port)", "--db", db,
                                                             "--console", "127.0.0.1:0", "--client-id", "console-hub-\(getpid())"],
                            in: unit.directory, name: "hub")
        defer { hub.signal(SIGTERM) }
        var url: String?
        _ = try await eventually { url = hub.stdout.split(separator: "\n").first { $0.hasPrefix("console: ") }.map { String($0.dropFirst(9)) }; return url != nil }
        let console = try #require(url, "the hub did not print its console address: \(hub.stderr.suffix(400))")
        // The unit's retained status and camera health reach the hub when it subscribes; a probe
        // or two later the camera's health is known.
        try await Task.sleep(for: .seconds(3))

        let screenshot = unit.directory.file("console.png")
        let browser = try await run("/usr/bin/python3", [Products.packageRoot + "/Tests/peers/console_browser.py",
                                                   console, unit.controlAddress, "b1", screenshot, "operator anna"])
        #expect(browser.status == 0, "browser: \(browser.output) \(browser.error.suffix(600))")
        let seen = (try? JSONSerialization.jsonObject(with: Data(browser.output.utf8)) as? [String: Any]) ?? [:]
        #expect(seen["emphasised"] as? Bool == true, "a new alarm is emphasised")
        #expect((seen["cameras"] as? String)?.contains("cam-1 @ gate") == true, "linked camera shown: \(seen["cameras"] ?? "")")
        #expect((seen["title"] as? String)?.hasPrefix("(1)") == true)

        // The unit lit its call-accepted output for bell b1.
        let outputs = try await unit.sim("outputs")
        let lines = (try? JSONSerialization.jsonObject(with: Data(outputs.utf8)) as? [[String: Any]]) ?? []
        #expect(lines.contains { $0["name"] as? String == "accepted-b1" && $0["on"] as? Bool == true }, "outputs: \(outputs)")

        // And the log says who acknowledged it.
        let logged = try await run(Products.path("parkguard-hub"), ["alarms", "--db", db, "--since", "1h", "--json"])
        let press = logged.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["kind"] as? String == "press" && $0["bell"] as? String == "b1" }
        #expect(press?["acknowledgedBy"] as? String == "operator anna", "log: \(logged.output)")

        // Request bodies are read up to 4 KiB: at the limit the request is judged, one byte over it is refused.
        let post = """
            import sys, urllib.request, urllib.error
            body = (b'{"site":"x","unit":"y","bell":"b9","by":"z"}').ljust(int(sys.argv[2]))
            try:
                r = urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/api/ack", data=body, headers={"Content-Type": "application/json"}))
                print(r.status, r.read().decode())
            except urllib.error.HTTPError as e:
                print(e.code, e.read().decode())
            """
        let atLimit = try await run("/usr/bin/python3", ["-c", post, console, "4096"])
        #expect(!atLimit.output.hasPrefix("413"), "at the limit: \(atLimit.output)\(atLimit.error)")
        let over = try await run("/usr/bin/python3", ["-c", post, console, "4097"])
        #expect(over.output.hasPrefix("413") && over.output.contains("over 4096 bytes"), "over the limit: \(over.output)\(over.error)")
        let state = try await run("/usr/bin/python3", ["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1] + '/api/state').status)", console])
        #expect(state.output.hasPrefix("200"), "the console still answers: \(state.error)")

        if let keep = ProcessInfo.processInfo.environment["PARKGUARD_CONSOLE_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: screenshot, toPath: keep)
        }
    }
}
