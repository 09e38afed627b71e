#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FoundationEssentials
import Logging
import ParkGuardCore
import SystemCrypto

/// Opens signed commands: verifies the hub's ECDSA signature, the addressee, the command name and
/// freshness, and remembers the newest accepted timestamp of each hub on disk so that a replay
/// is refused even after a restart.
final class CommandAuthenticator: @unchecked Sendable {
    // @unchecked: used only from the MQTT session's one task; the mutable state is `lastAccepted`
    // (the writer queue gets copies).
    private let keys: [String: P256PublicKey]
    private let required: Set<String>
    private let freshness: CommandFreshness
    private let unit: String
    private let path: String
    private var lastAccepted: [String: Int64]
    private let clock: any AgentClock
    /// Where the counters are written: off the MQTT session's task, which runs on the unit's loop
    /// (a stalled disk must not hold the outputs), one write at a time, in order.
    private let writer = DispatchQueue(label: "parkguard.commands.replay")

    /// Loads the hub keys.
    /// - Throws: ``StartupError`` (exit 78) naming a missing or unreadable key file.
    init(config: CommandSecurityConfig, unit: String, stateDirectory: String, clock: any AgentClock) throws {
        var keys: [String: P256PublicKey] = [:]
        for (hub, file) in config.hubKeys {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw StartupError(code: .config, message: "commands.hubKeys \(hub): \(file) cannot be read")
            }
            do { keys[hub] = try P256PublicKey(pem: text) } catch {
                throw StartupError(code: .config, message: "commands.hubKeys \(hub): \(file) is not a PEM P-256 public key")
            }
        }
        self.keys = keys
        required = config.requireSignature
        freshness = CommandFreshness(maxSkew: config.maxSkew)
        self.unit = unit
        self.clock = clock
        path = stateDirectory + "/command-ts.json"
        lastAccepted = (FileManager.default.contents(atPath: path)).flatMap { try? JSONDecoder().decode([String: Int64].self, from: $0) } ?? [:]
    }

    /// Whether `payload` on `cmd/{name}` must be opened here.
    func applies(to name: String, payload: [UInt8]) -> Bool {
        required.contains(name) || (!keys.isEmpty && SignedCommand.isEnvelope(payload))
    }

    /// Whether receipts must be signed: wherever hub keys are configured, so that whoever can
    /// publish on this unit's command topic cannot retire its alarms with a forged receipt.
    var requiresSignedReceipts: Bool { !keys.isEmpty }

    /// The inner payload of a verified receipt. A receipt is idempotent (it can only retire
    /// alarms by their unique ids), so a replay is harmless: no freshness counter is kept for
    /// receipts, which also lets several hub instances sign them with one key.
    /// - Throws: ``CommandError`` naming what failed.
    func openReceipt(_ payload: [UInt8]) throws(CommandError) -> [UInt8] {
        guard SignedCommand.isEnvelope(payload) else {
            throw CommandError(field: "sig", "receipts must be signed by the hub on this unit (commands.hubKeys is set)")
        }
        let command = try SignedCommand.parse(payload, maxBytes: Receipt.maxPayloadBytes * 2)
        guard let key = keys[command.hub] else { throw CommandError(field: "hub", "'\(command.hub)' is not a hub this unit knows") }
        guard key.isValidSignature(der: command.signature, for: command.signedBytes) else {
            throw CommandError(field: "sig", "does not verify with hub '\(command.hub)''s key")
        }
        guard command.unit == unit else { throw CommandError(field: "signed.unit", "is for '\(command.unit.prefix(70))', not this unit (\(unit))") }
        guard command.command == "receipt" else { throw CommandError(field: "signed.command", "says '\(command.command.prefix(32))' but came on cmd/receipt") }
        return command.payload
    }

    /// The inner payload of a verified command.
    /// - Throws: ``CommandError`` naming what failed; nothing is recorded then.
    func open(name: String, payload: [UInt8]) throws(CommandError) -> [UInt8] {
        guard SignedCommand.isEnvelope(payload) else {
            throw CommandError(field: "sig", "'\(name)' must be signed by the hub on this unit (commands.requireSignature)")
        }
        let command = try SignedCommand.parse(payload)
        guard let key = keys[command.hub] else { throw CommandError(field: "hub", "'\(command.hub)' is not a hub this unit knows") }
        guard key.isValidSignature(der: command.signature, for: command.signedBytes) else {
            throw CommandError(field: "sig", "does not verify with hub '\(command.hub)''s key")
        }
        let stamp = clock.stamp()
        try freshness.check(command, unit: unit, name: name, lastAccepted: lastAccepted[command.hub], now: stamp.wall,
                            clockSynced: stamp.clockSynced)
        lastAccepted[command.hub] = command.timestamp
        // Written durably in the background. A failed write is not fatal: the in-memory counter
        // still refuses replays until the next restart.
        if let data = try? JSONEncoder().encode(lastAccepted) {
            let bytes = [UInt8](data)
            writer.async { [path] in try? DurableFile.replace(path: path, with: bytes) }
        }
        return command.payload
    }
}
