import Crypto
import Foundation
import ParkGuardCore

/// The hub's side of signed commands (see ``SignedCommand``).
public enum HubSigner {
    /// The SPKI PEM of a private key, for the units' `commands.hubKeys`.
    public static func publicKeyPEM(privateKeyPEM: String) throws(ProvisionError) -> String {
        do { return try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM).publicKey.pemRepresentation } catch {
            throw ProvisionError(.dataError, "not a PEM P-256 private key: \(error)")
        }
    }

    /// A signed envelope for `command` to `unit` (`site/unit`).
    public static func envelope(privateKeyPEM: String, hub: String, unit: String, command: String, timestamp: Int64,
                                payload: String) throws(ProvisionError) -> String {
        let key: P256.Signing.PrivateKey
        do { key = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM) } catch {
            throw ProvisionError(.dataError, "not a PEM P-256 private key: \(error)")
        }
        let inner = SignedCommand.innerJSON(unit: unit, command: command, timestamp: timestamp, payload: payload)
        guard let signature = try? key.signature(for: inner) else { throw ProvisionError(.dataError, "cannot sign") }
        return SignedCommand.envelope(hub: hub, signed: inner, signature: Array(signature.derRepresentation))
    }
}
