import Foundation
import ParkGuardCore
import ParkGuardTestKit
import Testing

/// The control-room console in a real browser (headless Chromium), against the real daemon, the
/// simulator, mosquitto and `parkguard-hub`.
@Suite("Hub console", .serialized)
struct ConsoleTests {
    @Test("in Chromium: operators log in; a press opens an incident live with its camera and the camera's pictures, the operator's Acknowledge reaches the unit and lights its call-accepted output, the operator resolves it with an outcome and a note; a viewer can do neither; all of it is audited")
    func browserAcknowledges() async throws {
        let unit = try await Unit()
        let db = unit.directory.file("hub.sqlite")
        let hubTool = Products.path("parkguard-hub")
        for (name, role, language) in [("anna", "operator", "en"), ("vera", "viewer", "ko"), ("sam", "supervisor", "en")] {
            let added = try await run("/bin/sh", ["-c", "echo 'correct horse battery' | \"$0\" operator add \(name) --role \(role) --language \(language) --db \"$1\"",
                                                  hubTool, db])
            #expect(added.status == 0, "operator add: \(added.error)")
        }
        // The district's own tile server: any tile is one grey PNG; every request is logged.
        let tilePort = freePort()
        let tileLog = unit.directory.file("tiles.log")
        let tiles = try Child("/usr/bin/python3", ["-c", """
            import base64, http.server, sys
            png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGO4DwAA2ADXqU26ygAAAABJRU5ErkJggg==")
            log = open(sys.argv[2], "a", buffering=1)
            class Tiles(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    log.write(self.path + "\\n")
                    self.send_response(200); self.send_header("Content-Type", "image/png"); self.send_header("Content-Length", str(len(png)))
                    self.end_headers(); self.wfile.write(png)
                def log_message(self, *args): pass
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Tiles).serve_forever()
            """, String(tilePort), tileLog], in: unit.directory, name: "tiles")
        defer { tiles.signal(SIGTERM) }
        let hub = try Child(hubTool, ["run", "--broker", "127.0.0.1:\(unit.broker.port)", "--db", db,
                                      "--console", "127.0.0.1:0", "--client-id", "console-hub-\(getpid())", "--time-zone", "Asia/Seoul",
                                      "--map-tiles", "http://127.0.0.1:\(tilePort)/{z}/{x}/{y}.png"],
                            in: unit.directory, name: "hub")
        defer { hub.signal(SIGTERM) }
        var url: String?
        _ = try await eventually { url = hub.stdout.split(separator: "\n").first { $0.hasPrefix("console: ") }.map { String($0.dropFirst(9)) }; return url != nil }
        let console = try #require(url, "the hub did not print its console address: \(hub.stderr.suffix(400))")
        // The unit's retained status and camera health reach the hub when it subscribes; a probe
        // or two later the camera's health is known.
        try await Task.sleep(for: .seconds(3))

        let screenshot = unit.directory.file("console.png")
        let browser = try await run("/usr/bin/python3", [Products.packageRoot + "/Tests/peers/console_browser.py", console, unit.controlAddress, "b1",
                                                         screenshot, "anna:correct horse battery", "vera:correct horse battery",
                                                         "sam:correct horse battery"])
        #expect(browser.status == 0, "browser: \(browser.output) \(browser.error.suffix(600))")
        let seen = (try? JSONSerialization.jsonObject(with: Data(browser.output.utf8)) as? [String: Any]) ?? [:]
        #expect(seen["consoleHiddenBeforeLogin"] as? Bool == true, "nothing of the fleet shows before login")
        #expect((seen["signedInAs"] as? String)?.contains("anna") == true)
        #expect(seen["emphasised"] as? Bool == true, "a new incident is emphasised")
        #expect((seen["cameras"] as? String)?.contains("cam-1 @ gate") == true, "linked camera shown: \(seen["cameras"] ?? "")")
        // The camera's pictures, as the hub keeps them, are in the card: 320×240 from the simulated camera.
        let pictures = seen["pictures"] as? [[Any]] ?? []
        #expect(pictures.count == 2 && pictures.allSatisfy { $0.count == 3 && $0[1] as? Int == 320 && $0[2] as? Int == 240 }
                && pictures.contains { ($0[0] as? String)?.contains("cam-1 · at the press") == true }
                && pictures.contains { ($0[0] as? String)?.contains("cam-1 · turned to the bell") == true }, "\(pictures)")
        #expect((seen["cameraEvents"] as? String)?.contains("cam-1 turned to gate") == true, "the camera's move, from the unit's ptz event: \(seen["cameraEvents"] ?? "")")
        // Where the bell is: its description and coordinates, and the district's map around it.
        #expect((seen["alarm"] as? String)?.contains("north gate, beside the toilets · 37.56702, 126.97695") == true, "\(seen["alarm"] ?? "")")
        #expect((seen["unitsBefore"] as? String)?.contains("north gate · 37.56650, 126.97800") == true, "\(seen["unitsBefore"] ?? "")")
        let latitude = 37.56702 * Double.pi / 180, scale = Double(1 << 17)
        let tile = "/17/\(Int((126.97695 + 180) / 360 * scale))/\(Int((1 - log(tan(latitude) + 1 / cos(latitude)) / Double.pi) / 2 * scale)).png"
        let requested = (try? String(contentsOfFile: tileLog, encoding: .utf8)) ?? ""
        #expect(requested.contains(tile) && seen["mapTiles"] as? Int == 9, "the map asks for \(tile): \(requested.prefix(300)) \(seen["mapTiles"] ?? "")")
        #expect((seen["title"] as? String)?.hasPrefix("(1)") == true)
        #expect((seen["acknowledgedCard"] as? String)?.contains("acknowledged by anna") == true, "\(seen["acknowledgedCard"] ?? "")")
        #expect(seen["titleAfterAck"] as? String == "ParkGuard control room", "the count leaves the title once acknowledged")
        let timeline = seen["timeline"] as? String ?? ""
        #expect(timeline.contains("press") && timeline.contains("release") && timeline.contains("acknowledge") && timeline.contains("anna")
                && timeline.contains("cam-1 turned to gate"), "the timeline has the press, the camera's move, its release and the acknowledgement: \(timeline)")
        #expect((seen["outcomeShown"] as? String)?.contains("assistance given") == true, "\(seen["outcomeShown"] ?? "")")
        #expect((seen["timelineWithNote"] as? String)?.contains("note anna incident") == true, "\(seen["timelineWithNote"] ?? "")")
        #expect((seen["timelineWithNote"] as? String)?.contains("127.0.0.1") == false, "an operator's timeline names no addresses")
        #expect(seen["viewerButtons"] as? Int == 0, "a viewer has no Acknowledge button and no resolution")
        #expect(seen["operatorActionCells"] as? Int == 0, "an operator has no unit commands")
        let filtered = seen["filteredOut"] as? [String: Any]
        #expect(filtered?["rows"] as? Int == 0 && (filtered?["summary"] as? String)?.hasSuffix("1 of 1 online · 0 shown") == true
                && filtered?["message"] as? String == "No unit matches.", "\(filtered ?? [:])")
        #expect((seen["supervisorAudit"] as? String)?.contains("anna") == true, "\(seen["supervisorAudit"] ?? "")")
        #expect((seen["selfTest"] as? String)?.hasPrefix("self-test") == true, "the supervisor's self-test answered: \(seen["selfTest"] ?? "")")
        // Vera reads Korean, with times in the control room's zone (Asia/Seoul, UTC+9, a 24-hour clock).
        #expect(seen["viewerLanguage"] as? String == "ko" && (seen["viewerHeading"] as? String)?.hasPrefix("미해결 사건") == true, "\(seen)")
        var seoul = Calendar(identifier: .gregorian)
        seoul.timeZone = try #require(TimeZone(identifier: "Asia/Seoul"))
        let hour = String(format: "%02d:", seoul.component(.hour, from: Date()))
        #expect((seen["viewerAlarm"] as? String)?.contains("비상벨 b1") == true && (seen["viewerAlarm"] as? String)?.contains("발생") == true
                && (seen["viewerAlarm"] as? String)?.contains(hour) == true, "\(seen["viewerAlarm"] ?? "") should show the Seoul hour \(hour)")
        #expect((seen["viewerClock"] as? String)?.hasSuffix("Asia/Seoul") == true, "\(seen["viewerClock"] ?? "")")
        let viewerAck = seen["viewerAck"] as? [String: Any]
        #expect(viewerAck?["status"] as? Int == 403 && (viewerAck?["error"] as? String)?.contains("viewer") == true, "\(viewerAck ?? [:])")
        let viewerResolve = seen["viewerResolve"] as? [String: Any]
        #expect(viewerResolve?["status"] as? Int == 403, "\(viewerResolve ?? [:])")

        // The unit lit its call-accepted output for bell b1.
        let outputs = try await unit.sim("outputs")
        let lines = (try? JSONSerialization.jsonObject(with: Data(outputs.utf8)) as? [[String: Any]]) ?? []
        #expect(lines.contains { $0["name"] as? String == "accepted-b1" && $0["on"] as? Bool == true }, "outputs: \(outputs)")

        // The log says who acknowledged it: the logged-in operator.
        let logged = try await run(hubTool, ["alarms", "--db", db, "--since", "1h", "--json"])
        let press = logged.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["kind"] as? String == "press" && $0["bell"] as? String == "b1" }
        #expect(press?["acknowledgedBy"] as? String == "anna", "log: \(logged.output)")

        // Two presses, two incidents: the first resolved by anna with her outcome and note, the
        // viewer's still open; the period exports as CSV.
        let listed = try await run(hubTool, ["incidents", "--db", db, "--since", "1h", "--json"])
        let incidents = listed.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(incidents.count == 2, "incidents: \(listed.output) \(listed.error)")
        #expect(incidents.first?["outcome"] as? String == "assistanceGiven" && incidents.first?["note"] as? String == "lost child, found at the gate"
                && incidents.first?["resolvedBy"] as? String == "anna" && incidents.first?["acknowledgedBy"] as? String == "anna"
                && incidents.first?["kind"] as? String == "call", "\(incidents.first ?? [:])")
        #expect(incidents.last?["resolvedAt"] == nil && incidents.last?["acknowledgedAt"] == nil)
        // The first incident's pictures, written out as the unit sent them (each says what it is).
        let firstIncident = try #require(incidents.first?["id"] as? String)
        let exportDirectory = unit.directory.file("pictures")
        let exported = try await run(hubTool, ["snapshots", "--db", db, "--incident", firstIncident, "--export", exportDirectory, "--json"])
        let files = exported.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { $0["file"] as? String }
        #expect(exported.status == 0 && files.count == 2, "\(exported.output) \(exported.error)")
        for file in files {
            let jpeg = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data())
            let meta = try SnapshotMeta.read(from: jpeg)
            let info = try JPEGInfo.read(jpeg)
            #expect(meta.alarmId == firstIncident && meta.camera == "cam-1" && info.width == 320, "\(file)")
        }
        let again = try await run(hubTool, ["snapshots", "--db", db, "--incident", firstIncident, "--export", exportDirectory])
        #expect(again.status == 73 && again.error.contains("not overwritten"), "\(again.error)")
        let unknown = try await run(hubTool, ["snapshots", "--db", db, "--incident", "no-such-incident"])
        #expect(unknown.status == 66 && unknown.error.contains("no incident"), "\(unknown.error)")
        let openOnly = try await run(hubTool, ["incidents", "--db", db, "--since", "1h", "--open"])
        #expect(openOnly.output.split(separator: "\n").count == 1 && openOnly.output.contains("not acknowledged, open"), "\(openOnly.output)")
        let korean = try await run(hubTool, ["incidents", "--db", db, "--since", "1h", "--open", "--language", "ko"])
        #expect(korean.output.contains("호출") && korean.output.contains("미접수, 미해결"), "the table in the operator's language: \(korean.output)")
        let csv = try await run(hubTool, ["incidents", "--db", db, "--since", "1h", "--csv"])
        let rows = csv.output.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.count == 3 && rows[0].hasPrefix("id,site,unit,bell,kind") && rows[1].contains("\"lost child, found at the gate\""), "\(csv.output)")
        let backwards = try await run(hubTool, ["incidents", "--db", db, "--since", "1h", "--until", "2h"])
        #expect(backwards.status == 64 && backwards.error.contains("--until must not be before --since"), "\(backwards.error)")

        // The audit trail has every step, with who and from where.
        let audit = try await run(hubTool, ["audit", "--db", db, "--since", "1h", "--json"])
        let entries = audit.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = entries.map { "\($0["actor"] ?? "") \($0["action"] ?? "")" }
        #expect(steps.dropFirst(3) == ["anna loginFailed", "anna login", "anna acknowledge", "anna note", "anna resolve", "anna logout", "vera login", "vera logout",
                                       "sam login", "sam selfTest", "sam logout"],
                "audit: \(steps)")
        #expect(entries.first { $0["action"] as? String == "acknowledge" }?["target"] as? String == "test-park/unit-1/b1")
        #expect(entries.first { $0["action"] as? String == "login" }?["address"] as? String == "127.0.0.1")

        // Without a session nothing of the fleet is given and nothing is changed; a session's
        // state change needs its CSRF token, and a `by` in the body changes nothing of who acts.
        let client = """
            import http.cookiejar, json, sys, urllib.request, urllib.error
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            def ask(path, body=None, headers=None):
                data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
                h = {"Content-Type": "application/json"}; h.update(headers or {})
                try:
                    r = opener.open(urllib.request.Request(sys.argv[1] + path, data=data, headers=h), timeout=15)
                    return {"status": r.status, "body": r.read().decode()}
                except urllib.error.HTTPError as e:
                    return {"status": e.code, "body": e.read().decode(), "retryAfter": e.headers.get("Retry-After")}
            out = {"state": ask("/api/state"), "ack": ask("/api/ack", {"site": "test-park", "unit": "unit-1", "bell": "b1", "by": "mallory"}),
                   "atLimit": ask("/api/login", b'{"name":"x","password":"y"}'.ljust(4096)),
                   "overLimit": ask("/api/login", b'{"name":"x","password":"y"}'.ljust(4097))}
            login = ask("/api/login", {"name": "anna", "password": "correct horse battery"})
            csrf = json.loads(login["body"])["csrfToken"]
            out["login"] = {"status": login["status"], "cookie": [c.name for c in jar]}
            out["stateWithSession"] = ask("/api/state")["status"]
            out["ackWithoutToken"] = ask("/api/ack", {"site": "test-park", "unit": "unit-1", "bell": "b1"})
            out["auditAsOperator"] = ask("/api/audit")["status"]
            token = {"X-ParkGuard-CSRF": csrf}
            state = json.loads(opener.open(sys.argv[1] + "/api/state").read())
            incident = state["incidents"]["incidents"][0]["id"]
            out["openIncident"] = state["incidents"]
            out["resolveUnknown"] = ask("/api/incidents/nope/resolve", {"outcome": "other"}, token)
            out["resolveBadId"] = ask("/api/incidents/%s/resolve" % ("x" * 65), {"outcome": "other"}, token)
            out["resolveBadOutcome"] = ask("/api/incidents/%s/resolve" % incident, {"outcome": "solved"}, token)
            out["resolveLongNote"] = ask("/api/incidents/%s/resolve" % incident, {"outcome": "other", "note": "x" * 1001}, token)
            out["resolveNotAcknowledged"] = ask("/api/incidents/%s/resolve" % incident, {"outcome": "falseAlarm", "note": ""}, token)
            out["resolveWithoutToken"] = ask("/api/incidents/%s/resolve" % incident, {"outcome": "falseAlarm"})
            out["noteEmpty"] = ask("/api/incidents/%s/note" % incident, {"note": ""}, token)
            out["noteControl"] = ask("/api/incidents/%s/note" % incident, {"note": "bell\\u0007"}, token)
            out["timeline"] = ask("/api/incidents/%s" % incident)
            out["logout"] = ask("/api/logout", {}, {"X-ParkGuard-CSRF": csrf})["status"]
            out["stateAfterLogout"] = ask("/api/state")["status"]
            print(json.dumps(out))
            """
        let asked = try await run("/usr/bin/python3", ["-c", client, console])
        let api = (try? JSONSerialization.jsonObject(with: Data(asked.output.utf8)) as? [String: Any]) ?? [:]
        func status(_ key: String) -> Int? { (api[key] as? [String: Any])?["status"] as? Int ?? api[key] as? Int }
        #expect(status("state") == 401 && status("ack") == 401, "\(asked.output)\(asked.error)")
        // Request bodies are read up to 4 KiB: at the limit the request is judged, one byte over it is refused.
        #expect(status("atLimit") == 401 && status("overLimit") == 413, "\(api["atLimit"] ?? "") \(api["overLimit"] ?? "")")
        #expect(status("login") == 200 && status("stateWithSession") == 200, "\(asked.output)")
        #expect(status("ackWithoutToken") == 403 && status("auditAsOperator") == 403)
        // Every refusal of a resolution names what is wrong and changes nothing.
        for (key, code, words) in [("resolveUnknown", 404, "no incident"), ("resolveBadId", 400, "not an alarm id"),
                                   ("resolveBadOutcome", 400, "outcome must be one of"), ("resolveLongNote", 400, "over 1000 bytes"),
                                   ("resolveNotAcknowledged", 409, "must be acknowledged"), ("resolveWithoutToken", 403, "X-ParkGuard-CSRF"),
                                   ("noteEmpty", 400, "note is empty"), ("noteControl", 400, "control character")] {
            let answer = api[key] as? [String: Any]
            #expect(answer?["status"] as? Int == code && (answer?["body"] as? String)?.contains(words) == true, "\(key): \(answer ?? [:])")
        }
        #expect(status("timeline") == 200 && ((api["timeline"] as? [String: Any])?["body"] as? String)?.contains("\"alarms\"") == true)
        let stillOpen = try await run(hubTool, ["incidents", "--db", db, "--since", "1h", "--open", "--json"])
        #expect(stillOpen.output.split(separator: "\n").count == 1 && !stillOpen.output.contains("resolvedAt"), "\(stillOpen.output)")
        #expect(status("logout") == 200 && status("stateAfterLogout") == 401)
        // A wrong guess beside these took no session: anna's acknowledgement from the browser is the only one.
        let after = try await run(hubTool, ["audit", "--db", db, "--since", "1h", "--json"])
        #expect(after.output.components(separatedBy: "\"acknowledge\"").count == 2, "one acknowledgement in the trail: \(after.output)")

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
            for suffix in ["-login.png", "-timeline.png", "-supervisor.png"] {
                let shot = keep.replacingOccurrences(of: ".png", with: suffix)
                try? FileManager.default.removeItem(atPath: shot)
                try FileManager.default.copyItem(atPath: screenshot.replacingOccurrences(of: ".png", with: suffix), toPath: shot)
            }
        }
    }

    @Test("a supervisor silences a unit's siren and runs its self-test from the console, signed by the hub where the unit requires signatures; an operator may not; unknown units and bad bells are refused; all of it is audited")
    func supervisorCommands() async throws {
        let keys = try ScratchDirectory()
        let key = keys.file("hub.key"), pub = keys.file("hub.pub"), pkcs8 = keys.file("hub8.key")
        #expect(try await run("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]).status == 0)
        #expect(try await run("/usr/bin/openssl", ["ec", "-in", key, "-pubout", "-out", pub]).status == 0)
        #expect(try await run("/usr/bin/openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", key, "-out", pkcs8]).status == 0)
        chmod(pkcs8, 0o600)
        let unit = try await Unit { $0 + "\ncommands:\n  hubKeys: [{hub: control, keyFile: \(pub)}]\n" }
        let db = unit.directory.file("hub.sqlite")
        let hubTool = Products.path("parkguard-hub")
        for (name, role) in [("sam", "supervisor"), ("anna", "operator")] {
            let added = try await run("/bin/sh", ["-c", "echo 'correct horse battery' | \"$0\" operator add \(name) --role \(role) --db \"$1\"", hubTool, db])
            #expect(added.status == 0, "operator add: \(added.error)")
        }
        func startHub(_ extra: [String]) async throws -> (Child, String) {
            let hub = try Child(hubTool, ["run", "--broker", "127.0.0.1:\(unit.broker.port)", "--db", db, "--console", "127.0.0.1:0",
                                          "--client-id", "console-hub-\(getpid())-\(extra.count)"] + extra, in: unit.directory, name: "hub")
            var url: String?
            _ = try await eventually { url = hub.stdout.split(separator: "\n").first { $0.hasPrefix("console: ") }.map { String($0.dropFirst(9)) }; return url != nil }
            return (hub, try #require(url, "the hub did not print its console address: \(hub.stderr.suffix(400))"))
        }
        let client = """
            import http.cookiejar, json, sys, urllib.request, urllib.error
            def session(name):
                jar = http.cookiejar.CookieJar()
                opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                def ask(path, body=None, token=None):
                    h = {"Content-Type": "application/json"}
                    if token: h["X-ParkGuard-CSRF"] = token
                    try:
                        r = opener.open(urllib.request.Request(sys.argv[1] + path, data=json.dumps(body).encode() if body is not None else None, headers=h), timeout=30)
                        return {"status": r.status, **json.loads(r.read())}
                    except urllib.error.HTTPError as e:
                        return {"status": e.code, **json.loads(e.read())}
                token = ask("/api/login", {"name": name, "password": "correct horse battery"})["csrfToken"]
                return lambda path, body={}: ask(path, body, token)
            out = {}
            for step in sys.argv[2].split(","):
                who, path, body = step.split(" ", 2)
                out[step] = session(who)(path, json.loads(body))
            print(json.dumps(out))
            """
        func ask(_ console: String, _ steps: [String]) async throws -> [String: [String: Any]] {
            let asked = try await run("/usr/bin/python3", ["-c", client, console, steps.joined(separator: ",")])
            return (try? JSONSerialization.jsonObject(with: Data(asked.output.utf8)) as? [String: [String: Any]]) ?? ["error": ["output": asked.output + asked.error]]
        }

        let (hub, console) = try await startHub(["--signing-key", pkcs8, "--signing-name", "control"])
        try await Task.sleep(for: .seconds(2))  // the unit's retained status reaches the hub
        try await unit.sim("press", "b1")
        #expect(try await eventually { try await unit.output("siren") }, "the press sounds the siren")
        let silence = "sam /api/units/test-park/unit-1/silence {\"bell\":\"b1\"}", test = "sam /api/units/test-park/unit-1/test {}"
        let refusals = ["anna /api/units/test-park/unit-1/silence {}", "sam /api/units/test-park/nope/test {}",
                        "sam /api/units/test-park/unit-1/silence {\"bell\":\"B 1\"}", "sam /api/units/Test%20Park/unit-1/test {}"]
        let answers = try await ask(console, [silence, test] + refusals)
        #expect(answers[silence]?["status"] as? Int == 200 && answers[silence]?["ok"] as? Bool == true, "\(answers)")
        // The bell is still held down: the self-test runs and reports it.
        #expect(answers[test]?["status"] as? Int == 200 && answers[test]?["ok"] as? Bool == false
                && (answers[test]?["detail"] as? String)?.contains("self-test found problems: b1: reads pressed") == true, "\(answers[test] ?? [:])")
        for ((step, code), words) in zip(zip(refusals, [403, 404, 400, 400]), ["needs a supervisor", "no unit test-park/nope", "is not a bell id", "is not a unit"]) {
            #expect(answers[step]?["status"] as? Int == code && (answers[step]?["error"] as? String)?.contains(words) == true, "\(step): \(answers[step] ?? [:])")
        }
        // The siren went quiet; the command the unit accepted was signed.
        #expect(try await eventually { try await !unit.output("siren") }, "the siren went quiet")
        let sent = unit.subscriber.messages.filter { $0.topic == "\(unit.root)/cmd/silence" }
        #expect(sent.count == 1 && sent.first?.string("sig") != nil, "\(sent.map { $0.payload ?? "" })")
        hub.signal(SIGTERM)
        _ = try await hub.exitStatus()

        // A hub without the key: the unit refuses its command, and the console says so.
        let (unsigned, console2) = try await startHub([])
        defer { unsigned.signal(SIGTERM) }
        try await Task.sleep(for: .seconds(2))
        let refused = try await ask(console2, [test])
        #expect(refused[test]?["status"] as? Int == 502 && (refused[test]?["error"] as? String)?.contains("sig") == true, "\(refused)")

        let audit = try await run(hubTool, ["audit", "--db", db, "--since", "1h", "--json"])
        let steps = audit.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { ["silence", "selfTest"].contains($0["action"] as? String) }.map { "\($0["actor"] ?? "") \($0["action"] ?? "") \($0["target"] ?? "")" }
        #expect(steps == ["sam silence test-park/unit-1/b1", "sam selfTest test-park/unit-1", "sam selfTest test-park/unit-1"], "\(steps)")
    }
}
