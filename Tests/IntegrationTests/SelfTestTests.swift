import Foundation
import ParkGuardTestKit
import Testing

/// The scheduled self-test end to end: the real daemon drives each bell's test relay on the
/// simulator (one of them with its relay wire cut), publishes its report, and the real hub's
/// console lists what needs a visit.
@Suite("Scheduled self-test", .serialized)
struct SelfTestTests {
    /// `HH:MM:SS` local time, `seconds` from now.
    func localTime(in seconds: Int) -> String {
        let calendar = Calendar.current
        let parts = calendar.dateComponents([.hour, .minute, .second], from: Date().addingTimeInterval(TimeInterval(seconds)))
        return String(format: "%02d:%02d:%02d", parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }

    /// The console's `/api/checks`, asked as a logged-in viewer.
    func checks(_ console: String) async throws -> [[String: Any]] {
        let client = """
            import http.cookiejar, json, sys, urllib.request
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            login = urllib.request.Request(sys.argv[1] + "/api/login", data=json.dumps({"name": "val", "password": "correct horse battery"}).encode(),
                                           headers={"Content-Type": "application/json"})
            opener.open(login, timeout=30).read()
            print(opener.open(sys.argv[1] + "/api/checks", timeout=30).read().decode())
            """
        let answer = try await run("/usr/bin/python3", ["-c", client, console])
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any] else {
            throw HarnessError("no checks from the console: \(answer.output) \(answer.error)")
        }
        return object["items"] as? [[String: Any]] ?? []
    }

