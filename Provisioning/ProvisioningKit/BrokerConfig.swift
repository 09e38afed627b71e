import Foundation

/// The district broker's mosquitto configuration, rendered from the inventory: one TLS listener
/// that requires a client certificate from the district CA, takes the certificate's common name
/// as the username, checks the CRL, and an ACL that confines every unit to its own topic root.
public enum BrokerConfig {
    /// Topics a unit may publish under its root (everything it sends, nothing else: no commands).
    static let unitWrites = ["status", "bell/+/alarm", "bell/+/state", "camera/+/health", "snapshot/+/+/+", "telemetry", "event", "selftest", "cmd/+/result", "rtt"]

    /// The ACL file.
    public static func acl(_ inventory: Inventory) -> String {
        var text = """
            # ParkGuard broker ACL for district \(inventory.district), rendered by parkguard-provision.
            # Do not edit: re-render with `parkguard-provision broker config` after every change.
            # Units write only under their own root and read only their own commands;
            # hubs read everything and alone publish commands. Revoked identities are absent
            # (and refused by the CRL before the ACL is consulted).

            """
        for entry in inventory.entries where entry.status == .active {
            switch entry.kind {
            case .unit:
                let root = "parkguard/v1/\(entry.id)"
                text += "\nuser \(entry.commonName)\n"
                for topic in unitWrites { text += "topic write \(root)/\(topic)\n" }
                text += "topic read \(root)/cmd/+\n"
            case .hub:
                text += "\nuser \(entry.commonName)\ntopic read parkguard/v1/#\ntopic write parkguard/v1/+/+/cmd/+\n"
            case .broker, .console:
                break
            }
        }
        return text
    }

    /// The broker configuration; paths are where the files will be on the broker.
    public static func mosquittoConf(port: Int, bind: String?, caFile: String, certFile: String, keyFile: String, crlFile: String,
                                     aclFile: String, persistence: String?) -> String {
        """
        # ParkGuard district broker, rendered by parkguard-provision.
        per_listener_settings true
        # Without it the broker's Nagle holds a small receipt until the unit's delayed ACK (~40 ms).
        set_tcp_nodelay true
        \(persistence.map { "persistence true\npersistence_location \($0)/" } ?? "persistence false")

        listener \(port)\(bind.map { " \($0)" } ?? "")
        protocol mqtt
        cafile \(caFile)
        certfile \(certFile)
        keyfile \(keyFile)
        crlfile \(crlFile)
        tls_version tlsv1.2
        require_certificate true
        use_identity_as_username true
        allow_anonymous false
        acl_file \(aclFile)

        """
    }
}
