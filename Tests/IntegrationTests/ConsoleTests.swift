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

        // Cross-site and rebound requests are refused before any route, and change nothing: no
        // `ack` command reaches the unit. Every answer forbids framing and foreign script.
        let acksBefore = unit.subscriber.messages.filter { $0.topic == "\(unit.root)/cmd/ack" }.count
        let probe = """
            import http.client, json, sys, urllib.parse
            address = urllib.parse.urlparse(sys.argv[1]).netloc
            ack = json.dumps({"site": "test-park", "unit": "unit-1", "bell": "b1", "by": "mallory"})
            def ask(method, path, headers, body=None):
                c = http.client.HTTPConnection(address, timeout=10)
                c.putrequest(method, path, skip_host=True)
                for k, v in headers.items(): c.putheader(k, v)
                data = body.encode() if body else b""
                if method == "POST": c.putheader("Content-Length", str(len(data)))
                c.endheaders(data)
                r = c.getresponse()
                return {"status": r.status, "body": r.read().decode(), "csp": r.getheader("Content-Security-Policy") or "",
                        "frame": r.getheader("X-Frame-Options") or ""}
            print(json.dumps({
                "page": ask("GET", "/", {"Host": address}),
                "rebound": ask("GET", "/api/state", {"Host": "attacker.example:%s" % address.split(":")[1]}),
                "foreignText": ask("POST", "/api/ack", {"Host": address, "Origin": "http://attacker.example", "Content-Type": "text/plain"}, ack),
                "form": ask("POST", "/api/ack", {"Host": address, "Content-Type": "application/x-www-form-urlencoded"}, "site=test-park"),
                "crossSite": ask("POST", "/api/ack", {"Host": address, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, ack),
            }))
            """
        let probed = try await run("/usr/bin/python3", ["-c", probe, console])
        let answers = (try? JSONSerialization.jsonObject(with: Data(probed.output.utf8)) as? [String: [String: Any]]) ?? [:]
        #expect(answers["page"]?["status"] as? Int == 200, "\(probed.output)\(probed.error)")
        #expect((answers["page"]?["csp"] as? String)?.contains("frame-ancestors 'none'") == true && answers["page"]?["frame"] as? String == "DENY")
        #expect(answers["rebound"]?["status"] as? Int == 421 && (answers["rebound"]?["body"] as? String)?.contains("attacker.example") == true,
                "\(answers["rebound"] ?? [:])")
        #expect(answers["foreignText"]?["status"] as? Int == 403, "\(answers["foreignText"] ?? [:])")
        #expect(answers["form"]?["status"] as? Int == 415, "\(answers["form"] ?? [:])")
        #expect(answers["crossSite"]?["status"] as? Int == 403, "\(answers["crossSite"] ?? [:])")
        try await Task.sleep(for: .milliseconds(500))
        #expect(unit.subscriber.messages.filter { $0.topic == "\(unit.root)/cmd/ack" }.count == acksBefore, "a refused request sent a command")
        #expect(hub.stderr.contains("console request refused"), "refusals are logged")

        if let keep = ProcessInfo.processInfo.environment["PARKGUARD_CONSOLE_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: screenshot, toPath: keep)
        }
    }
}