    @Test("the scheduled self-test closes each bell's circuit with its test drive: a cut drive fails, never as an alarm, and the hub's console lists the unit; an overdue test and an expiring certificate are listed too")
    func scheduledSelfTest() async throws {
        let unit = try await Unit(startAgent: false) { config in
            config
                .replacingOccurrences(of: "  - id: b1\n", with: "  - id: b1\n    testDrive: drive-b1\n")
                .replacingOccurrences(of: "  - id: b2\n    line: 2\n", with: "  - id: b2\n    line: 2\n    testDrive: drive-b2\n")
                .replacingOccurrences(of: "outputs:\n", with: "outputs:\n  - {id: drive-b1, role: testDrive, line: 23}\n  - {id: drive-b2, role: testDrive, line: 24}\n")
                + "\nselfTest: {every: 1h, at: \"00:00:00\", jitter: 0s}\n"
        }
        // b2's relay wire is cut: its test drive never reaches the bell (a press still would).
        try await unit.sim("wiring", "b2", "--fault", "drive-cut")
        let db = unit.directory.file("hub.sqlite")
        let hubTool = Products.path("parkguard-hub")
        let added = try await run("/bin/sh", ["-c", "echo 'correct horse battery' | \"$0\" operator add val --role viewer --db \"$1\"", hubTool, db])
        #expect(added.status == 0, "operator add: \(added.error)")
        func startHub(_ name: String) async throws -> (Child, String) {
            let hub = try Child(hubTool, ["run", "--broker", "127.0.0.1:\(unit.broker.port)", "--db", db, "--console", "127.0.0.1:0",
                                          "--client-id", "selftest-hub-\(getpid())"], in: unit.directory, name: name)
            var console: String?
            _ = try await eventually { console = hub.stdout.split(separator: "\n").first { $0.hasPrefix("console: ") }.map { String($0.dropFirst(9)) }; return console != nil }
            return (hub, try #require(console, "the hub did not print its console address: \(hub.stderr.suffix(400))"))
        }
        let (hub, address) = try await startHub("hub")
        defer { hub.signal(SIGTERM) }
        // The slot is set just before the daemon starts (a slow start must not miss it: the next
        // would be an hour later).
        let text = try String(contentsOfFile: unit.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "\"00:00:00\"", with: "\"\(localTime(in: 8))\"").write(toFile: unit.configPath, atomically: true, encoding: .utf8)
        try await unit.start()

        let report = try await unit.subscriber.wait(timeout: .seconds(40), "the scheduled self-test report") { $0.topic == "\(unit.root)/selftest" }
        #expect(report.retained == false || report.retained, "delivered")
        #expect(report.string("trigger") == "scheduled")
        #expect(report.object?["passed"] as? Bool == false)
        let drives = report.object?["testDrives"] as? [[String: Any]] ?? []
        let b1 = drives.first { $0["bell"] as? String == "b1" }, b2 = drives.first { $0["bell"] as? String == "b2" }
        #expect(b1?["ok"] as? Bool == true && b1?["responseMs"] as? Int != nil, "\(drives)")
        #expect(b2?["ok"] as? Bool == false && (b2?["detail"] as? String ?? "").contains("line 2 did not follow the test drive"), "\(drives)")
        // The siren was spared at night; the strobe was cycled.
        let cycled = (report.object?["outputs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(cycled.contains("strobe") && !cycled.contains("siren") && !cycled.contains("drive-b1"), "\(cycled)")
        #expect(unit.alarms().isEmpty, "a test drive is a test, never an alarm: \(unit.alarms().map { $0.payload ?? "" })")
        try await unit.validateContract()

        // The console lists the unit whose test failed.
        var items: [[String: Any]] = []
        _ = try await eventually(timeout: .seconds(10)) {
            items = try await checks(address)
            return items.contains { $0["unit"] as? String == "unit-1" && $0["kind"] as? String == "selfTestFailed" }
        }
        let failed = items.first { $0["unit"] as? String == "unit-1" && $0["kind"] as? String == "selfTestFailed" }
        #expect((failed?["detail"] as? String ?? "").contains("b2 test drive"), "\(items)")
        // And the control room sees it on the console's page (headless Chromium).
        let shown = try await run("/usr/bin/python3", [Products.packageRoot + "/Tests/peers/console_checks.py", address,
                                                       "val:correct horse battery", unit.directory.file("checks.png")])
        #expect(shown.status == 0, "browser: \(shown.error.suffix(800))")
        let rows = ((try? JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any])?["rows"] as? [[String]]) ?? []
        #expect(rows.contains { $0.count == 4 && $0[0] == "test-park / unit-1" && $0[1] == "self-test failed" && $0[2].contains("b2 test drive") },
                "\(rows)")

        // The bell works after its test: a press is an alarm as ever.
        try await unit.sim("press", "b1")
        _ = try await unit.alarm("press")

        // Another unit: its last self-test is 10 days old and its certificate expires in 12 days.
        let day: TimeInterval = 86_400
        func rfc3339(_ date: Date) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: date)
        }
        let other = "parkguard/v1/test-park/unit-2"
        let status = #"{"bootId":"unknown","certificateExpires":"\#(rfc3339(Date().addingTimeInterval(12 * day)))","clockSynced":true,"mono":1,"schema":"parkguard/status/1","session":1,"site":"test-park","state":"online","time":"\#(rfc3339(Date()))","unit":"unit-2","version":"0.1.0"}"#
        let old = #"{"broker":{"ok":true,"roundTripMs":2},"cameras":[],"clockSynced":true,"inputs":[],"mono":1,"outputs":[],"passed":true,"schema":"parkguard/selftest/1","session":1,"site":"test-park","testDrives":[],"time":"\#(rfc3339(Date().addingTimeInterval(-10 * day)))","trigger":"scheduled","unit":"unit-2"}"#
        try await publish(broker: unit.broker, topic: "\(other)/status", payload: status, retain: true)
        try await publish(broker: unit.broker, topic: "\(other)/selftest", payload: old, retain: true)
        _ = try await eventually(timeout: .seconds(10)) {
            items = try await checks(address)
            return items.filter { $0["unit"] as? String == "unit-2" }.count == 2
        }
        let kinds = Set(items.filter { $0["unit"] as? String == "unit-2" }.compactMap { $0["kind"] as? String })
        #expect(kinds == ["selfTestOverdue", "certificateExpiring"], "\(items)")
        let expiring = items.first { $0["kind"] as? String == "certificateExpiring" }
        #expect((expiring?["detail"] as? String ?? "").contains("expires in 1"), "12 or 11 days: \(expiring ?? [:])")

        // The hub keeps the reports in its database: with the broker's retained copy cleared and
        // the hub restarted, the console still lists the failed test.
        try await publish(broker: unit.broker, topic: "\(unit.root)/selftest", payload: "", retain: true)
        hub.signal(SIGTERM)
        _ = try await hub.exitStatus(within: .seconds(20))
        let (again, address2) = try await startHub("hub-2")
        defer { again.signal(SIGTERM) }
        _ = try await eventually(timeout: .seconds(10)) {
            items = try await checks(address2)
            return items.contains { $0["unit"] as? String == "unit-1" && $0["kind"] as? String == "selfTestFailed" }
        }
        #expect(items.contains { $0["unit"] as? String == "unit-1" && $0["kind"] as? String == "selfTestFailed" }, "\(items)")
    }
}
