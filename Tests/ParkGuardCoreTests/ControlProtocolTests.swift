import ParkGuardCore
import Testing

@Suite("Control socket requests")
struct ControlProtocolTests {
    @Test("status, outputs, a self-test and a bounded watch are the requests; each parses from its own line")
    func knownRequests() throws {
        for request in [ControlRequest.status, .outputs, .selfTest, .watch(seconds: 30)] {
            #expect(try ControlRequest.parse(Array(request.line.utf8)) == request)
        }
    }

    @Test("anything else is refused with a reason that names the part", arguments: [
        ("", "request is not JSON"),
        ("[1]", "request must be a JSON object, got an array"),
        (#"{"request":"reboot"}"#, "request: unknown 'reboot'; known: status, outputs, selftest, watch"),
        (#"{"request":7}"#, "request: missing or not a string"),
        (#"{"request":"status","bell":"b1"}"#, "bell: not a field of 'status'"),
        (#"{"request":"watch"}"#, "seconds: a whole number from 1 to 600 is required"),
        (#"{"request":"watch","seconds":0}"#, "seconds: a whole number from 1 to 600 is required"),
        (#"{"request":"watch","seconds":601}"#, "seconds: a whole number from 1 to 600 is required"),
        (#"{"request":"watch","seconds":1.5}"#, "seconds: a whole number from 1 to 600 is required"),
    ])
    func refusals(line: String, reason: String) {
        #expect(throws: ControlRefusal(reason)) { try ControlRequest.parse(Array(line.utf8)) }
    }

    @Test("a line longer than the bound or not UTF-8 is refused before it is parsed")
    func bounds() {
        let long = Array(#"{"request":"status","x":""#.utf8) + [UInt8](repeating: 0x61, count: 600) + Array(#""}"#.utf8)
        #expect(throws: ControlRefusal("request is \(long.count) bytes; at most 512")) { try ControlRequest.parse(long) }
        #expect(throws: ControlRefusal("request is not UTF-8")) { try ControlRequest.parse([0x7B, 0xFF, 0x7D]) }
    }
}

@Suite("Doctor report")
struct DoctorReportTests {
    @Test("warnings and skipped checks still exit 0; one failure exits 1 and the screen says what to check")
    func verdicts() {
        var report = DoctorReport(site: "north", unit: "u1", version: "1.0", daemonRunning: false, checks: [
            DoctorCheck("configuration", .ok, "agent.yaml"),
            DoctorCheck("clock", .warning, "not synchronised", advice: "check NTP"),
            DoctorCheck("outputs", .skipped, "not switched"),
        ])
        #expect(report.exitCode == 0)
        #expect(report.screenVerdict == "verdict: working, 1 warning (exit 0)")
        report.checks.append(DoctorCheck("bell b1", .failed, "line 17 reads pressed at rest", advice: "check the wiring"))
        #expect(report.exitCode == 1)
        let screen = report.screen(width: 14)
        #expect(screen.contains("  FAIL  bell b1       line 17 reads pressed at rest\n                      -> check the wiring"))
        #expect(screen.contains("  WARN  clock         not synchronised"))
        #expect(!screen.contains("-> " + "agent.yaml"))
        #expect(screen.hasSuffix("verdict: 1 check failed, 1 warning (exit 1)\n"))
    }

    @Test("a line is named with its header pin when the board is known")
    func wiringHints() {
        #expect(WiringHint.line(17, board: .raspberryPi4) == "line 17 (Raspberry Pi 4 header pin 11)")
        #expect(WiringHint.line(17, board: nil) == "line 17")
    }
}
