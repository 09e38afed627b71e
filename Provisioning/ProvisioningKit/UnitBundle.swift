import Foundation

/// What a unit needs in `/etc/parkguard/`: its configuration filled in, the CA certificate, and
/// its certificate and key with the right permissions.
public enum UnitBundle {
    /// Writes the bundle into `directory` (created; must not already hold a bundle).
    /// - Parameter key: the unit's private key PEM (bundle flow), or nil when the key stays on the
    ///   unit (CSR flow: the bundle then carries no key, and the config points at the unit's own).
    public static func write(directory: String, site: String, unit: String, brokerHost: String, brokerPort: Int,
                             caPEM: String, certificatePEM: String, key: String?, etc: String = "/etc/parkguard") throws(ProvisionError) {
        if FileManager.default.fileExists(atPath: directory + "/agent.yaml") {
            throw ProvisionError(.cannotCreate, "\(directory) already holds a bundle; not overwriting it")
        }
        do { try FileManager.default.createDirectory(atPath: directory + "/tls", withIntermediateDirectories: true) } catch {
            throw ProvisionError(.cannotCreate, "\(directory): cannot create: \(error)")
        }
        let config = """
            # ParkGuard unit \(site)/\(unit), written by parkguard-provision unit bundle.
            # Fill in gpio, bells, cameras and outputs (see /usr/share/doc/parkguard or docs/configuration.md).
            site: \(site)
            unit: \(unit)
            broker:
              host: \(brokerHost)
              port: \(brokerPort)
              protocol: mqtt5
              tls:
                caFile: \(etc)/tls/ca.crt
                certFile: \(etc)/tls/unit.crt
                keyFile: \(etc)/tls/unit.key
                verifyHostname: true
            gpio:
              backend: gpiod
              board: raspberry-pi-4
            bells:
              - id: bell-1
                pin: 11

            """
        try AtomicFile.write(Data(config.utf8), to: directory + "/agent.yaml", mode: 0o640)
        try AtomicFile.write(Data(caPEM.utf8), to: directory + "/tls/ca.crt", mode: 0o644)
        try AtomicFile.write(Data(certificatePEM.utf8), to: directory + "/tls/unit.crt", mode: 0o644)
        if let key { try AtomicFile.create(Data(key.utf8), at: directory + "/tls/unit.key", mode: 0o600) }
    }
}
