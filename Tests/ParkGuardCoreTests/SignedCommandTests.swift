import Foundation
import ParkGuardCore
import Testing

@Suite("Signed commands: envelope and freshness")
struct SignedCommandTests {
    let inner = SignedCommand.innerJSON(unit: "north-park/gate-1", command: "silence", timestamp: 1_795_622_335_123, payload: #"{"bell":"gate"}"#)

    @Test("an envelope is read back with the exact signed bytes and the inner payload")
    func roundTrip() throws {
        let envelope = SignedCommand.envelope(hub: "control", signed: inner, signature: Array(repeating: 7, count: 70))
        #expect(SignedCommand.isEnvelope(Array(envelope.utf8)))
        let command = try SignedCommand.parse(Array(envelope.utf8))
        #expect(command.hub == "control")
        #expect(command.signedBytes == inner)
        #expect(command.unit == "north-park/gate-1")
        #expect(command.command == "silence")
        #expect(command.timestamp == 1_795_622_335_123)
        #expect(command.payload == Array(#"{"bell":"gate"}"#.utf8))
        #expect(!SignedCommand.isEnvelope(Array(#"{"bell":"gate"}"#.utf8)))
    }

    @Test("malformed envelopes are refused naming the field")
    func malformed() {
        func field(_ text: String) -> String? {
            do { _ = try SignedCommand.parse(Array(text.utf8)); return nil } catch { return error.field }
        }
        let signed = Data(inner).base64EncodedString()
        let sig = Data(repeating: 1, count: 70).base64EncodedString()
        #expect(field(#"{"hub":"Control!","signed":"\#(signed)","sig":"\#(sig)"}"#) == "hub")
        #expect(field(#"{"hub":"control","signed":"%%%","sig":"\#(sig)"}"#) == "signed")
        #expect(field(#"{"hub":"control","signed":"\#(signed)","sig":"AA=="}"#) == "sig")
        #expect(field(#"{"hub":"control","signed":"\#(signed)","sig":"\#(sig)","extra":1}"#) == "extra")
        let noTs = Data(#"{"unit":"a/b","command":"test"}"#.utf8).base64EncodedString()
        #expect(field(#"{"hub":"control","signed":"\#(noTs)","sig":"\#(sig)"}"#) == "signed.ts")
    }

    @Test("freshness: right unit and command, newer than the last accepted, within the skew once the clock is synced")
    func freshness() throws {
        let envelope = SignedCommand.envelope(hub: "control", signed: inner, signature: Array(repeating: 7, count: 70))
        let command = try SignedCommand.parse(Array(envelope.utf8))
        let check = CommandFreshness(maxSkew: .seconds(300))
        let now = WallTime(millisecondsSinceEpoch: 1_795_622_335_123 + 10_000)
        func field(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch { return (error as? CommandError)?.field ?? "\(error)" }
        }
        #expect(field { try check.check(command, unit: "north-park/gate-1", name: "silence", lastAccepted: nil, now: now, clockSynced: true) } == nil)
        #expect(field { try check.check(command, unit: "north-park/gate-2", name: "silence", lastAccepted: nil, now: now, clockSynced: true) } == "signed.unit")
        #expect(field { try check.check(command, unit: "north-park/gate-1", name: "test", lastAccepted: nil, now: now, clockSynced: true) } == "signed.command")
        #expect(field { try check.check(command, unit: "north-park/gate-1", name: "silence", lastAccepted: command.timestamp, now: now, clockSynced: true) } == "signed.ts")
        let late = WallTime(millisecondsSinceEpoch: command.timestamp + 600_000)
        #expect(field { try check.check(command, unit: "north-park/gate-1", name: "silence", lastAccepted: nil, now: late, clockSynced: true) } == "signed.ts")
        // An unsynced unit clock is not trusted for the skew; the counter still stops replays.
        #expect(field { try check.check(command, unit: "north-park/gate-1", name: "silence", lastAccepted: nil, now: late, clockSynced: false) } == nil)
    }
}
