import Foundation
import ParkGuardCore
import Testing

@Suite("Contract payloads and commands")
struct ContractTests {
    @Test("times are RFC 3339 UTC with milliseconds")
    func rfc3339() {
        #expect(WallTime(millisecondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(WallTime(millisecondsSinceEpoch: 1_795_600_000_123).rfc3339 == "2026-11-25T09:46:40.123Z")
        #expect(WallTime(millisecondsSinceEpoch: 951_782_400_000).rfc3339 == "2000-02-29T00:00:00.000Z")
    }

    @Test("an alarm encodes every contract field")
    func alarmEncoding() throws {
        let stamp = Stamp(wall: WallTime(millisecondsSinceEpoch: 0), mono: MonotonicInstant(nanoseconds: 2_000_000), clockSynced: false)
        let alarm = AlarmPayload(id: "id-1", seq: 7, session: 3, site: "s", unit: "u", bell: "b1", kind: .press, state: .alarm,
                                 stamp: stamp, edge: MonotonicInstant(nanoseconds: 1_000_000), cameras: [CameraLink(id: "c1")])
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(alarm)) as? [String: Any])
        #expect(object["schema"] as? String == "parkguard/alarm/1")
        #expect(object["seq"] as? Int == 7)
        #expect(object["kind"] as? String == "press")
        #expect(object["mono"] as? Int == 2)
        #expect(object["edgeMono"] as? Int == 1)
        #expect(object["clockSynced"] as? Bool == false)
        #expect(object["input"] == nil, "absent optionals are omitted, not null")
    }

    @Test("topics follow the contract and only our own command topics are commands")
    func topics() {
        let topics = Topics(site: "s", unit: "u")
        #expect(topics.commandFilter == "parkguard/v1/s/u/cmd/+")
        #expect(topics.commandName(of: "parkguard/v1/s/u/cmd/ack") == "ack")
        #expect(topics.commandName(of: "parkguard/v1/s/u/cmd/ack/result") == nil)
        #expect(topics.commandName(of: "parkguard/v1/s/other/cmd/ack") == nil)
    }

    private func parse(_ name: String, _ json: String) throws(CommandError) -> Command {
        try CommandParser.parse(name: name, payload: Array(json.utf8), bells: ["b1", "b2"])
    }

    @Test("valid commands parse with their correlation id")
    func validCommands() throws {
        #expect(try parse("ack", #"{"bell":"b1","correlationId":"x","by":"op"}"#) == Command(name: .ack, correlationID: "x", bell: "b1", by: "op"))
        #expect(try parse("silence", "").bell == nil)
        #expect(try parse("test", "  ").name == .test)
        #expect(try parse("rebirth", #"{"schema":"parkguard/cmd/1"}"#).name == .rebirth)
    }

    @Test("malformed commands are refused with the field named", arguments: [
        ("ack", "{}", "bell"),
        ("ack", #"{"bell":"b9"}"#, "bell"),
        ("ack", #"{"bell":5}"#, "bell"),
        ("ack", "not json", "payload"),
        ("ack", "[1,2]", "payload"),
        ("ack", #"{"bell":"b1","extra":true}"#, "extra"),
        ("test", #"{"bell":"b1"}"#, "bell"),
        ("ack", #"{"bell":"b1","schema":"other/1"}"#, "schema"),
        ("reboot", "{}", "topic"),
        ("ack", #"{"bell":"b1","correlationId":"\#(String(repeating: "x", count: 200))"}"#, "correlationId"),
    ])
    func malformedCommands(name: String, payload: String, field: String) {
        #expect(throws: CommandError.self) { try parse(name, payload) }
        do { _ = try parse(name, payload) } catch { #expect(error.field == field) }
    }

    @Test("invalid UTF-8 and oversized payloads are refused")
    func hostilePayloads() {
        #expect(throws: CommandError.self) { try CommandParser.parse(name: "ack", payload: [0xFF, 0xFE, 0x7B], bells: []) }
        #expect(throws: CommandError.self) {
            try CommandParser.parse(name: "ack", payload: Array(repeating: 0x20, count: 5000), bells: [])
        }
    }

    @Test("identifiers are [a-z0-9-]{1,32}")
    func identifiers() {
        #expect(Identifier.isValid("gate-1"))
        #expect(!Identifier.isValid(""))
        #expect(!Identifier.isValid("Gate"))
        #expect(!Identifier.isValid("a/b"))
        #expect(!Identifier.isValid("a+"))
        #expect(!Identifier.isValid(String(repeating: "a", count: 33)))
    }
}
