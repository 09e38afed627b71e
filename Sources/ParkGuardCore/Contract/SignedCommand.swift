#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// A command signed by a hub, so that a unit obeys `silence` and `test` only from the hub even
/// if someone else can publish on its command topic (a misconfigured broker ACL, a stolen
/// broker password, a compromised unit next door).
///
/// The payload of `cmd/{name}` is an envelope:
///
/// ```json
/// {"hub": "control", "signed": "<base64 of the inner JSON>", "sig": "<base64 DER ECDSA P-256 SHA-256 over those bytes>"}
/// ```
///
/// and the inner JSON binds the command to one unit, one command name and one instant:
///
/// ```json
/// {"unit": "north-park/gate-1", "command": "silence", "ts": 1795622335123, "payload": "{\"bell\":\"gate\"}"}
/// ```
///
/// `ts` (hub milliseconds since the epoch) must grow from one accepted command to the next
/// (the highest accepted is kept across restarts), which stops replays even on a unit whose
/// clock is not synced yet; when the unit's clock is synced, `ts` must also be within `maxSkew`
/// of it, so a withheld command cannot be played later.
public struct SignedCommand: Sendable, Equatable {
    public var hub: String
    /// The exact bytes the signature covers.
    public var signedBytes: [UInt8]
    public var signature: [UInt8]
    public var unit: String
    public var command: String
    public var timestamp: Int64
    /// The command's own payload (what an unsigned command would carry).
    public var payload: [UInt8]

    /// Whether `payload` looks like an envelope (and must then verify).
    public static func isEnvelope(_ payload: [UInt8]) -> Bool {
        guard let object = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)), case .object(let fields) = object else { return false }
        return fields["sig"] != nil || fields["signed"] != nil
    }

    /// Reads the envelope and its inner JSON; the signature is not checked here.
    /// - Parameter maxBytes: the largest envelope accepted (a receipt's is larger than a command's).
    public static func parse(_ payload: [UInt8], maxBytes: Int = CommandParser.maxPayloadBytes * 2) throws(CommandError) -> SignedCommand {
        guard payload.count <= maxBytes else { throw CommandError(field: "payload", "is \(payload.count) bytes; at most \(maxBytes) are accepted") }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)), case .object(let envelope) = value else {
            throw CommandError(field: "payload", "a signed command must be a JSON object")
        }
        if let unknown = envelope.keys.sorted().first(where: { !["hub", "signed", "sig"].contains($0) }) {
            throw CommandError(field: String(unknown.prefix(64)), "is not a field of a signed command (hub, signed, sig)")
        }
        guard case .string(let hub)? = envelope["hub"], Identifier.isValid(hub) else {
            throw CommandError(field: "hub", "must name the signing hub ([a-z0-9-]{1,32})")
        }
        guard case .string(let signedText)? = envelope["signed"], let signed = Data(base64Encoded: signedText) else {
            throw CommandError(field: "signed", "must be Base64 of the inner JSON")
        }
        guard case .string(let sigText)? = envelope["sig"], let sig = Data(base64Encoded: sigText), (8 ... 80).contains(sig.count) else {
            throw CommandError(field: "sig", "must be a Base64 DER ECDSA signature")
        }
        guard let inner = try? JSONDecoder().decode(JSONValue.self, from: signed), case .object(let fields) = inner else {
            throw CommandError(field: "signed", "does not hold a JSON object")
        }
        if let unknown = fields.keys.sorted().first(where: { !["unit", "command", "ts", "payload"].contains($0) }) {
            throw CommandError(field: "signed.\(unknown.prefix(64))", "is not a field of the signed part (unit, command, ts, payload)")
        }
        guard case .string(let unit)? = fields["unit"] else { throw CommandError(field: "signed.unit", "is required (site/unit)") }
        guard case .string(let command)? = fields["command"] else { throw CommandError(field: "signed.command", "is required") }
        guard case .number(let ts)? = fields["ts"], ts >= 0, ts < 1e15, ts.rounded() == ts else {
            throw CommandError(field: "signed.ts", "must be the hub's time in whole milliseconds since the epoch")
        }
        var commandPayload: [UInt8] = []
        if let value = fields["payload"] {
            guard case .string(let text) = value else { throw CommandError(field: "signed.payload", "must be the command's JSON as a string") }
            commandPayload = Array(text.utf8)
        }
        return SignedCommand(hub: hub, signedBytes: Array(signed), signature: Array(sig), unit: unit, command: command,
                             timestamp: Int64(ts), payload: commandPayload)
    }

    /// The inner JSON for a hub to sign (used by the provisioning tool and tests).
    public static func innerJSON(unit: String, command: String, timestamp: Int64, payload: String) -> [UInt8] {
        struct Inner: Encodable {
            var unit: String
            var command: String
            var ts: Int64
            var payload: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Inner(unit: unit, command: command, ts: timestamp, payload: payload))).map { [UInt8]($0) } ?? []
    }

    /// The envelope around signed bytes.
    public static func envelope(hub: String, signed: [UInt8], signature: [UInt8]) -> String {
        #"{"hub":"\#(hub)","sig":"\#(Data(signature).base64EncodedString())","signed":"\#(Data(signed).base64EncodedString())"}"#
    }
}

/// What the unit checks besides the signature: the addressee, the command name and freshness.
public struct CommandFreshness: Sendable, Equatable {
    /// Signed commands further than this from a synced unit clock are refused.
    public var maxSkew: Duration
    public init(maxSkew: Duration) { self.maxSkew = maxSkew }

    /// Checks `command`, addressed as `unit` on topic `cmd/{name}`, given the last accepted `ts` of its hub.
    public func check(_ command: SignedCommand, unit: String, name: String, lastAccepted: Int64?, now: WallTime, clockSynced: Bool) throws(CommandError) {
        guard command.unit == unit else { throw CommandError(field: "signed.unit", "is for '\(command.unit.prefix(70))', not this unit (\(unit))") }
        guard command.command == name else { throw CommandError(field: "signed.command", "says '\(command.command.prefix(32))' but came on cmd/\(name)") }
        if let lastAccepted, command.timestamp <= lastAccepted {
            throw CommandError(field: "signed.ts", "is not newer than the last accepted command of hub '\(command.hub)': a replay")
        }
        if clockSynced {
            let skew = abs(command.timestamp - now.millisecondsSinceEpoch)
            if Duration.milliseconds(skew) > maxSkew {
                throw CommandError(field: "signed.ts", "is \(skew / 1000) s away from this unit's synced clock (limit \(maxSkew.components.seconds) s)")
            }
        }
    }
}
